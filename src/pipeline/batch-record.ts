/**
 * The writer step for a store shared by several instances (PostgreSQL): requests queue, and each
 * commit takes every request waiting, then, in one transaction:
 *
 *   lock (sorted: visitors, messageIds, userIds, emails) → read for all events at once (stored
 *   messageIds, visitors, their latest sessions) → run each event's steps in memory, in order
 *   (dedupe → visitor → session → identity → event row → count in session) → write each table
 *   once (new visitors, new sessions, events, session counts as increments) → COMMIT
 *
 * The locks make the decisions the same whichever instance takes a call: a messageId is stored
 * once, a visitor's events form the sessions one instance alone would form, and one user or email
 * makes one lead. Identity rules (./identity.ts) are the same as SQLite's; before a call that may
 * change identity, the rows written so far are flushed, so the rules see what SQLite would see.
 * Nothing is cached across commits: another instance may have changed it.
 */
import { type Span, stepUnder } from "../observability/tracing";
import { StorageBusyError, StorageConflictError, StorageError } from "./errors";
import { CommitHold, QueueBound } from "./queue-bound";
import { IdentityResolver } from "./identity";
import { type CanonicalEvent, LAST_SEEN_RESOLUTION_MS, type Outcome, type TenantAuth, visitorKey } from "./model";
import { normalizeEmail } from "../lib/email";
import type { BatchStore, BatchTransaction, IdentityOutcome, LockKey, PendingWrites, SessionRow, StoredVisitor, SuppressionCheck } from "./ports";
import type { Recorder } from "./record";
import { TRACED_EVENTS_PER_REQUEST, withWarnings } from "./record";
import { covers, fresh, type SessionSpan } from "./sessions/assignment";
import { landing } from "./sessions/write-behind";

interface Job {
  auth: TenantAuth;
  events: readonly CanonicalEvent[];
  schemaVersion: string | null;
  /** The request's commit span, when traced: session and identity steps run under it. */
  span: Span | undefined;
  /** When it was queued (performance.now()). */
  queuedAt: number;
  resolve: (outcomes: Outcome[]) => void;
  reject: (error: unknown) => void;
}

export interface BatchRecorderOptions {
  /** Events waiting for a commit above which requests are refused (503, Retry-After). */
  maxQueuedEvents: number;
  /** The most one tenant may have queued. */
  maxTenantEvents: number;
  sessionTimeoutMs: number;
  /** Commits in flight at once (each on its own connection). */
  concurrentCommits?: number;
  suppression?: SuppressionCheck;
  onCommit?: (jobs: number, ms: number) => void;
}

/** The most events one commit takes: a commit holds its locks until it ends, so it stays short. */
const EVENTS_PER_COMMIT = 5_000;
/**
 * A further commit starts beside those in flight only with this many events to take, or once the
 * oldest request waiting has waited FURTHER_COMMIT_AFTER_MS: a small commit pays a transaction's
 * fixed cost (its statements, planning, fsync) for a few events and waits for the locks of the
 * commits it overlaps (measured: a third less CPU per tracked event, a lower p99). The wait bound
 * keeps a commit that is stuck (on another instance's locks) from holding back everyone else.
 */
const EVENTS_FOR_A_FURTHER_COMMIT = 500;
const FURTHER_COMMIT_AFTER_MS = 10;

/** A commit that lost a deadlock to another instance is run again this many times. */
const CONFLICT_RETRIES = 3;

export class BatchRecorder implements Recorder {
  private queue: Job[] = [];
  private readonly bound: QueueBound;
  private inFlight = 0;
  private readonly running = new Set<Promise<void>>();
  private scheduled = false;
  private recheck: ReturnType<typeof setTimeout> | undefined;
  private closed = false;
  private readonly hold = new CommitHold(() => {
    if (this.queue.length > 0) this.schedule();
  });
  lastCommitJobs = 0;

  constructor(
    private readonly store: BatchStore,
    private readonly options: BatchRecorderOptions,
  ) {
    this.bound = new QueueBound(options.maxQueuedEvents, options.maxTenantEvents);
  }

