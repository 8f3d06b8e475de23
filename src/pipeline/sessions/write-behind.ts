/**
 * Session write-behind. A session row updated with every event costs a randomly placed page
 * write per event (about as much as the event insert itself). So a session's row is written when
 * it starts, and then its moving numbers (last_event_at, event_count, ...) stay in the cached
 * span and are written once they have been unwritten for `writeAfterMs` (under load), when the
 * writer goes idle, when the span leaves the cache, and at shutdown. `countedThrough` records
 * the last event a row's numbers include and the watermark a point below which every row is
 * complete, so after a crash the events above it are counted again (`resync`) and no count is
 * lost or doubled.
 */
import { ACQUISITION_CHANNEL_KEY } from "../../enrich";
import { asNonEmptyString, asObject } from "../../enrich/values";
import type { CanonicalEvent } from "../model";
import type { DeferredMode, SessionRepository } from "../ports";
import type { SessionSpan } from "./assignment";

/** How long a session's numbers may stay unwritten while the writer is busy. */
export const SESSION_WRITE_AFTER_MS = 5_000;
/**
 * How long one commit may spend writing spans (checked every few writes), so that no commit
 * stalls on a backlog: 2,000 spans at once held every request of a group 30-40 ms. Under load
 * (requests wait on the commit) only the due spans, briefly; once the writer is idle, more,
 * since requests arriving meanwhile wait too; another idle run follows while spans are left.
 */
const WRITE_BUDGET_MS = { busy: 2, idle: 5 } as const;
const WRITES_BETWEEN_CLOCK_READS = 25;

/** An event just stored, to count in its session. */
export interface RecordedEvent {
  tenantId: string;
  visitorId: string;
  span: SessionSpan;
  event: CanonicalEvent;
  /** Its id in the events table. */
  eventId: number;
  /** Stored without a lead. */
  anonymous: boolean;
  /** The visitor's lead, for a new session's row. */
  leadId: string | null;
}

export class SessionWriteBehind {
  /** Cached spans whose row is behind, oldest first (Map keeps insertion order). */
  private readonly dirty = new Map<string, SessionSpan>();
  private lastEventId = 0;
  /** Set when cached numbers were thrown away (a rollback): count again from this event id. */
  private resyncFrom: number | null = null;

  constructor(
    private readonly rows: SessionRepository,
    private readonly writeAfterMs = SESSION_WRITE_AFTER_MS,
    private readonly now: () => number = Date.now,
    /** The clock of the write budget (tests pass their own). */
    private readonly elapsed: () => number = () => performance.now(),
  ) {}

  /**
   * Counts the event in its session: inserts a new session's row (its landing page, referrer and
   * campaign from this first event), or moves the span's numbers, written now for an uncached
   * span, later for a cached one.
   */
  record({ tenantId, visitorId, span, event, eventId, anonymous, leadId }: RecordedEvent): void {
    this.lastEventId = Math.max(this.lastEventId, eventId);
    const at = event.timestamp;
    if (!span.stored) {
      span.stored = true;
      span.eventCount = 1;
      span.anonymousEvents = anonymous ? 1 : 0;
      span.countedThrough = eventId;
      this.rows.insert({ id: span.id, tenantId, visitorId, at, anonymousEvents: span.anonymousEvents, eventId, leadId, ...landing(event.context) });
      return;
    }
    if (at < span.startedAt) span.startedAt = at;
    if (at > span.lastEventAt) span.lastEventAt = at;
    span.eventCount++;
    if (anonymous) span.anonymousEvents++;
    span.countedThrough = Math.max(span.countedThrough, eventId);
    if (!span.cached) this.write(span);
    else if (span.dirtySince === 0) {
      span.dirtySince = this.now();
      span.firstUnwritten = eventId;
      this.dirty.set(span.id, span);
    }
  }

  /** A span left the cache: its pending numbers are written now. */
  left(span: SessionSpan): void {
    if (span.dirtySince !== 0) this.write(span);
  }

  /**
   * In the writer's transaction, after its jobs: writes the spans unwritten for `writeAfterMs`
   * (`busy`), or any (`idle`), for at most WRITE_BUDGET_MS; every one when `closing`; then the
   * point below which every row is complete.
   */
  writeDue(mode: DeferredMode): void {
    if (this.dirty.size === 0) return;
    const due = this.now() - this.writeAfterMs;
    const until = mode === "closing" ? Infinity : this.elapsed() + WRITE_BUDGET_MS[mode];
    let written = 0;
    for (const span of this.dirty.values()) {
      if (mode === "busy" && span.dirtySince > due) break;
      if (written % WRITES_BETWEEN_CLOCK_READS === 0 && written > 0 && this.elapsed() > until) break;
      this.write(span);
      written++;
    }
    if (written > 0) this.rows.setWatermark(this.watermark());
  }

  /** Whether some cached span's row is behind (the writer then schedules an idle write). */
  get pending(): boolean {
    return this.dirty.size > 0;
  }

  /**
   * Counts the events above the stored watermark (or the point a rollback left) into their
   * sessions' rows, each event once, then moves the watermark to the last event. Runs at start
   * (after a crash the last seconds' counts were only in memory) and, in the writer's
   * transaction, before the first jobs after a rollback.
   */
  resync(): void {
    const stored = this.rows.watermark();
    const last = this.rows.recount(Math.min(stored, this.resyncFrom ?? stored));
    this.lastEventId = last;
    this.rows.setWatermark(last);
    this.resyncFrom = null;
  }

  /** Whether a rollback left counts to redo (`resync` first). */
  get needsResync(): boolean {
    return this.resyncFrom !== null;
  }

  /** Cached spans were thrown away (a rollback): their unwritten counts are redone by `resync`. */
  forget(hadCachedSpans: boolean): void {
    if (this.dirty.size > 0 || hadCachedSpans) this.resyncFrom = Math.min(this.resyncFrom ?? Infinity, this.watermark());
    this.dirty.clear();
  }

  /** Drops the unwritten numbers of deleted sessions: no later write may recreate what was deleted. */
  drop(sessionIds: Iterable<string>): void {
    for (const id of sessionIds) this.dirty.delete(id);
  }

  /** Every cached row is complete below this event id. */
  private watermark(): number {
    for (const span of this.dirty.values()) return span.firstUnwritten - 1;
    return this.lastEventId;
  }

  private write(span: SessionSpan): void {
    const { id, startedAt, lastEventAt, eventCount, anonymousEvents, countedThrough } = span;
    this.rows.update({ id, startedAt, lastEventAt, eventCount, anonymousEvents, countedThrough });
    span.dirtySince = 0;
    this.dirty.delete(span.id);
  }
}

/** Where a session came from, as its first event says. */
export function landing(context: Record<string, unknown>): {
  landingPage: string | null;
  referrer: string | null;
  campaign: string | null;
  channel: string | null;
} {
  const page = asObject(context.page);
  const campaign = context.campaign;
  return {
    landingPage: asNonEmptyString(page?.url) ?? asNonEmptyString(page?.path) ?? null,
    referrer: asNonEmptyString(page?.referrer) ?? asNonEmptyString(asObject(context.referrer)?.url) ?? null,
    campaign: campaign && typeof campaign === "object" ? JSON.stringify(campaign) : null,
    channel: asNonEmptyString(context[ACQUISITION_CHANNEL_KEY]) ?? null,
  };
}
