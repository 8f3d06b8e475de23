/**
 * Sessions: a visitor's session continues while its events are less than `timeoutMs` apart;
 * otherwise a new one starts. The latest session of each active visitor sits in a bounded LRU
 * backed by the database, so the common case (the next event of an ongoing session) is a lookup.
 *
 * Late events (timestamp before the session's last event, e.g. from an offline queue): an event
 * joins the visitor's session whose span, widened by the timeout on both sides, contains its
 * timestamp, extending the session's start if needed; if none does, it starts a session of its
 * own. Sessions are never merged after the fact, even when a late event would bridge two.
 *
 * All of this runs inside the single writer's transaction, so two concurrent requests of one
 * visitor are processed one after the other and never create two sessions.
 *
 * Why the counts are written late: a session row updated with every event costs a randomly
 * placed page write per event (about as much as the event insert itself). So a session's row is
 * written when it starts, and then its moving numbers (last_event_at, event_count, ...) stay in
 * the cached span and are written once they have been unwritten for `writeAfterMs` (under load),
 * when the writer goes idle (within ~50 ms), when the span leaves the cache, and at shutdown.
 * `counted_through` records the last event a row's numbers include and `writer_state` a point
 * below which every row is complete, so after a crash the events above it are counted again
 * (`resync`) and no count is lost or doubled.
 */
import { and, desc, eq, gt, lte, sql } from "drizzle-orm";
import { LRUCache } from "lru-cache";
import type { Db } from "../db/client";
import { sessions, writerState } from "../db/schema";
import { ACQUISITION_CHANNEL_KEY } from "../enrich";
import type { CanonicalEvent } from "./normalize";

/** How long a session's numbers may stay unwritten while the writer is busy. */
export const SESSION_WRITE_AFTER_MS = 5_000;
/** At most this many spans written per commit, so no one commit stalls on a backlog. */
const WRITES_PER_COMMIT = 2_000;
const WATERMARK = "sessions_counted_through";

export interface SessionSpan {
  id: string;
  startedAt: number;
  lastEventAt: number;
  eventCount: number;
  anonymousEvents: number;
  /** The highest events.id the numbers include. */
  countedThrough: number;
  /** False until the row of a new session is inserted, with its first event. */
  stored: boolean;
  /** Held in the cache (the visitor's latest session); other spans are written at once. */
  cached: boolean;
  /** When its numbers first differed from its row (Date.now()); 0 when the row is current. */
  dirtySince: number;
  /** The first events.id not yet in its row, while dirty. */
  firstUnwritten: number;
}

export class SessionTracker {
  private readonly latestByVisitor: LRUCache<string, SessionSpan>;
  /** Cached spans whose row is behind, oldest first (Map keeps insertion order). */
  private readonly dirty = new Map<string, SessionSpan>();
  private lastEventId = 0;
  /** Set when cached numbers were thrown away (a rollback): count again from this events.id. */
  private resyncFrom: number | null = null;
  private clearing = false;
  private readonly q;
  hits = 0;
  misses = 0;

  constructor(
    private readonly db: Db,
    private readonly timeoutMs: number,
    cacheSize: number,
    private readonly writeAfterMs = SESSION_WRITE_AFTER_MS,
  ) {
    this.latestByVisitor = new LRUCache({
      max: cacheSize,
      // Leaving the cache (evicted, or replaced by the visitor's next session): write what is pending.
      // Cache changes happen inside the writer's transaction, except clear() after a rollback.
      dispose: (span) => {
        span.cached = false;
        if (span.dirtySince !== 0 && !this.clearing) this.write(span);
      },
    });
    const p = (name: string) => sql.placeholder(name);
    const span = {
      id: sessions.id,
      startedAt: sessions.startedAt,
      lastEventAt: sessions.lastEventAt,
      eventCount: sessions.eventCount,
      anonymousEvents: sessions.anonymousEvents,
      countedThrough: sessions.countedThrough,
    };
    const visitor = and(eq(sessions.tenantId, p("tenantId")), eq(sessions.visitorId, p("visitorId")));
    this.q = {
      latest: db.select(span).from(sessions).where(visitor).orderBy(desc(sessions.lastEventAt)).limit(1).prepare(),
      covering: db
        .select(span)
        .from(sessions)
        .where(and(visitor, lte(sessions.startedAt, p("upper")), gt(sessions.lastEventAt, p("lower"))))
        .orderBy(desc(sessions.lastEventAt))
        .limit(1)
        .prepare(),
      insert: db
        .insert(sessions)
        .values({
          id: p("id"),
          tenantId: p("tenantId"),
          visitorId: p("visitorId"),
          startedAt: p("at"),
          lastEventAt: p("at"),
          eventCount: 1,
          anonymousEvents: p("anonymousEvents"),
          countedThrough: p("eventId"),
          leadId: p("leadId"),
          landingPage: p("landingPage"),
          referrer: p("referrer"),
          campaign: p("campaign"),
          channel: p("channel"),
        })
        .prepare(),
      write: db
        .update(sessions)
        .set({
          startedAt: sql`${p("startedAt")}`,
          lastEventAt: sql`${p("lastEventAt")}`,
          eventCount: sql`${p("eventCount")}`,
          anonymousEvents: sql`${p("anonymousEvents")}`,
          countedThrough: sql`${p("countedThrough")}`,
        })
        .where(eq(sessions.id, p("id")))
        .prepare(),
      watermark: db.select({ value: writerState.value }).from(writerState).where(eq(writerState.key, WATERMARK)).prepare(),
      setWatermark: db
        .insert(writerState)
        .values({ key: WATERMARK, value: p("value") })
        .onConflictDoUpdate({ target: writerState.key, set: { value: sql`excluded.value` } })
        .prepare(),
    };
  }

