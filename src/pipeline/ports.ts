/**
 * The storage the pipeline needs, as the pipeline sees it. src/db implements these for
 * bun:sqlite; the pipeline never knows which implementation runs. Every method of a repository
 * runs inside a `CommitWriter` job, so in the writer's transaction.
 */
import type { CanonicalEvent, IdentityConflict } from "./model";

/** The events table: dedupe by (tenant, messageId) and insert. */
export interface EventRepository {
  exists(tenantId: string, messageId: string): boolean;
  /** Stores the event; answers its event id (ids grow with every insert). */
  insert(tenantId: string, event: CanonicalEvent, ids: { visitorId: string; sessionId: string; leadId: string | null }, schemaVersion: string | null): number;
}

export interface VisitorRef {
  id: string;
  /** The lead this visitor is linked to now; identity resolution updates it in place. */
  leadId: string | null;
}

/** Visitors, one per tenant and anonymousId (or userId); may cache. */
export interface VisitorRepository {
  /** The event's visitor, created or updated when needed; `created` when this event made it. */
  touch(tenantId: string, event: CanonicalEvent): { visitor: VisitorRef; created: boolean };
  /** Forget cached visitors (after a rollback or a change to many visitors' leads). */
  clear(): void;
}

export interface IdentityOutcome {
  leadId: string | null;
  created?: boolean;
  /** Set when the call would have merged two identified leads and the rules kept them apart. */
  conflict?: IdentityConflict;
}

/** What the identity rules may believe of a call. */
export interface CallTrust {
  /** A server key sent it: it may merge two leads that each have their own userId. */
  serverSide: boolean;
}

/** Identity resolution and the identity links: which lead an event belongs to (rules: identity.ts). */
export interface IdentityStep {
  resolve(tenantId: string, event: CanonicalEvent, visitor: VisitorRef, trust: CallTrust): IdentityOutcome;
}

/** A lead as the identity rules see it. */
export interface LeadRow {
  id: string;
  userId: string | null;
  email: string | null;
  traits: Record<string, unknown>;
  /** When each trait was last set (ms), so that an older identify does not overwrite a newer one. */
  traitTimes: Record<string, number>;
  groupId: string | null;
  createdAt: number;
  mergedInto: string | null;
}

/** A value now (SQLite) or later (PostgreSQL). */
export type Answer<T> = T | Promise<T>;

/**
 * The lookups and updates the identity rules (src/pipeline/identity.ts) run on, in the writer's
 * transaction. Lookups by id answer the row as stored (merged or not); by email, the live lead.
 */
export interface IdentityRows {
  leadById(tenantId: string, id: string): Answer<LeadRow | undefined>;
  leadByUserId(tenantId: string, userId: string): Answer<LeadRow | undefined>;
  /** The live (not merged) lead known by this email, the oldest if several. */
  leadByEmail(tenantId: string, email: string): Answer<LeadRow | undefined>;
  /** Stores a new lead as given (its traits included), created at `lead.createdAt`, updated at `updatedAt`. */
  insertLead(tenantId: string, lead: LeadRow, updatedAt: number): Answer<void>;
  /** `email` undefined: unchanged. */
  saveLead(
    tenantId: string,
    id: string,
    change: { traits: Record<string, unknown>; traitTimes: Record<string, number>; email: string | null | undefined; at: number },
  ): Answer<void>;
  setLeadUserId(tenantId: string, id: string, userId: string): Answer<void>;
  setGroup(tenantId: string, id: string, groupId: string, at: number): Answer<void>;
  visitorByKey(tenantId: string, key: string): Answer<VisitorRef | undefined>;
  markMerged(tenantId: string, absorbedId: string, survivorId: string, at: number): Answer<void>;
  insertMerge(merge: { tenantId: string; fromLeadId: string; intoLeadId: string; reason: string; messageId: string; mergedAt: number }): Answer<void>;
  /** Identity links, visitors, events and sessions of `fromLeadId` become `toLeadId`'s. */
  repointLead(tenantId: string, fromLeadId: string, toLeadId: string): Answer<void>;
  /**
   * Links the visitor to the lead from `at` on: closes its open link (when it had a lead), adds
   * the new link, sets the visitor's lead, and gives its sessions without a lead to this one.
   */
  link(change: { tenantId: string; visitorId: string; leadId: string; previousLeadId: string | null; messageId: string; at: number }): Answer<void>;
}

/** A session row's moving numbers. */
export interface SessionRow {
  id: string;
  startedAt: number;
  lastEventAt: number;
  eventCount: number;
  anonymousEvents: number;
  /** The highest event id the numbers include. */
  countedThrough: number;
}

/** A new session's row, written with its first event. */
export interface NewSessionRow {
  id: string;
  tenantId: string;
  visitorId: string;
  at: number;
  anonymousEvents: number;
  eventId: number;
  leadId: string | null;
  landingPage: string | null;
  referrer: string | null;
  campaign: string | null;
  channel: string | null;
}

/** The sessions table and the point below which every session row is complete. */
export interface SessionRepository {
  /** The visitor's latest session. */
  latest(tenantId: string, visitorId: string): SessionRow | undefined;
  /** The visitor's latest session that started before `upper` and last saw an event after `lower`. */
  covering(tenantId: string, visitorId: string, lower: number, upper: number): SessionRow | undefined;
  insert(row: NewSessionRow): void;
  update(row: SessionRow): void;
  /** Every session row is complete below this event id. */
  watermark(): number;
  setWatermark(eventId: number): void;
  /** Counts the events above `from` that their session rows lack into them; answers the highest event id. */
  recount(from: number): number;
}

