/**
 * Sessions, as one thing: assignment (./assignment.ts) and the write-behind of their numbers
 * (./write-behind.ts), with the protocol that keeps both right beside the group-commit writer:
 * `hooks` are handed to the writer (rollbacks drop cached state and recount, deferred writes
 * share its transactions), `start` recounts what a crash left in memory only.
 */
import type { CanonicalEvent } from "../model";
import type { SessionRepository, WriterHooks } from "../ports";
import { SessionAssigner, type SessionSpan } from "./assignment";
import { type RecordedEvent, SESSION_WRITE_AFTER_MS, SessionWriteBehind } from "./write-behind";

export type { SessionSpan } from "./assignment";
export type { RecordedEvent } from "./write-behind";
export { SESSION_WRITE_AFTER_MS } from "./write-behind";

export interface SessionOptions {
  timeoutMs: number;
  cacheSize: number;
  writeAfterMs?: number;
  /** The clock that dates unwritten numbers (tests pass their own). */
  now?: () => number;
}

export class SessionTracker {
  private readonly assigner: SessionAssigner;
  private readonly writeBehind: SessionWriteBehind;

  constructor(rows: SessionRepository, { timeoutMs, cacheSize, writeAfterMs = SESSION_WRITE_AFTER_MS, now }: SessionOptions) {
    this.writeBehind = new SessionWriteBehind(rows, writeAfterMs, now);
    this.assigner = new SessionAssigner(rows, timeoutMs, cacheSize, (span) => this.writeBehind.left(span));
  }

  /** The session the event belongs to; `newVisitor`: the event created its visitor. */
  assign(tenantId: string, visitorId: string, event: CanonicalEvent, newVisitor = false): SessionSpan {
    return this.assigner.assign(tenantId, visitorId, event, newVisitor);
  }

  /** Counts a stored event in its session. */
  recorded(event: RecordedEvent): void {
    this.writeBehind.record(event);
  }

  /** Recounts, at start, what the last run kept in memory only (a crash). `transaction` runs work in one transaction. */
  start(transaction: (work: () => void) => void): void {
    transaction(() => this.writeBehind.resync());
  }

  /**
   * What the writer is told. After a rollback the database is the truth: cached spans (and the
   * other caches named here, e.g. visitors) may hold what it lacks, so they are dropped and the
   * counts redone.
   */
  hooks(otherCaches: readonly { clear(): void }[] = []): WriterHooks {
    const dropCachedState = () => {
      this.clear();
      for (const cache of otherCaches) cache.clear();
    };
    return {
      onRollback: dropCachedState,
      // Inside the transaction: the session rows are made exact again before the next job.
      onJobRolledBack: () => {
        dropCachedState();
        this.writeBehind.resync();
      },
      deferred: {
        before: () => {
          if (this.writeBehind.needsResync) this.writeBehind.resync();
        },
        after: (mode) => this.writeBehind.writeDue(mode),
        // Counts a rollback threw away are pending too: the next run (at the latest, the last one) redoes them.
        pending: () => this.writeBehind.pending || this.writeBehind.needsResync,
      },
    };
  }

  /**
   * Drops the spans of deleted sessions (src/modules/privacy) without writing them, so that no
   * later event joins a session whose row is gone and no pending count recreates what was deleted.
   */
  forget(sessions: ReadonlyMap<string, string>): void {
    this.assigner.forget(sessions);
    this.writeBehind.drop(sessions.keys());
  }

  /** Forget cached spans (the database is the truth); counts are redone by the next resync. */
  clear(): void {
    this.writeBehind.forget(this.assigner.size > 0);
    this.assigner.clear();
  }

  /** Whether some session's numbers are not written yet. */
  get pending(): boolean {
    return this.writeBehind.pending;
  }

  /** Cached spans. */
  get size(): number {
    return this.assigner.size;
  }

  get hits(): number {
    return this.assigner.hits;
  }

  get misses(): number {
    return this.assigner.misses;
  }
}