  get queuedEvents(): number {
    return this.bound.queued;
  }

  record(auth: TenantAuth, events: readonly CanonicalEvent[], schemaVersion: string | null, span: Span | undefined): Promise<Outcome[]> {
    if (this.closed) return Promise.reject(new StorageBusyError("The server is shutting down.", 5));
    const refused = this.bound.admit(events.length, auth.tenantId, this.queue.length === 0);
    if (refused) return Promise.reject(refused);
    return new Promise<Outcome[]>((resolve, reject) => {
      this.queue.push({ auth, events, schemaVersion, span, queuedAt: performance.now(), resolve, reject });
      this.schedule();
    });
  }

  /**
   * Holds commits until the returned function is called, as SQLite's writer does (requests keep
   * queueing, within the same bound), so that a test fills the queue in a known state. Closing
   * commits regardless.
   */
  pauseCommits(): () => void {
    return this.hold.take();
  }

  /** Stops taking requests and waits for the commits in flight and those queued. */
  async close(): Promise<void> {
    this.closed = true;
    while (this.queue.length > 0 || this.running.size > 0) {
      this.startCommits();
      await Promise.allSettled([...this.running]);
    }
  }

  /** Looks at the queue again in `ms` (one timer at a time), for a further commit (see FURTHER_COMMIT_AFTER_MS). */
  private recheckIn(ms: number): void {
    if (this.recheck) return;
    this.recheck = setTimeout(() => {
      this.recheck = undefined;
      this.startCommits();
    }, ms);
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    // One turn later: the requests of this turn share the commit.
    setImmediate(() => {
      this.scheduled = false;
      this.startCommits();
    });
  }

  private startCommits(): void {
    if (this.hold.held && !this.closed) return; // the release schedules the next commit
    while (this.queue.length > 0 && this.inFlight < (this.options.concurrentCommits ?? 2)) {
      if (this.inFlight > 0 && !this.closed && this.bound.queued < EVENTS_FOR_A_FURTHER_COMMIT) {
        const waited = performance.now() - this.queue[0]!.queuedAt;
        if (waited < FURTHER_COMMIT_AFTER_MS) {
          this.recheckIn(FURTHER_COMMIT_AFTER_MS - waited);
          return;
        }
      }
      const jobs = this.take();
      this.inFlight++;
      const started = performance.now();
      const done = this.commit(jobs).finally(() => {
        this.inFlight--;
        this.running.delete(done);
        this.options.onCommit?.(jobs.length, performance.now() - started);
        if (this.queue.length > 0) this.schedule();
      });
      this.running.add(done);
    }
  }

  /** The next commit's requests: everything queued, up to EVENTS_PER_COMMIT (at least one request). */
  private take(): Job[] {
    let events = 0;
    let n = 0;
    while (n < this.queue.length && (n === 0 || events + this.queue[n]!.events.length <= EVENTS_PER_COMMIT)) events += this.queue[n++]!.events.length;
    const jobs = this.queue.splice(0, n);
    for (const job of jobs) this.bound.remove(job.events.length, job.auth.tenantId);
    return jobs;
  }

  private async commit(jobs: Job[]): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      let tx: BatchTransaction | undefined;
      try {
        tx = await this.store.begin();
        const outcomes = await new CommitRun(tx, jobs, this.options).run();
        await tx.commit();
        this.lastCommitJobs = jobs.length;
        for (let i = 0; i < jobs.length; i++) jobs[i]!.resolve(outcomes[i]!);
        return;
      } catch (error) {
        await tx?.rollback();
        if (error instanceof StorageConflictError && attempt < CONFLICT_RETRIES) continue;
        // One request's failure is its own (as SQLite's savepoints make it): the others are
        // committed again, each alone, in order. Not when no transaction began (the store is
        // down), nor for a timeout or a lost connection: each retry would wait as long again.
        if (tx && jobs.length > 1 && !(error instanceof StorageError)) {
          for (const job of jobs) await this.commit([job]);
          return;
        }
        for (const job of jobs) job.reject(error);
        return;
      }
    }
  }
}

