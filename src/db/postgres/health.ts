/** What /ready asks of PostgreSQL: the server answers within the statement timeout, and every migration is applied. */
import type { SQL } from "bun";
import { postgresMigrationsApplied } from "./connect";
import { within } from "./errors";

export function postgresReadiness(sql: SQL, timeoutMs: number) {
  return {
    async checks(): Promise<{ database: boolean; migrations: boolean }> {
      try {
        await within(timeoutMs, sql`SELECT 1`, "The readiness query");
      } catch {
        return { database: false, migrations: false };
      }
      return { database: true, migrations: await within(timeoutMs, postgresMigrationsApplied(sql), "The migrations check").catch(() => false) };
    },
  };
}