/**
 * What a module keeps in memory beside the database, and how it keeps it right. The writer calls
 * these inside its transaction (see src/pipeline/sessions).
 */
/** Why the writer runs deferred work after a commit's jobs (see WriterHooks.deferred.after). */
export type DeferredMode = "busy" | "idle" | "closing";

export interface WriterHooks {
  /** A transaction was rolled back: drop cached state the database lacks. */
  onRollback(): void;
  /** One job's savepoint was rolled back, before the next job runs (throwing fails the transaction). */
  onJobRolledBack(): void;
  /** Deferred work sharing the writer's transactions: `before` ahead of the jobs, `after` behind them. */
  deferred: {
    before(): void;
    /**
     * `busy`: requests wait on this commit, do what is due, briefly; `idle`: the writer has been
     * quiet a moment, do more (requests arriving meanwhile wait on it too); `closing`: do it all.
     */
    after(mode: DeferredMode): void;
    /** Whether an idle run is wanted. */
    pending(): boolean;
  };
}

/**
 * The group commit: `work` (synchronous storage work) runs in the next transaction; the promise
 * settles after the COMMIT. Rejects with StorageBusyError or StorageFaultError (src/pipeline/errors.ts).
 */
export interface CommitWriter {
  /** `weight`: the events it writes (the queue's bound); `owner`: the tenant, whose share of the queue is bounded too. */
  submit<T>(weight: number, work: () => T, owner?: string): Promise<T>;
  readonly queuedEvents: number;
  readonly stats: { readonly lastCommitJobs: number };
}

/**
 * Suppressed people (src/modules/privacy): an event carrying one of their identifiers is not
 * stored. Asked in the writer's transaction, so a suppression committed before a call's commit
 * applies to it; answered from memory.
 */
export interface SuppressionCheck {
  suppressed(tenantId: string, event: CanonicalEvent): boolean;
}

/** A visitor as a batched store holds it for one commit. */
export interface StoredVisitor extends VisitorRef {
  firstSeenAt: number;
  lastSeenAt: number;
  userId: string | null;
}

/** A new visitor row. */
export interface NewVisitorRow {
  tenantId: string;
  id: string;
  key: string;
  anonymousId: string | null;
  userId: string | null;
  firstSeenAt: number;
  lastSeenAt: number;
}

/** What a commit changes in an existing visitor's row (first seen earlier, last seen later, a userId). */
export interface VisitorChange {
  tenantId: string;
  id: string;
  firstSeenAt: number;
  lastSeenAt: number;
  userId: string | null;
}

/** An event row, as the batched store inserts it. */
export interface EventRow {
  tenantId: string;
  event: CanonicalEvent;
  visitorId: string;
  sessionId: string;
  leadId: string | null;
  schemaVersion: string | null;
}

/** What a commit adds to an existing session: counts as increments, times as bounds. */
export interface SessionIncrement {
  tenantId: string;
  id: string;
  events: number;
  anonymousEvents: number;
  startedAt: number;
  lastEventAt: number;
}

/** Rows written together, table by table, in one round of statements. */
export interface PendingWrites {
  visitors: NewVisitorRow[];
  visitorChanges: VisitorChange[];
  sessions: Omit<NewSessionRow, "eventId">[];
  events: EventRow[];
  sessionIncrements: SessionIncrement[];
}

/** A key a commit locks (until it ends) before it reads: a visitor, a messageId, a person's userId or email. */
export interface LockKey {
  tenantId: string;
  kind: "visitor" | "message" | "user" | "email";
  value: string;
}

/**
 * One transaction of a batched store (PostgreSQL), shared by several instances: the commit locks
 * what it is about to decide on, reads for all its events at once, and writes each table once.
 */
export interface BatchTransaction {
  /**
   * Takes the keys' locks, in one order every instance uses (no deadlocks), held until the end.
   * The transaction's statements run in the order they are called: reads called right after it,
   * without waiting for it, run once the locks are held.
   */
  lock(keys: LockKey[]): Promise<void>;
  /** Of these (tenant, messageId) pairs, the ones stored already, as `${tenantId}\n${messageId}`. */
  storedMessageIds(pairs: { tenantId: string; messageId: string }[]): Promise<Set<string>>;
  /** Existing visitors by `${tenantId}\n${key}`, each with its latest session (by last event) when it has one. */
  visitors(pairs: { tenantId: string; key: string }[]): Promise<Map<string, StoredVisitor & { latest?: SessionRow }>>;
  /** The visitor's latest session that started before `upper` and last saw an event after `lower`. */
  covering(tenantId: string, visitorId: string, lower: number, upper: number): Promise<SessionRow | undefined>;
  write(writes: PendingWrites): Promise<void>;
  /** The identity rules' lookups and updates, in this transaction. */
  readonly identity: IdentityRows;
  commit(): Promise<void>;
  /** Ends the transaction without its changes (safe to call after a failure). */
  rollback(): Promise<void>;
}

export interface BatchStore {
  begin(): Promise<BatchTransaction>;
}
