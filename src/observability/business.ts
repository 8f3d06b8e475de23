/**
 * Business metrics of a tenant over a time window, counted in SQLite: events per minute, new
 * visitors, sessions, and identify conversion (of the visitors new in the window, the share
 * linked to a lead now). Each count is one index-only range query (events_tenant_time,
 * visitors_tenant_id, sessions_tenant_id), so its cost grows with the rows in the window, not
 * with the table, and none of those indexes is touched by the per-event updates of visitors and
 * sessions (which would cost every event an index rewrite).
 *
 * Events count by their (skew-corrected) timestamp. Visitors and sessions count by when Inlet
 * created them: their ids are UUIDv7, whose first 48 bits are the creation time in ms, so ids
 * compare as strings in creation order. For live traffic that is when their first event arrived.
 */
import { and, count, eq, gte, lt, lte, sql } from "drizzle-orm";
import type { Db } from "../db/client";
import { events, sessions, visitors } from "../db/schema";

export interface Activity {
  /** Events with a timestamp in the window. */
  events: number;
  eventsPerMinute: number;
  /** Visitors created (first seen by Inlet) in the window. */
  newVisitors: number;
  /** Of those, the ones linked to a lead now. */
  identifiedVisitors: number;
  /** identifiedVisitors / newVisitors (0 without new visitors). */
  identifyConversion: number;
  /** Sessions created (started) in the window. */
  sessions: number;
}

export class BusinessStats {
  private readonly queries;

  constructor(db: Db) {
    const tenant = sql.placeholder("tenantId");
    const from = sql.placeholder("from");
    const to = sql.placeholder("to");
    // UUIDv7 bounds: ids created in [from, to] are >= firstId and < pastId.
    const firstId = sql.placeholder("firstId");
    const pastId = sql.placeholder("pastId");
    this.queries = {
      events: db
        .select({ n: count() })
        .from(events)
        .where(and(eq(events.tenantId, tenant), gte(events.timestamp, from), lte(events.timestamp, to)))
        .prepare(),
      visitors: db
        .select({ n: count(), identified: count(visitors.leadId) })
        .from(visitors)
        .where(and(eq(visitors.tenantId, tenant), gte(visitors.id, firstId), lt(visitors.id, pastId)))
        .prepare(),
      sessions: db
        .select({ n: count() })
        .from(sessions)
        .where(and(eq(sessions.tenantId, tenant), gte(sessions.id, firstId), lt(sessions.id, pastId)))
        .prepare(),
    };
  }

  /** The tenant's activity in [from, to] (ms since the epoch). */
  activity(tenantId: string, from: number, to: number): Activity {
    const window = { tenantId, from, to, firstId: uuidv7Floor(from), pastId: uuidv7Floor(to + 1) };
    const eventCount = this.queries.events.get(window)!.n;
    const visitorCounts = this.queries.visitors.get(window)!;
    const minutes = Math.max(1, (to - from) / 60_000);
    return {
      events: eventCount,
      eventsPerMinute: Math.round((eventCount / minutes) * 100) / 100,
      newVisitors: visitorCounts.n,
      identifiedVisitors: visitorCounts.identified,
      identifyConversion: visitorCounts.n === 0 ? 0 : Math.round((visitorCounts.identified / visitorCounts.n) * 10_000) / 10_000,
      sessions: this.queries.sessions.get(window)!.n,
    };
  }

  /** The SQL of each count, for checking its query plan. */
  statements(): { events: string; visitors: string; sessions: string } {
    const { events: e, visitors: v, sessions: s } = this.queries;
    return { events: e.getQuery().sql, visitors: v.getQuery().sql, sessions: s.getQuery().sql };
  }
}

/** The smallest UUIDv7 created at `ms` or later (its 48-bit ms timestamp, as the id's first hex digits). */
export function uuidv7Floor(ms: number): string {
  const hex = Math.floor(ms).toString(16).padStart(12, "0");
  return `${hex.slice(0, 8)}-${hex.slice(8)}`;
}

/** Parses a window like `15m`, `1h`, `24h`, `7d` into ms; null when malformed. */
export function parseWindow(text: string): number | null {
  const match = /^(\d{1,4})([mhd])$/.exec(text);
  if (!match) return null;
  const unit = { m: 60_000, h: 3_600_000, d: 86_400_000 }[match[2] as "m" | "h" | "d"];
  return Number(match[1]) * unit;
}
