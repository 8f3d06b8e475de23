/**
 * Reads a tenant's stored events back as canonical Segment-shaped objects, oldest first, in
 * pages (keyset on timestamp and id) so an export of millions of rows runs in constant memory.
 * `inlet export` and `GET /v1/events` both read through here.
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
  userId?: string;
  anonymousId?: string;
  /** Start after this position (a page's last event; see encodeCursor). */
  after?: Position;
}

/** Where an event is in export order: by timestamp, then by id (insertion order). */
export interface Position {
  timestamp: number;
  id: number;
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

/** The events of one page after `filter.after`, in export order, with the position of each. */
export function readEvents(db: Db, filter: ExportFilter, limit: number): { events: Record<string, unknown>[]; positions: Position[] } {
  // Through events_tenant_second: the index orders by second, SQLite sorts each second's rows by
  // timestamp and id (the same order as by timestamp and id alone).
  const conditions: SQL[] = [eq(events.tenantId, filter.tenantId)];
  if (filter.since !== undefined) conditions.push(gte(eventSecond, secondOf(filter.since)), gte(events.timestamp, filter.since));
  if (filter.until !== undefined) conditions.push(lte(eventSecond, secondOf(filter.until)), lt(events.timestamp, filter.until));
  if (filter.type !== undefined) conditions.push(eq(events.type, filter.type));
  if (filter.userId !== undefined) conditions.push(eq(events.userId, filter.userId));
  if (filter.anonymousId !== undefined) conditions.push(eq(events.anonymousId, filter.anonymousId));
  const after = filter.after;
  if (after) {
    const second = secondOf(after.timestamp);
    conditions.push(
      gte(eventSecond, second),
      or(gt(eventSecond, second), gt(events.timestamp, after.timestamp), and(eq(events.timestamp, after.timestamp), gt(events.id, after.id)))!,
    );
  }
  const page: { event: Row; sessionLeadId: string | null }[] = db
    .select({ event: events, sessionLeadId: sessions.leadId })
    .from(events)
    .leftJoin(sessions, eq(sessions.id, events.sessionId))
    .where(and(...conditions))
    .orderBy(asc(eventSecond), asc(events.timestamp), asc(events.id))
    .limit(limit)
    .all();
  return {
    events: page.map((row) => toCanonical(row.event, row.sessionLeadId)),
    positions: page.map(({ event }) => ({ timestamp: event.timestamp, id: event.id })),
  };
}

/** Every event the filter matches, page after page, so an export of millions of rows runs in constant memory. */
export function* exportEvents(db: Db, filter: ExportFilter, pageSize = PAGE): Generator<Record<string, unknown>> {
  let after = filter.after;
  for (;;) {
    const page = readEvents(db, { ...filter, after }, pageSize);
    yield* page.events;
    if (page.events.length < pageSize) return;
    after = page.positions[page.positions.length - 1];
  }
}

/** One stored event by its messageId, or null. */
export function findEvent(db: Db, tenantId: string, messageId: string): Record<string, unknown> | null {
  const row = db
    .select({ event: events, sessionLeadId: sessions.leadId })
    .from(events)
    .leftJoin(sessions, eq(sessions.id, events.sessionId))
    .where(and(eq(events.tenantId, tenantId), eq(events.messageId, messageId)))
    .get();
  return row ? toCanonical(row.event, row.sessionLeadId) : null;
}

/** A position as an opaque cursor (base64url JSON), and back; null for a cursor that is not one. */
export function encodeCursor(position: Position): string {
  return Buffer.from(JSON.stringify([position.timestamp, position.id])).toString("base64url");
}
export function decodeCursor(cursor: string): Position | null {
  try {
    const value = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8"));
    if (Array.isArray(value) && value.length === 2 && value.every((n) => Number.isSafeInteger(n))) return { timestamp: value[0], id: value[1] };
  } catch {
    // not JSON
  }
  return null;
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
