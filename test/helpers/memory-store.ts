/** For unit tests of the pipeline's steps: a migrated database in memory, one tenant, its visitor store. */
import { openDatabase, type DatabaseHandle } from "../../src/db/client";
import { TenantService } from "../../src/modules/tenants/service";
import { SqliteTenantStore } from "../../src/db/sqlite/tenants";
import { VisitorStore } from "../../src/db/sqlite/visitors";

export const T0 = Date.parse("2026-11-20T12:00:00.000Z");

export interface MemoryStore {
  database: DatabaseHandle;
  tenantId: string;
  visitors: VisitorStore;
}

export async function memoryStore(): Promise<MemoryStore> {
  const database = openDatabase(":memory:");
  const { tenantId } = await new TenantService(new SqliteTenantStore(database.db)).createTenant("unit");
  return { database, tenantId, visitors: new VisitorStore(database.db, 100) };
}
