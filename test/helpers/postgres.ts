/**
 * A fresh PostgreSQL database per test file, created on the server named by PG_TEST_URL
 * (default: the local server on 127.0.0.1:5432, as .ci/run starts it) and dropped afterwards.
 */
import { SQL } from "bun";

export const PG_ADMIN_URL = process.env.PG_TEST_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";

export interface TestDatabase {
  url: string;
  name: string;
  drop(): Promise<void>;
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
