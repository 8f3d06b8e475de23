/**
 * What the privacy work (src/modules/privacy) needs of a store: the suppressions to load into
 * memory (both stores), and on PostgreSQL the person, the erasure in bounded transactions and
 * the audit records. Implemented in src/db/sqlite/privacy.ts and src/db/postgres/privacy.ts.
 */
import type { NotifyHandle } from "./change-feed";

/** Every suppression's identifier hashes, with the salts of the tenants that have them. */
export interface SuppressionSnapshot {
  salts: Map<string, string>;
  rows: { id: string; tenantId: string; identifiers: string[] }[];
}

/** Where the in-memory suppression list reads the table (SQLite at once, PostgreSQL asynchronously). */
export interface SuppressionSource {
  load(): SuppressionSnapshot | Promise<SuppressionSnapshot>;
}

export interface SuppressionRecord {
  id: string;
  tenantId: string;
  subjectHash: string;
  subjectKinds: string;
  identifiers: string[];
  keyId: string | null;
  keyPrefix: string | null;
  createdAt: number;
}

export interface DeletionRecord {
  id: string;
  tenantId: string;
  subjectHash: string;
  subjectKinds: string;
  keyId: string | null;
  keyPrefix: string | null;
  suppressionId: string | null;
  events: number;
  sessions: number;
  visitors: number;
  leads: number;
  walTruncated: boolean;
  requestedAt: number;
  finishedAt: number;
}

/** The identifiers a deletion starts from (trimmed; an email normalized). */
export interface PersonSubject {
  userId?: string;
  email?: string;
  anonymousId?: string;
}

/** A person as identity resolution sees it; the sets only grow while a deletion runs. */
export interface Person {
  leads: Set<string>;
  visitors: Set<string>;
  /** The visitors' keys (anonymousId, or `user:<userId>`): what ingestion locks a visitor by. */
  visitorKeys: Set<string>;
  sessions: Set<string>;
  userIds: Set<string>;
  emails: Set<string>;
  anonymousIds: Set<string>;
}

export interface ErasedRest {
  events: number;
  sessions: number;
  visitors: number;
  leads: number;
}

/**
 * Erasure and the privacy records on a store whose transactions are its own (PostgreSQL): each
 * method is one short transaction, holding the locks ingestion takes for the person's visitors,
 * userIds and emails, so a concurrent commit for the person waits instead of recreating half of it.
 */
export interface ErasureStore {
  /** The tenant's salt, set to `made` when it had none (the first one set wins); undefined: no such tenant. */
  salt(tenantId: string, made: string): Promise<string | undefined>;
  keyPrefix(keyId: string): Promise<string | null>;
  /** The person the subject names, added to `into` when given; `grew`: that added something. */
  resolve(tenantId: string, subject: PersonSubject, into?: Person): Promise<Person & { grew: boolean }>;
  /** The highest event id stored (0: none). */
  lastEventId(): Promise<number>;
  /** Deletes the person's events with `after < id <= upTo` (their visitors and sessions join the person); answers how many. */
  eraseEvents(tenantId: string, person: Person, after: number, upTo: number): Promise<number>;
  /**
   * The last transaction: resolves the person again under its locks; when it grew (and `final` is
   * false) answers null and deletes nothing. Otherwise deletes the events after `after`, then the
   * sessions, visitors, identity links, merges and leads.
   */
  eraseRest(tenantId: string, subject: PersonSubject, person: Person, after: number, final: boolean): Promise<ErasedRest | null>;
  insertDeletion(record: DeletionRecord): Promise<void>;
  deletion(tenantId: string, id: string): Promise<DeletionRecord | null>;
  /** Newest first. */
  deletions(tenantId: string): Promise<DeletionRecord[]>;
  /** Newest first. */
  suppressions(tenantId: string): Promise<SuppressionRecord[]>;
  /**
   * Stores a suppression, or adds the identifiers to the one of the same subject; answers it.
   * `announce` runs in the same transaction (the change is published when it commits).
   */
  saveSuppression(record: SuppressionRecord, announce: (via: NotifyHandle, id: string) => Promise<void>): Promise<SuppressionRecord>;
  /** False when there was no such suppression. */
  removeSuppression(tenantId: string, id: string, announce: (via: NotifyHandle) => Promise<void>): Promise<boolean>;
  /** The tenant's settings (JSON text); null: no such tenant. */
  settingsOf(tenantId: string): Promise<string | null>;
  /** The stored `context.ip` of the tenant's events with `after < id <= upTo` that have one. */
  eventIps(tenantId: string, after: number, upTo: number): Promise<{ id: number; ip: unknown }[]>;
  /** Sets each event's `context.ip` (removes it where `ip` is undefined), in one transaction. */
  setEventIps(tenantId: string, changes: { id: number; ip: string | undefined }[]): Promise<void>;
}

/**
 * Retention on a store shared by several instances (PostgreSQL): each method deletes at most
 * `limit` rows in one short transaction, holding ingestion's locks for the visitors, userIds and
 * emails it removes, and answers how many rows matched (the caller stops below `limit`) and how
 * many it deleted (a row changed meanwhile is kept).
 */
export interface RetentionStore {
  /** Every tenant with its settings (JSON text). */
  tenantSettings(): Promise<{ id: string; settings: string }[]>;
  /** Runs `work` unless another instance is running it; answers null then. */
  alone<T>(work: () => Promise<T>): Promise<T | null>;
  oldEvents(tenantId: string, before: number, limit: number): Promise<Swept>;
  /** Sessions whose last event is before `before`. */
  endedSessions(tenantId: string, before: number, limit: number): Promise<Swept>;
  /** Visitors last seen before `before`, with their identity links. */
  idleVisitors(tenantId: string, before: number, limit: number): Promise<Swept>;
  /** Leads not updated since `before` with no link, event or session left (and their merge records). */
  lonelyLeads(tenantId: string, before: number, limit: number): Promise<Swept>;
}

export interface Swept {
  matched: number;
  deleted: number;
}
