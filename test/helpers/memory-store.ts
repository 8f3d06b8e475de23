/** For unit tests of the pipeline's steps: a migrated database in memory, one tenant, its visitor store. */
import { openDatabase, type DatabaseHandle } from "../../src/db/client";
import { TenantService } from "../../src/modules/tenants/service";
import { VisitorStore } from "../../src/db/sqlite/visitors";

export const T0 = Date.parse("2026-11-20T12:00:00.000Z");

export interface MemoryStore {
  database: DatabaseHandle;
  tenantId: string;
  visitors: VisitorStore;
}

export function memoryStore(): MemoryStore {
  const database = openDatabase(":memory:");
  return { database, tenantId: new TenantService(database.db).createTenant("unit").tenantId, visitors: new VisitorStore(database.db, 100) };
}