/** A session as one commit holds it. */
interface CommitSpan extends SessionSpan {
  tenantId: string;
}

/** One commit's work: its state lives as long as the transaction, since other instances write too. */
class CommitRun {
  private readonly pending: PendingWrites = { visitors: [], visitorChanges: [], sessions: [], events: [], sessionIncrements: [] };
  private readonly increments = new Map<string, PendingWrites["sessionIncrements"][number]>();
  private readonly visitorChanges = new Map<string, PendingWrites["visitorChanges"][number]>();
  /** Visitors created in this commit whose rows are not written yet. */
  private readonly unwrittenVisitors = new Map<string, PendingWrites["visitors"][number]>();
  private readonly identity: IdentityResolver;
  /** Set when identity rules re-linked visitors other than the event's (alias, merges): their leads are read again. */
  private visitorsRelinked = false;

  constructor(
    private readonly tx: BatchTransaction,
    private readonly jobs: Job[],
    private readonly options: BatchRecorderOptions,
  ) {
    this.identity = new IdentityResolver(tx.identity, () => {
      this.visitorsRelinked = true;
    });
  }

  async run(): Promise<Outcome[][]> {
    const { jobs, tx } = this;
    const outcomes: Outcome[][] = jobs.map((job) => new Array(job.events.length));
    const live: { job: number; index: number; event: CanonicalEvent; tenantId: string }[] = [];
    for (let j = 0; j < jobs.length; j++) {
      const { auth, events } = jobs[j]!;
      for (let i = 0; i < events.length; i++) {
        const event = events[i]!;
        if (this.options.suppression?.suppressed(auth.tenantId, event)) outcomes[j]![i] = { messageId: event.messageId, status: "suppressed" };
        else live.push({ job: j, index: i, event, tenantId: auth.tenantId });
      }
    }
    if (live.length === 0) return outcomes;

    // Sent together, answered in order: the store runs the reads once the locks are taken, and the
    // locks are held for one round trip fewer (commits that share a visitor wait for each other).
    const [, stored, visitors] = await Promise.all([
      tx.lock(lockKeys(live)),
      tx.storedMessageIds(live.map(({ tenantId, event }) => ({ tenantId, messageId: event.messageId }))),
      tx.visitors(
        unique(
          live.map(({ tenantId, event }) => ({ tenantId, key: visitorKey(event) })),
          (v) => `${v.tenantId}\n${v.key}`,
        ),
      ),
    ]);
    const latestRows = new Map<string, SessionRow>();
    for (const visitor of visitors.values()) if (visitor.latest) latestRows.set(visitor.id, visitor.latest);
    const latest = new Map<string, CommitSpan>();
    const spans = new Map<string, CommitSpan>();
    const seen = new Set<string>();

    for (const { job, index, event, tenantId } of live) {
      const auth = jobs[job]!.auth;
      const messageKey = `${tenantId}\n${event.messageId}`;
      if (stored.has(messageKey) || seen.has(messageKey)) {
        outcomes[job]![index] = withWarnings({ messageId: event.messageId, status: "duplicate" }, event);
        continue;
      }
      seen.add(messageKey);
      const visitor = this.touch(visitors, tenantId, event);
      const traced = index < TRACED_EVENTS_PER_REQUEST ? jobs[job]!.span : undefined;
      const assigned = stepUnder(traced, "session", () => this.assign(tenantId, visitor.id, event, latest, latestRows, spans));
      // Awaited only when it had to read (a late event): most events cost no turn of the event loop.
      const session = assigned instanceof Promise ? await assigned : assigned;
      const resolved = stepUnder(traced, "identity", (): IdentityOutcome | Promise<IdentityOutcome> => {
        if (IdentityResolver.writes(event)) return this.flush().then(() => this.identity.resolveAsync(tenantId, event, visitor, auth));
        if (visitor.leadId === null && event.userId !== undefined) return this.identity.resolveAsync(tenantId, event, visitor, auth);
        // A call that neither changes identity nor has a userId to look up carries its visitor's lead.
        return { leadId: visitor.leadId };
      });
      const lead = resolved instanceof Promise ? await resolved : resolved;
      if (this.visitorsRelinked) await this.reloadLeads(visitors);
      this.pending.events.push({ tenantId, event, visitorId: visitor.id, sessionId: session.id, leadId: lead.leadId, schemaVersion: jobs[job]!.schemaVersion });
      this.count(tenantId, visitor.id, session, event, lead.leadId === null, visitor.leadId);
      const outcome: Outcome = { messageId: event.messageId, status: "accepted", leadId: lead.leadId, created: lead.created };
      if (lead.conflict) outcome.identityConflict = lead.conflict;
      outcomes[job]![index] = withWarnings(outcome, event);
    }
    await this.flush();
    return outcomes;
  }

