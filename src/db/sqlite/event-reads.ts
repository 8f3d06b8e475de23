/**
 * Stored events read back from SQLite (src/db/read-store.ts), oldest first, in keyset pages on
 * (timestamp, id). One writer commits in id order, so an event committed after a page was read
 * has a greater id than every event of that page: a position is [timestamp, id].
 */
import { and, asc, eq, gt, gte, lt, lte, or, type SQL } from "drizzle-orm";
import type { Db } from "../client";
import type { EventFilter, EventPage, EventReadStore, StoredEventRecord } from "../read-store";
import { events, eventSecond, secondOf, sessions } from "../schema";

type Row = typeof events.$inferSelect;

const parsed = (text: string | null): Record<string, unknown> | null => (text === null ? null : JSON.parse(text));

function toRecord(row: Row, sessionLeadId: string | null): StoredEventRecord {
  return {
    type: row.type,
    messageId: row.messageId,
    event: row.event,
    anonymousId: row.anonymousId,
    userId: row.userId,
    visitorId: row.visitorId,
    sessionId: row.sessionId,
    leadId: row.leadId,
    sessionLeadId,
    timestamp: row.timestamp,
    originalTimestamp: row.originalTimestamp,
    sentAt: row.sentAt,
    receivedAt: row.receivedAt,
    properties: parsed(row.properties),
    traits: parsed(row.traits),
    context: parsed(row.context),
    integrations: parsed(row.integrations),
    extra: parsed(row.extra),
    schemaVersion: row.schemaVersion,
  };
}

export class SqliteEventReads implements EventReadStore {
  readonly positionLength = 2;

  constructor(private readonly db: Db) {}

  async page(filter: EventFilter, limit: number): Promise<EventPage> {
    // Through events_tenant_second: the index orders by second, SQLite sorts each second's rows by
    // timestamp and id (the same order as by timestamp and id alone).
    const conditions: SQL[] = [eq(events.tenantId, filter.tenantId)];
    if (filter.since !== undefined) conditions.push(gte(eventSecond, secondOf(filter.since)), gte(events.timestamp, filter.since));
    if (filter.until !== undefined) conditions.push(lte(eventSecond, secondOf(filter.until)), lt(events.timestamp, filter.until));
    if (filter.type !== undefined) conditions.push(eq(events.type, filter.type));
    if (filter.userId !== undefined) conditions.push(eq(events.userId, filter.userId));
    if (filter.anonymousId !== undefined) conditions.push(eq(events.anonymousId, filter.anonymousId));
    if (filter.after) {
      const [timestamp, id] = filter.after as [number, number];
      const second = secondOf(timestamp);
      conditions.push(
        gte(eventSecond, second),
        or(gt(eventSecond, second), gt(events.timestamp, timestamp), and(eq(events.timestamp, timestamp), gt(events.id, id)))!,
      );
    }
    const page = this.db
      .select({ event: events, sessionLeadId: sessions.leadId })
      .from(events)
      .leftJoin(sessions, eq(sessions.id, events.sessionId))
      .where(and(...conditions))
      .orderBy(asc(eventSecond), asc(events.timestamp), asc(events.id))
      .limit(limit)
      .all();
    return {
      events: page.map((row) => toRecord(row.event, row.sessionLeadId)),
      positions: page.map(({ event }) => [event.timestamp, event.id]),
      heldBack: false,
    };
  }

  async byMessageId(tenantId: string, messageId: string): Promise<StoredEventRecord | undefined> {
    const row = this.db
      .select({ event: events, sessionLeadId: sessions.leadId })
      .from(events)
      .leftJoin(sessions, eq(sessions.id, events.sessionId))
      .where(and(eq(events.tenantId, tenantId), eq(events.messageId, messageId)))
      .get();
    return row && toRecord(row.event, row.sessionLeadId);
  }
}
