/**
 * Business metrics of tenants over a time window, counted in SQLite: events per minute, new
 * visitors, sessions, and identify conversion (of the visitors new in the window, the share
 * linked to a lead now).
 *
 * Events count by their (skew-corrected) timestamp: the seconds wholly inside the window from the
 * events_tenant_second index alone, the two seconds at its edges row by row.
 * Visitors and sessions count by when Inlet created them: their ids are UUIDv7, whose first 48
 * bits are the creation time in ms, so ids compare as strings in creation order and a window is a
 * range of the primary key's index. For live traffic that is when their first event arrived.
 * This adds no index to the ingestion path: an index on (tenant, first_seen_at/started_at) would
 * be rewritten by every event's update of its visitor and session, and even one on (tenant, id)
 * cost the track benchmark about 4% (every new visitor and session pays an insert into it). The
 * price is paid here instead: one range scan over every tenant's visitors and sessions created in
 * the window, grouped by tenant, so its cost grows with the window's new rows, not with the table.
 */
import { and, count, eq, gt, gte, lt, lte, sql } from "drizzle-orm";
import type { Db } from "../db/client";
import { events, eventSecond, secondOf, sessions, visitors } from "../db/schema";

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

interface Created {
  visitors: number;
  identified: number;
  sessions: number;
}

export class BusinessStats {
  private readonly queries;

  constructor(db: Db) {
    // UUIDv7 bounds: ids created in [from, to] are >= firstId and < pastId.
    const firstId = sql.placeholder("firstId");
    const pastId = sql.placeholder("pastId");
    this.queries = {
      eventsInside: db
        .select({ n: count() })
        .from(events)
        .where(
          and(eq(events.tenantId, sql.placeholder("tenantId")), gt(eventSecond, sql.placeholder("fromSecond")), lt(eventSecond, sql.placeholder("toSecond"))),
        )
        .prepare(),
      eventsAtEdges: db
        .select({ n: count() })
        .from(events)
        .where(
          and(
            eq(events.tenantId, sql.placeholder("tenantId")),
            sql`${eventSecond} IN (${sql.placeholder("fromSecond")}, ${sql.placeholder("toSecond")})`,
            gte(events.timestamp, sql.placeholder("from")),
            lte(events.timestamp, sql.placeholder("to")),
          ),
        )
        .prepare(),
      visitors: db
        .select({ tenantId: visitors.tenantId, n: count(), identified: count(visitors.leadId) })
        .from(visitors)
        .where(and(gte(visitors.id, firstId), lt(visitors.id, pastId)))
        .groupBy(visitors.tenantId)
        .prepare(),
      sessions: db
        .select({ tenantId: sessions.tenantId, n: count() })
        .from(sessions)
        .where(and(gte(sessions.id, firstId), lt(sessions.id, pastId)))
        .groupBy(sessions.tenantId)
        .prepare(),
    };
  }

  /** One tenant's activity in [from, to] (ms since the epoch). */
  activity(tenantId: string, from: number, to: number): Activity {
    return this.summarize(tenantId, from, to, this.created(from, to));
  }

  /** The activity of each of `tenantIds` in [from, to], with one scan of the window's new rows. */
  allTenants(tenantIds: readonly string[], from: number, to: number): { tenantId: string; activity: Activity }[] {
    const created = this.created(from, to);
    return tenantIds.map((tenantId) => ({ tenantId, activity: this.summarize(tenantId, from, to, created) }));
  }

  /** The SQL of each count, for checking its query plan. */
  statements(): Record<"eventsInside" | "eventsAtEdges" | "visitors" | "sessions", string> {
    const q = this.queries;
    return {
      eventsInside: q.eventsInside.getQuery().sql,
      eventsAtEdges: q.eventsAtEdges.getQuery().sql,
      visitors: q.visitors.getQuery().sql,
      sessions: q.sessions.getQuery().sql,
    };
  }

  /** Events of the tenant with a timestamp in [from, to]. */
  private eventCount(tenantId: string, from: number, to: number): number {
    const seconds = { tenantId, fromSecond: secondOf(from), toSecond: secondOf(to) };
    return this.queries.eventsInside.get(seconds)!.n + this.queries.eventsAtEdges.get({ ...seconds, from, to })!.n;
  }

  /** Visitors and sessions created in [from, to], by tenant. */
  private created(from: number, to: number): Map<string, Created> {
    const range = { firstId: uuidv7Floor(from), pastId: uuidv7Floor(to + 1) };
    const byTenant = new Map<string, Created>();
    const entry = (tenantId: string) => {
      let found = byTenant.get(tenantId);
      if (!found) byTenant.set(tenantId, (found = { visitors: 0, identified: 0, sessions: 0 }));
      return found;
    };
    for (const row of this.queries.visitors.all(range)) Object.assign(entry(row.tenantId), { visitors: row.n, identified: row.identified });
    for (const row of this.queries.sessions.all(range)) entry(row.tenantId).sessions = row.n;
    return byTenant;
  }

  private summarize(tenantId: string, from: number, to: number, created: Map<string, Created>): Activity {
    const eventCount = this.eventCount(tenantId, from, to);
    const { visitors: newVisitors, identified, sessions: sessionCount } = created.get(tenantId) ?? { visitors: 0, identified: 0, sessions: 0 };
    const minutes = Math.max(1, (to - from) / 60_000);
    return {
      events: eventCount,
      eventsPerMinute: Math.round((eventCount / minutes) * 100) / 100,
      newVisitors,
      identifiedVisitors: identified,
      identifyConversion: newVisitors === 0 ? 0 : Math.round((identified / newVisitors) * 10_000) / 10_000,
      sessions: sessionCount,
    };
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
