/**
 * A fresh PostgreSQL database per test file, created on the server named by PG_TEST_URL
 * (default: the local server on 127.0.0.1:5432, as .ci/run starts it) and dropped afterwards.
 */
import { SQL } from "bun";
import type { DatabaseHandle } from "../../src/db/client";
import { readStoresOf, type Storage } from "../../src/db/storage";
import { type ExportFilter, ExportService } from "../../src/modules/export/service";
import { LeadService } from "../../src/modules/leads/service";
import { BusinessStats } from "../../src/observability/business";

export const PG_ADMIN_URL = process.env.PG_TEST_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";

export interface TestDatabase {
  url: string;
  name: string;
  drop(): Promise<void>;
}

/** Why the server at PG_ADMIN_URL cannot be used (it does not answer `SELECT 1` within a few seconds), or null when it can. */
export async function postgresUnreachable(): Promise<string | null> {
  const admin = new SQL({ url: PG_ADMIN_URL, max: 1, connectionTimeout: 5 });
  try {
    await admin`SELECT 1`;
    return null;
  } catch (error) {
    return `${new URL(PG_ADMIN_URL).host} does not answer (${(error as Error).message})`;
  } finally {
    await admin.close({ timeout: 0 }).catch(() => {});
  }
}

export async function createTestDatabase(label: string): Promise<TestDatabase> {
  const name = `inlet_${label.replace(/\W/g, "_")}_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
  const admin = new SQL({ url: PG_ADMIN_URL, max: 1 });
  await admin.unsafe(`CREATE DATABASE "${name}"`);
  await admin.close();
  const url = new URL(PG_ADMIN_URL);
  url.pathname = `/${name}`;
  return {
    url: url.href,
    name,
    async drop() {
      const again = new SQL({ url: PG_ADMIN_URL, max: 1 });
      await again.unsafe(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      await again.close();
    },
  };
}

/**
 * A page once no transaction older than its events is in flight: the server is shared (other
 * databases' transactions count too), so a page may be held back for a moment.
 */
export async function settledPage(exports: ExportService, filter: ExportFilter, limit: number) {
  for (let attempt = 0; ; attempt++) {
    const page = await exports.readEvents(filter, limit);
    if (!page.heldBack || attempt === 2000) return page;
    await Bun.sleep(2);
  }
}

/** The read side's services over the SQLite database or the PostgreSQL pool given, as the composition root builds them. */
export function readServices(store: { database: DatabaseHandle } | { sql: SQL }) {
  // readStoresOf reads only the kind, the database or pool of a Storage, and PostgreSQL's timeout.
  const storage = ("sql" in store ? { kind: "postgres", sql: store.sql, timeoutMs: 10_000 } : { kind: "sqlite", database: store.database }) as Storage;
  const reads = readStoresOf(storage);
  return { leads: new LeadService(reads.leads), exports: new ExportService(reads.events), business: new BusinessStats(reads.activity) };
}
