/**
 * The business counts in SQLite (src/db/read-store.ts), index-only.
 *
 * Events count by their (skew-corrected) timestamp: the seconds wholly inside the window from the
 * events_tenant_second index alone, the two seconds at its edges row by row.
 * Visitors and sessions count by when Inlet created them: their ids are UUIDv7, whose first 48
 * bits are the creation time in ms, so ids compare as strings in creation order and a window is a
 * range of the primary key's index. This adds no index to the ingestion path: an index on
 * (tenant, first_seen_at/started_at) would be rewritten by every event's update of its visitor and
 * session, and even one on (tenant, id) cost the track benchmark about 4% (every new visitor and
 * session pays an insert into it). The price is paid here instead: one range scan over every
 * tenant's visitors and sessions created in the window, grouped by tenant, so its cost grows with
 * the window's new rows, not with the table.
 */
import { and, count, eq, gt, gte, lt, lte, sql } from "drizzle-orm";
import type { Db } from "../client";
import { uuidv7Floor, type ActivityStore, type CreatedCounts } from "../read-store";
import { events, eventSecond, secondOf, sessions, visitors } from "../schema";

export class SqliteActivity implements ActivityStore {
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

  async eventCount(tenantId: string, from: number, to: number): Promise<number> {
    const seconds = { tenantId, fromSecond: secondOf(from), toSecond: secondOf(to) };
    return this.queries.eventsInside.get(seconds)!.n + this.queries.eventsAtEdges.get({ ...seconds, from, to })!.n;
  }

  /** Every tenant's new rows in one scan (`tenantIds` does not narrow it: the id index leads with time). */
  async created(_tenantIds: readonly string[], from: number, to: number): Promise<Map<string, CreatedCounts>> {
    const range = { firstId: uuidv7Floor(from), pastId: uuidv7Floor(to + 1) };
    const byTenant = new Map<string, CreatedCounts>();
    const entry = (tenantId: string) => {
      let found = byTenant.get(tenantId);
      if (!found) byTenant.set(tenantId, (found = { visitors: 0, identified: 0, sessions: 0 }));
      return found;
    };
    for (const row of this.queries.visitors.all(range)) Object.assign(entry(row.tenantId), { visitors: row.n, identified: row.identified });
    for (const row of this.queries.sessions.all(range)) entry(row.tenantId).sessions = row.n;
    return byTenant;
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
}
