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
 */
import { and, desc, eq, gt, lte, sql } from "drizzle-orm";
import { LRUCache } from "lru-cache";
import type { Db } from "../db/client";
import { sessions } from "../db/schema";
import { ACQUISITION_CHANNEL_KEY } from "../enrich";
import type { CanonicalEvent } from "./normalize";

interface SessionSpan {
  id: string;
  startedAt: number;
  lastEventAt: number;
}

export class SessionTracker {
  private readonly latestByVisitor: LRUCache<string, SessionSpan>;
  private readonly latestQuery;
  private readonly coveringQuery;
  private readonly insertSession;
  private readonly extendSession;
  hits = 0;
  misses = 0;

  constructor(
    db: Db,
    private readonly timeoutMs: number,
    cacheSize: number,
  ) {
    this.latestByVisitor = new LRUCache({ max: cacheSize });
    const span = { id: sessions.id, startedAt: sessions.startedAt, lastEventAt: sessions.lastEventAt };
    const visitor = and(eq(sessions.tenantId, sql.placeholder("tenantId")), eq(sessions.visitorId, sql.placeholder("visitorId")));
    this.latestQuery = db.select(span).from(sessions).where(visitor).orderBy(desc(sessions.lastEventAt)).limit(1).prepare();
    this.coveringQuery = db
      .select(span)
      .from(sessions)
      .where(and(visitor, lte(sessions.startedAt, sql.placeholder("upper")), gt(sessions.lastEventAt, sql.placeholder("lower"))))
      .orderBy(desc(sessions.lastEventAt))
      .limit(1)
      .prepare();
    this.insertSession = db
      .insert(sessions)
      .values({
        id: sql.placeholder("id"),
        tenantId: sql.placeholder("tenantId"),
        visitorId: sql.placeholder("visitorId"),
        startedAt: sql.placeholder("at"),
        lastEventAt: sql.placeholder("at"),
        eventCount: 1,
        landingPage: sql.placeholder("landingPage"),
        referrer: sql.placeholder("referrer"),
        campaign: sql.placeholder("campaign"),
        channel: sql.placeholder("channel"),
      })
      .prepare();
    this.extendSession = db
      .update(sessions)
      .set({
        startedAt: sql`min(${sessions.startedAt}, ${sql.placeholder("at")})`,
        lastEventAt: sql`max(${sessions.lastEventAt}, ${sql.placeholder("at")})`,
        eventCount: sql`${sessions.eventCount} + 1`,
      })
      .where(eq(sessions.id, sql.placeholder("id")))
      .prepare();
  }

  /**
   * The session the event belongs to, created or extended. `newVisitor`: the visitor was created
   * by this event, so it has no session to look up.
   */
  assign(tenantId: string, visitorId: string, event: CanonicalEvent, newVisitor = false): string {
    const at = event.timestamp;
    let latest = this.latestByVisitor.get(visitorId);
    if (latest) this.hits++;
    else if (!newVisitor) {
      this.misses++;
      latest = this.latestQuery.get({ tenantId, visitorId }) as SessionSpan | undefined;
    }

    if (latest && this.covers(latest, at)) {
      this.extend(latest, at);
      this.latestByVisitor.set(visitorId, latest);
      return latest.id;
    }
    if (latest && at < latest.startedAt) {
      // A late event from before the latest session: find the older session it belongs to.
      const older = this.coveringQuery.get({ tenantId, visitorId, upper: at + this.timeoutMs, lower: at - this.timeoutMs }) as
        | SessionSpan
        | undefined;
      this.latestByVisitor.set(visitorId, latest);
      if (older) {
        this.extend(older, at);
        return older.id;
      }
      return this.start(tenantId, visitorId, event).id;
    }
    const started = this.start(tenantId, visitorId, event);
    this.latestByVisitor.set(visitorId, started);
    return started.id;
  }

  /** Forget cached spans (after a rollback, the database is the truth). */
  clear(): void {
    this.latestByVisitor.clear();
  }

  get size(): number {
    return this.latestByVisitor.size;
  }

  private covers(span: SessionSpan, at: number): boolean {
    return at < span.lastEventAt + this.timeoutMs && at > span.startedAt - this.timeoutMs;
  }

  private extend(span: SessionSpan, at: number): void {
    this.extendSession.run({ id: span.id, at });
    if (at < span.startedAt) span.startedAt = at;
    if (at > span.lastEventAt) span.lastEventAt = at;
  }

  private start(tenantId: string, visitorId: string, event: CanonicalEvent): SessionSpan {
    const span = { id: Bun.randomUUIDv7(), startedAt: event.timestamp, lastEventAt: event.timestamp };
    const context = event.context;
    const page = asObject(context.page);
    const campaign = context.campaign;
    this.insertSession.run({
      id: span.id,
      tenantId,
      visitorId,
      at: event.timestamp,
      landingPage: asString(page?.url) ?? asString(page?.path) ?? null,
      referrer: asString(page?.referrer) ?? asString(asObject(context.referrer)?.url) ?? null,
      campaign: campaign && typeof campaign === "object" ? JSON.stringify(campaign) : null,
      channel: asString(context[ACQUISITION_CHANNEL_KEY]) ?? null,
    });
    return span;
  }
}

function asObject(v: unknown): Record<string, unknown> | undefined {
  return v && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
}
function asString(v: unknown): string | undefined {
  return typeof v === "string" && v.length > 0 ? v : undefined;
}
