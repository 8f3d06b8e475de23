/**
 * Reads a tenant's stored events back as canonical Segment-shaped objects, oldest first, in
 * pages (keyset on timestamp and id) so an export of millions of rows runs in constant memory.
 */
import { isoTime } from "../../lib/time";
import { and, asc, eq, gt, gte, lt, lte, or, sql, type SQL } from "drizzle-orm";
import type { Db } from "../../db/client";
import { events, eventSecond, secondOf, sessions } from "../../db/schema";

export interface ExportFilter {
  tenantId: string;
  since?: number;
  until?: number;
  type?: string;
}

type Row = typeof events.$inferSelect;
const PAGE = 1000;

/** Absent times are left out of the exported line. */
const iso = (ms: number | null): string | undefined => isoTime(ms) ?? undefined;
const parsed = (text: string | null): Record<string, unknown> | undefined => (text === null ? undefined : JSON.parse(text));

/**
 * The canonical event: Segment's field names plus Inlet's own (visitorId, sessionId, leadId).
 * An anonymous event's lead is its session's, once its visitor was identified (src/db/sqlite/identity.ts).
 */
export function toCanonical(row: Row, sessionLeadId: string | null): Record<string, unknown> {
  const out: Record<string, unknown> = {
    type: row.type,
    event: row.event ?? undefined,
    messageId: row.messageId,
    anonymousId: row.anonymousId ?? undefined,
    userId: row.userId ?? undefined,
    ...parsed(row.extra),
    properties: parsed(row.properties),
    traits: parsed(row.traits),
    context: parsed(row.context) ?? {},
    integrations: parsed(row.integrations),
    timestamp: iso(row.timestamp),
    originalTimestamp: iso(row.originalTimestamp),
    sentAt: iso(row.sentAt),
    receivedAt: iso(row.receivedAt),
    visitorId: row.visitorId,
    sessionId: row.sessionId,
    leadId: row.leadId ?? sessionLeadId ?? undefined,
    schemaVersion: row.schemaVersion ?? undefined,
  };
  for (const key of Object.keys(out)) if (out[key] === undefined) delete out[key];
  return out;
}

export function* exportEvents(db: Db, filter: ExportFilter): Generator<Record<string, unknown>> {
  // Through events_tenant_second: the index orders by second, SQLite sorts each second's rows by
  // timestamp and id (the same order as by timestamp and id alone).
  const conditions: SQL[] = [eq(events.tenantId, filter.tenantId)];
  if (filter.since !== undefined) conditions.push(gte(eventSecond, secondOf(filter.since)), gte(events.timestamp, filter.since));
  if (filter.until !== undefined) conditions.push(lte(eventSecond, secondOf(filter.until)), lt(events.timestamp, filter.until));
  if (filter.type !== undefined) conditions.push(eq(events.type, filter.type));
  let after: { second: number; timestamp: number; id: number } | null = null;
  for (;;) {
    const page: { event: Row; sessionLeadId: string | null }[] = db
      .select({ event: events, sessionLeadId: sessions.leadId })
      .from(events)
      .leftJoin(sessions, eq(sessions.id, events.sessionId))
      .where(
        and(
          ...conditions,
          after
            ? and(
                gte(eventSecond, after.second),
                or(gt(eventSecond, after.second), gt(events.timestamp, after.timestamp), and(eq(events.timestamp, after.timestamp), gt(events.id, after.id))),
              )
            : sql`1`,
        ),
      )
      .orderBy(asc(eventSecond), asc(events.timestamp), asc(events.id))
      .limit(PAGE)
      .all();
    for (const row of page) yield toCanonical(row.event, row.sessionLeadId);
    if (page.length < PAGE) return;
    const last = page[page.length - 1]!.event;
    after = { second: secondOf(last.timestamp), timestamp: last.timestamp, id: last.id };
  }
}

/** Characters some line splitters take for line ends (JavaScript's U+2028/U+2029, Python's and Java's U+0085). */
const LINE_SPLITTERS = /[\u2028\u2029\u0085]/g;

/**
 * One NDJSON line (without its newline): JSON, with the characters other languages' line
 * splitters break on written as escapes, so every consumer sees one event per line.
 */
export function ndjsonLine(row: unknown): string {
  return JSON.stringify(row).replace(LINE_SPLITTERS, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}
