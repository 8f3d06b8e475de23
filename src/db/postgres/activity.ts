/**
 * The business counts in PostgreSQL (src/db/read-store.ts), each a range of an index: events of a
 * tenant by timestamp on events_tenant_timestamp; visitors and sessions created in the window by
 * their UUIDv7 ids (whose first 48 bits are the creation time, see src/db/sqlite/activity.ts) on
 * the primary keys, which lead with tenant_id, so the window is one range per tenant asked for.
 * (Ids are lower-case hex with hyphens at fixed places, so they sort alike in any collation.)
 */
import type { SQL } from "bun";
import { uuidv7Floor, type ActivityStore, type CreatedCounts } from "../read-store";

export class PostgresActivity implements ActivityStore {
  constructor(private readonly sql: SQL) {}

  async eventCount(tenantId: string, from: number, to: number): Promise<number> {
    const [row] = await this.sql`
      SELECT count(*) AS n FROM events WHERE tenant_id = ${tenantId} AND timestamp >= ${new Date(from)} AND timestamp <= ${new Date(to)}`;
    return Number(row.n);
  }

  async created(tenantIds: readonly string[], from: number, to: number): Promise<Map<string, CreatedCounts>> {
    const byTenant = new Map<string, CreatedCounts>();
    if (tenantIds.length === 0) return byTenant;
    const firstId = uuidv7Floor(from);
    const pastId = uuidv7Floor(to + 1);
    const tenants = [...tenantIds];
    const [visitors, sessions] = await Promise.all([
      this.sql`
        SELECT tenant_id, count(*) AS n, count(lead_id) AS identified FROM visitors
        WHERE tenant_id = ANY(${tenants}::text[]) AND id >= ${firstId} AND id < ${pastId} GROUP BY tenant_id`,
      this.sql`
        SELECT tenant_id, count(*) AS n FROM sessions
        WHERE tenant_id = ANY(${tenants}::text[]) AND id >= ${firstId} AND id < ${pastId} GROUP BY tenant_id`,
    ]);
    const entry = (tenantId: string) => {
      let found = byTenant.get(tenantId);
      if (!found) byTenant.set(tenantId, (found = { visitors: 0, identified: 0, sessions: 0 }));
      return found;
    };
    // count() is a bigint: a decimal string from Bun's client.
    for (const row of visitors) Object.assign(entry(row.tenant_id), { visitors: Number(row.n), identified: Number(row.identified) });
    for (const row of sessions) entry(row.tenant_id).sessions = Number(row.n);
    return byTenant;
  }
}
