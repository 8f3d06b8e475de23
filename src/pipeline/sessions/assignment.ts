/**
 * Session assignment: a visitor's session continues while its events are less than `timeoutMs`
 * apart; otherwise a new one starts. The latest session of each active visitor sits in a bounded
 * LRU backed by the database, so the common case (the next event of an ongoing session) is a
 * lookup.
 *
 * Late events (timestamp before the session's last event, e.g. from an offline queue): an event
 * joins the visitor's session whose span, widened by the timeout on both sides, contains its
 * timestamp, extending the session's start if needed; if none does, it starts a session of its
 * own. Sessions are never merged after the fact, even when a late event would bridge two.
 *
 * All of this runs inside the single writer's transaction, so two concurrent requests of one
 * visitor are processed one after the other and never create two sessions.
 */
import { LRUCache } from "lru-cache";
import type { CanonicalEvent } from "../model";
import type { SessionRepository, SessionRow } from "../ports";

/** A session as the tracker holds it: its row's numbers, and how they stand against the row. */
export interface SessionSpan extends SessionRow {
  /** False until the row of a new session is inserted, with its first event. */
  stored: boolean;
  /** Held in the cache (the visitor's latest session); other spans are written at once. */
  cached: boolean;
  /** When its numbers first differed from its row (Date.now()); 0 when the row is current. */
  dirtySince: number;
  /** The first event id not yet in its row, while dirty. */
  firstUnwritten: number;
}

export class SessionAssigner {
  private readonly latestByVisitor: LRUCache<string, SessionSpan>;
  private clearing = false;
  hits = 0;
  misses = 0;

  constructor(
    private readonly rows: SessionRepository,
    private readonly timeoutMs: number,
    cacheSize: number,
    /** A span leaves the cache (evicted, or replaced by the visitor's next session); not told on `clear`. */
    onLeave: (span: SessionSpan) => void,
  ) {
    this.latestByVisitor = new LRUCache({
      max: cacheSize,
      // Cache changes happen inside the writer's transaction, except clear() after a rollback.
      dispose: (span) => {
        span.cached = false;
        if (!this.clearing) onLeave(span);
      },
    });
  }

  /**
   * The session the event belongs to (a new one is stored when the event is recorded).
   * `newVisitor`: the visitor was created by this event, so it has no session to look up.
   */
  assign(tenantId: string, visitorId: string, event: CanonicalEvent, newVisitor = false): SessionSpan {
    const at = event.timestamp;
    let latest = this.latestByVisitor.get(visitorId);
    if (latest) this.hits++;
    else if (!newVisitor) {
      this.misses++;
      latest = load(this.rows.latest(tenantId, visitorId));
      if (latest) this.cache(visitorId, latest);
    }

    if (latest && covers(latest, at, this.timeoutMs)) return latest;
    if (latest && at < latest.startedAt) {
      // A late event from before the latest session: find the older session it belongs to.
      const older = load(this.rows.covering(tenantId, visitorId, at - this.timeoutMs, at + this.timeoutMs));
      return older ?? fresh(at);
    }
    const started = fresh(at);
    this.cache(visitorId, started);
    return started;
  }

  /** Whether any span is cached. */
  get size(): number {
    return this.latestByVisitor.size;
  }

  /** Forgets the spans of these deleted sessions (id → visitor) without telling onLeave (their rows are gone). */
  forget(sessions: ReadonlyMap<string, string>): void {
    this.clearing = true;
    try {
      // A visitor's cached span is its latest session: dropped when that session is deleted.
      for (const [sessionId, visitorId] of sessions) if (this.latestByVisitor.peek(visitorId)?.id === sessionId) this.latestByVisitor.delete(visitorId);
    } finally {
      this.clearing = false;
    }
  }

  /** Forgets every cached span (after a rollback: the database is the truth). */
  clear(): void {
    this.clearing = true;
    try {
      this.latestByVisitor.clear();
    } finally {
      this.clearing = false;
    }
  }

  private cache(visitorId: string, span: SessionSpan): void {
    span.cached = true;
    this.latestByVisitor.set(visitorId, span);
  }
}

export function load(row: SessionRow | undefined): SessionSpan | undefined {
  return row ? { ...row, stored: true, cached: false, dirtySince: 0, firstUnwritten: 0 } : undefined;
}

/** Whether an event at `at` continues the session: it falls within its span widened by the timeout on both sides. */
export function covers(span: Pick<SessionRow, "startedAt" | "lastEventAt">, at: number, timeoutMs: number): boolean {
  return at < span.lastEventAt + timeoutMs && at > span.startedAt - timeoutMs;
}

/** A new session starting with an event at `at`. */
export function fresh(at: number): SessionSpan {
  return {
    id: Bun.randomUUIDv7(),
    startedAt: at,
    lastEventAt: at,
    eventCount: 0,
    anonymousEvents: 0,
    countedThrough: 0,
    stored: false,
    cached: false,
    dirtySince: 0,
    firstUnwritten: 0,
  };
}