  /**
   * The session the event belongs to (a new one is stored by `recorded`). `newVisitor`: the
   * visitor was created by this event, so it has no session to look up.
   */
  assign(tenantId: string, visitorId: string, event: CanonicalEvent, newVisitor = false): SessionSpan {
    const at = event.timestamp;
    let latest = this.latestByVisitor.get(visitorId);
    if (latest) this.hits++;
    else if (!newVisitor) {
      this.misses++;
      latest = this.load(this.q.latest.get({ tenantId, visitorId }));
      if (latest) this.cache(visitorId, latest);
    }

    if (latest && this.covers(latest, at)) return latest;
    if (latest && at < latest.startedAt) {
      // A late event from before the latest session: find the older session it belongs to.
      const older = this.load(this.q.covering.get({ tenantId, visitorId, upper: at + this.timeoutMs, lower: at - this.timeoutMs }));
      return older ?? this.fresh(at);
    }
    const started = this.fresh(at);
    this.cache(visitorId, started);
    return started;
  }

  /**
   * Counts the event (stored as `eventId`) in its session: inserts a new session's row (its
   * landing page, referrer and campaign from this first event; `leadId`, the visitor's lead),
   * or moves the span's numbers, written now for an uncached span, later for a cached one.
   */
  recorded(tenantId: string, visitorId: string, span: SessionSpan, event: CanonicalEvent, eventId: number, anonymous: boolean, leadId: string | null): void {
    this.lastEventId = Math.max(this.lastEventId, eventId);
    const at = event.timestamp;
    if (!span.stored) {
      span.stored = true;
      span.eventCount = 1;
      span.anonymousEvents = anonymous ? 1 : 0;
      span.countedThrough = eventId;
      const context = event.context;
      const page = asObject(context.page);
      const campaign = context.campaign;
      this.q.insert.run({
        id: span.id,
        tenantId,
        visitorId,
        at,
        anonymousEvents: span.anonymousEvents,
        eventId,
        leadId,
        landingPage: asString(page?.url) ?? asString(page?.path) ?? null,
        referrer: asString(page?.referrer) ?? asString(asObject(context.referrer)?.url) ?? null,
        campaign: campaign && typeof campaign === "object" ? JSON.stringify(campaign) : null,
        channel: asString(context[ACQUISITION_CHANNEL_KEY]) ?? null,
      });
      return;
    }
    if (at < span.startedAt) span.startedAt = at;
    if (at > span.lastEventAt) span.lastEventAt = at;
    span.eventCount++;
    if (anonymous) span.anonymousEvents++;
    span.countedThrough = Math.max(span.countedThrough, eventId);
    if (!span.cached) this.write(span);
    else if (span.dirtySince === 0) {
      span.dirtySince = Date.now();
      span.firstUnwritten = eventId;
      this.dirty.set(span.id, span);
    }
  }

  /**
   * In the writer's transaction, after its jobs: writes the spans unwritten for `writeAfterMs`
   * (all of them when `all`: the writer is idle or closing), then the point below which every
   * row is complete.
   */
  writeDue(all: boolean): void {
    if (this.dirty.size === 0) return;
    const due = Date.now() - this.writeAfterMs;
    let written = 0;
    for (const span of this.dirty.values()) {
      if (!all && (span.dirtySince > due || written >= WRITES_PER_COMMIT)) break;
      this.write(span);
      written++;
    }
    if (written > 0) this.q.setWatermark.run({ value: this.watermark() });
  }