  /** Reads again the leads of the visitors this commit holds (identity rules re-linked some). */
  private async reloadLeads(visitors: Map<string, StoredVisitor>): Promise<void> {
    this.visitorsRelinked = false;
    await this.flush();
    const pairs = [...visitors.keys()].map((key) => ({ tenantId: key.slice(0, key.indexOf("\n")), key: key.slice(key.indexOf("\n") + 1) }));
    const now = await this.tx.visitors(pairs);
    for (const [key, visitor] of visitors) visitor.leadId = now.get(key)?.leadId ?? visitor.leadId;
  }

  /** The event's visitor: found, or created in this commit; first/last seen and userId moved as SQLite moves them. */
  private touch(visitors: Map<string, StoredVisitor>, tenantId: string, event: CanonicalEvent): StoredVisitor {
    const key = visitorKey(event);
    const mapKey = `${tenantId}\n${key}`;
    const userId = event.userId ?? null;
    let visitor = visitors.get(mapKey);
    if (!visitor) {
      visitor = { id: Bun.randomUUIDv7(), leadId: null, firstSeenAt: event.timestamp, lastSeenAt: event.timestamp, userId };
      visitors.set(mapKey, visitor);
      const row = { tenantId, id: visitor.id, key, anonymousId: event.anonymousId ?? null, userId, firstSeenAt: event.timestamp, lastSeenAt: event.timestamp };
      this.pending.visitors.push(row);
      this.unwrittenVisitors.set(visitor.id, row);
      return visitor;
    }
    const earlier = event.timestamp < visitor.firstSeenAt;
    const later = event.timestamp >= visitor.lastSeenAt + LAST_SEEN_RESOLUTION_MS;
    const newUser = userId !== null && userId !== visitor.userId;
    if (!earlier && !later && !newUser) return visitor;
    if (earlier) visitor.firstSeenAt = event.timestamp;
    if (later) visitor.lastSeenAt = event.timestamp;
    if (newUser) visitor.userId = userId;
    const moved = { firstSeenAt: visitor.firstSeenAt, lastSeenAt: visitor.lastSeenAt, userId: visitor.userId };
    // A row not written yet goes in with the latest numbers; a stored one gets one change per flush.
    const target = this.unwrittenVisitors.get(visitor.id) ?? this.visitorChanges.get(visitor.id);
    if (target) Object.assign(target, moved);
    else {
      const change = { tenantId, id: visitor.id, ...moved };
      this.visitorChanges.set(visitor.id, change);
      this.pending.visitorChanges.push(change);
    }
    return visitor;
  }

  /** Session assignment (./sessions/assignment.ts rules) against the rows read under the visitor's lock. */
  private assign(
    tenantId: string,
    visitorId: string,
    event: CanonicalEvent,
    latest: Map<string, CommitSpan>,
    latestRows: Map<string, SessionRow>,
    spans: Map<string, CommitSpan>,
  ): CommitSpan | Promise<CommitSpan> {
    const at = event.timestamp;
    const timeout = this.options.sessionTimeoutMs;
    let current = latest.get(visitorId);
    if (!current) {
      const row = latestRows.get(visitorId);
      if (row) {
        current = spans.get(row.id) ?? { ...loadSpan(row), tenantId };
        spans.set(row.id, current);
        latest.set(visitorId, current);
      }
    }
    if (current && covers(current, at, timeout)) return current;
    if (current && at < current.startedAt) return this.lateSession(tenantId, visitorId, at, spans);
    const started = { ...fresh(at), tenantId };
    latest.set(visitorId, started);
    spans.set(started.id, started);
    return started;
  }

