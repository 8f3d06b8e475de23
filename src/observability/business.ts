/**
 * Business metrics of a tenant over a time window, counted in SQLite: events per minute, new
 * visitors, sessions started, and identify conversion (of the visitors first seen in the window,
 * the share linked to a lead now). Each count is one index-only range query (events_tenant_time,
 * visitors_tenant_first_seen, sessions_tenant_started), so its cost grows with the rows in the
 * window, not with the table.
 *
 * Times are event times (skew-corrected `timestamp`, a visitor's first event, a session's first
 * event), so late events count in the window they belong to.
 */
import { and, count, eq, gte, lte, sql } from "drizzle-orm";
import type { Db } from "../db/client";
import { events, sessions, visitors } from "../db/schema";

export interface Activity {
  /** Events with a timestamp in the window. */
  events: number;
  eventsPerMinute: number;
  /** Visitors whose first event is in the window. */
  newVisitors: number;
  /** Of those, the ones linked to a lead now. */
  identifiedVisitors: number;
  /** identifiedVisitors / newVisitors (0 without new visitors). */
  identifyConversion: number;
  /** Sessions that started in the window. */
  sessions: number;
}

export class BusinessStats {
  private readonly queries;

  constructor(db: Db) {
    const tenant = sql.placeholder("tenantId");
    const from = sql.placeholder("from");
    const to = sql.placeholder("to");
    this.queries = {
      events: db
        .select({ n: count() })
        .from(events)
        .where(and(eq(events.tenantId, tenant), gte(events.timestamp, from), lte(events.timestamp, to)))
        .prepare(),
      visitors: db
        .select({ n: count(), identified: count(visitors.leadId) })
        .from(visitors)
        .where(and(eq(visitors.tenantId, tenant), gte(visitors.firstSeenAt, from), lte(visitors.firstSeenAt, to)))
        .prepare(),
      sessions: db
        .select({ n: count() })
        .from(sessions)
        .where(and(eq(sessions.tenantId, tenant), gte(sessions.startedAt, from), lte(sessions.startedAt, to)))
        .prepare(),
    };
  }

  /** The tenant's activity in [from, to] (ms since the epoch). */
  activity(tenantId: string, from: number, to: number): Activity {
    const window = { tenantId, from, to };
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

/** Parses a window like `15m`, `1h`, `24h`, `7d` into ms; null when malformed. */
export function parseWindow(text: string): number | null {
  const match = /^(\d{1,4})([mhd])$/.exec(text);
  if (!match) return null;
  const unit = { m: 60_000, h: 3_600_000, d: 86_400_000 }[match[2] as "m" | "h" | "d"];
  return Number(match[1]) * unit;
}