  /** Whether some cached span's row is behind (the writer then schedules an idle write). */
  get pending(): boolean {
    return this.dirty.size > 0;
  }

  /**
   * Counts the events above the stored watermark (or the point a rollback left) into their
   * sessions' rows, each event once (`counted_through`), then moves the watermark to the last
   * event. Runs at start (after a crash the last seconds' counts were only in memory) and, in
   * the writer's transaction, before the first jobs after a rollback.
   */
  resync(): void {
    const stored = (this.q.watermark.get() as { value: number } | undefined)?.value ?? 0;
    const from = Math.min(stored, this.resyncFrom ?? stored);
    this.db.run(sql`
      UPDATE sessions SET
        started_at = min(sessions.started_at, d.first),
        last_event_at = max(sessions.last_event_at, d.last),
        event_count = sessions.event_count + d.n,
        anonymous_events = sessions.anonymous_events + d.anonymous,
        counted_through = d.through
      FROM (
        SELECT e.session_id AS sid, min(e.timestamp) AS first, max(e.timestamp) AS last, count(*) AS n,
               sum(e.lead_id IS NULL) AS anonymous, max(e.id) AS through
        FROM events e JOIN sessions s ON s.id = e.session_id
        WHERE e.id > ${from} AND e.id > s.counted_through
        GROUP BY e.session_id
      ) AS d
      WHERE sessions.id = d.sid`);
    const last = this.db.all<{ id: number | null }>(sql`SELECT max(id) AS id FROM events`)[0]?.id ?? 0;
    this.lastEventId = last;
    this.q.setWatermark.run({ value: last });
    this.resyncFrom = null;
  }

  /** Whether a rollback left counts to redo (the writer then calls `resync` first). */
  get needsResync(): boolean {
    return this.resyncFrom !== null;
  }

  /** Forget cached spans after a rollback (the database is the truth); counts are redone by `resync`. */
  clear(): void {
    if (this.dirty.size > 0 || this.latestByVisitor.size > 0) this.resyncFrom = Math.min(this.resyncFrom ?? Infinity, this.watermark());
    this.clearing = true;
    try {
      this.latestByVisitor.clear();
    } finally {
      this.clearing = false;
    }
    this.dirty.clear();
  }

  /**
   * Drops the spans of deleted sessions (src/modules/privacy) without writing them, so that no
   * later event joins a session whose row is gone and no pending count recreates what was deleted.
   */
  forget(visitorIds: Iterable<string>, sessionIds: ReadonlySet<string>): void {
    this.clearing = true;
    try {
      for (const visitorId of visitorIds) this.latestByVisitor.delete(visitorId);
      for (const [visitorId, span] of this.latestByVisitor.entries()) if (sessionIds.has(span.id)) this.latestByVisitor.delete(visitorId);
    } finally {
      this.clearing = false;
    }
    for (const id of sessionIds) this.dirty.delete(id);
  }

  get size(): number {
    return this.latestByVisitor.size;
  }

  /** Every cached row is complete below this events.id. */
  private watermark(): number {
    for (const span of this.dirty.values()) return span.firstUnwritten - 1;
    return this.lastEventId;
  }

  private write(span: SessionSpan): void {
    this.q.write.run({
      id: span.id,
      startedAt: span.startedAt,
      lastEventAt: span.lastEventAt,
      eventCount: span.eventCount,
      anonymousEvents: span.anonymousEvents,
      countedThrough: span.countedThrough,
    });
    span.dirtySince = 0;
    this.dirty.delete(span.id);
  }

  private cache(visitorId: string, span: SessionSpan): void {
    span.cached = true;
    this.latestByVisitor.set(visitorId, span);
  }

  private covers(span: SessionSpan, at: number): boolean {
    return at < span.lastEventAt + this.timeoutMs && at > span.startedAt - this.timeoutMs;
  }

  private load(row: unknown): SessionSpan | undefined {
    if (!row) return undefined;
    return { ...(row as Omit<SessionSpan, "stored" | "cached" | "dirtySince" | "firstUnwritten">), stored: true, cached: false, dirtySince: 0, firstUnwritten: 0 };
  }

  private fresh(at: number): SessionSpan {
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
}

function asObject(v: unknown): Record<string, unknown> | undefined {
  return v && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
}
function asString(v: unknown): string | undefined {
  return typeof v === "string" && v.length > 0 ? v : undefined;
}