  /** A late event's session: the older one covering it, read with this commit's rows written first, or a new one. */
  private async lateSession(tenantId: string, visitorId: string, at: number, spans: Map<string, CommitSpan>): Promise<CommitSpan> {
    const timeout = this.options.sessionTimeoutMs;
    await this.flush();
    const row = await this.tx.covering(tenantId, visitorId, at - timeout, at + timeout);
    if (!row) return { ...fresh(at), tenantId };
    const older = spans.get(row.id) ?? { ...loadSpan(row), tenantId };
    spans.set(row.id, older);
    return older;
  }

  /** Counts the event in its session: a new session's row, or increments to an existing one. */
  private count(tenantId: string, visitorId: string, span: CommitSpan, event: CanonicalEvent, anonymous: boolean, leadId: string | null): void {
    const at = event.timestamp;
    if (!span.stored) {
      span.stored = true;
      span.eventCount = 1;
      span.anonymousEvents = anonymous ? 1 : 0;
      this.pending.sessions.push({ id: span.id, tenantId, visitorId, at, anonymousEvents: span.anonymousEvents, leadId, ...landing(event.context) });
      return;
    }
    if (at < span.startedAt) span.startedAt = at;
    if (at > span.lastEventAt) span.lastEventAt = at;
    span.eventCount++;
    if (anonymous) span.anonymousEvents++;
    let increment = this.increments.get(span.id);
    if (!increment) {
      increment = { tenantId, id: span.id, events: 0, anonymousEvents: 0, startedAt: at, lastEventAt: at };
      this.increments.set(span.id, increment);
      this.pending.sessionIncrements.push(increment);
    }
    increment.events++;
    if (anonymous) increment.anonymousEvents++;
    increment.startedAt = Math.min(increment.startedAt, at);
    increment.lastEventAt = Math.max(increment.lastEventAt, at);
  }

  /** Writes what this commit holds so far, table by table. */
  private async flush(): Promise<void> {
    const p = this.pending;
    if (p.visitors.length + p.visitorChanges.length + p.sessions.length + p.events.length + p.sessionIncrements.length === 0) return;
    await this.tx.write({ ...p });
    p.visitors = [];
    p.visitorChanges = [];
    p.sessions = [];
    p.events = [];
    p.sessionIncrements = [];
    this.increments.clear();
    this.visitorChanges.clear();
    this.unwrittenVisitors.clear();
  }
}

function loadSpan(row: SessionRow): SessionSpan {
  return { ...row, stored: true, cached: false, dirtySince: 0, firstUnwritten: 0 };
}

function unique<T>(items: T[], key: (item: T) => string): T[] {
  const seen = new Map<string, T>();
  for (const item of items) {
    const k = key(item);
    if (!seen.has(k)) seen.set(k, item);
  }
  return [...seen.values()];
}

/** What a commit locks: every event's visitor and messageId; for identity calls, the person's userId, email and aliased id. */
function lockKeys(live: { event: CanonicalEvent; tenantId: string }[]): LockKey[] {
  const keys: LockKey[] = [];
  for (const { event, tenantId } of live) {
    keys.push({ tenantId, kind: "visitor", value: visitorKey(event) }, { tenantId, kind: "message", value: event.messageId });
    if (!IdentityResolver.writes(event)) continue;
    if (event.userId !== undefined) keys.push({ tenantId, kind: "user", value: event.userId });
    const email = normalizeEmail(event.traits?.email);
    if (email) keys.push({ tenantId, kind: "email", value: email });
    if (event.type === "alias" && event.extra?.previousId !== undefined) {
      const previousId = String(event.extra.previousId);
      keys.push({ tenantId, kind: "user", value: previousId }, { tenantId, kind: "visitor", value: previousId });
    }
  }
  return keys;
}
