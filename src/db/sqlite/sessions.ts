/** The sessions table and its watermark (writer_state), for bun:sqlite. */
import { and, desc, eq, gt, lte, sql } from "drizzle-orm";
import type { NewSessionRow, SessionRepository, SessionRow } from "../../pipeline/ports";
import type { Db } from "../client";
import { sessions, writerState } from "../schema";
import { positional } from "./statement";

const WATERMARK = "sessions_counted_through";

/** The insert's placeholders in the order of the table's columns, as drizzle writes them. */
const INSERT_ORDER = [
  "id",
  "tenantId",
  "visitorId",
  "at",
  "at",
  "landingPage",
  "referrer",
  "campaign",
  "channel",
  "leadId",
  "anonymousEvents",
  "eventId",
] as const;

export class SqliteSessions implements SessionRepository {
  private readonly q;

  constructor(private readonly db: Db) {
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
      insert: positional(
        db,
        db.insert(sessions).values({
          id: p("id"),
          tenantId: p("tenantId"),
          visitorId: p("visitorId"),
          startedAt: p("at"),
          lastEventAt: p("at"),
          eventCount: sql`1`,
          anonymousEvents: p("anonymousEvents"),
          countedThrough: p("eventId"),
          leadId: p("leadId"),
          landingPage: p("landingPage"),
          referrer: p("referrer"),
          campaign: p("campaign"),
          channel: p("channel"),
        }),
        INSERT_ORDER,
      ),
      update: positional(
        db,
        db
          .update(sessions)
          .set({
            startedAt: sql`${p("startedAt")}`,
            lastEventAt: sql`${p("lastEventAt")}`,
            eventCount: sql`${p("eventCount")}`,
            anonymousEvents: sql`${p("anonymousEvents")}`,
            countedThrough: sql`${p("countedThrough")}`,
          })
          .where(eq(sessions.id, p("id"))),
        ["startedAt", "lastEventAt", "eventCount", "anonymousEvents", "countedThrough", "id"],
      ),
      watermark: db.select({ value: writerState.value }).from(writerState).where(eq(writerState.key, WATERMARK)).prepare(),
      setWatermark: db
        .insert(writerState)
        .values({ key: WATERMARK, value: p("value") })
        .onConflictDoUpdate({ target: writerState.key, set: { value: sql`excluded.value` } })
        .prepare(),
    };
  }

  latest(tenantId: string, visitorId: string): SessionRow | undefined {
    return this.q.latest.get({ tenantId, visitorId });
  }

  covering(tenantId: string, visitorId: string, lower: number, upper: number): SessionRow | undefined {
    return this.q.covering.get({ tenantId, visitorId, lower, upper });
  }

  insert(row: NewSessionRow): void {
    this.q.insert.run(
      row.id,
      row.tenantId,
      row.visitorId,
      row.at,
      row.at,
      row.landingPage,
      row.referrer,
      row.campaign,
      row.channel,
      row.leadId,
      row.anonymousEvents,
      row.eventId,
    );
  }

  update(row: SessionRow): void {
    this.q.update.run(row.startedAt, row.lastEventAt, row.eventCount, row.anonymousEvents, row.countedThrough, row.id);
  }

  watermark(): number {
    return (this.q.watermark.get() as { value: number } | undefined)?.value ?? 0;
  }

  setWatermark(eventId: number): void {
    this.q.setWatermark.run({ value: eventId });
  }

  recount(from: number): number {
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
    return this.db.all<{ id: number | null }>(sql`SELECT max(id) AS id FROM events`)[0]?.id ?? 0;
  }
}
