/**
 * Inlet's services in this process, on a fresh SQLite file in a temp directory, with one tenant,
 * for the benchmarks that call the pipeline or the app directly (bench/pipeline.ts, bench/handle.ts).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createServices } from "../../src/app";
import { loadConfig } from "../../src/config";
import { startCheckpointer } from "../../src/db/checkpointer";
import { openDatabase } from "../../src/db/client";

export function startInProcess(name: string, env: Record<string, string>) {
  const dir = mkdtempSync(join(tmpdir(), `inlet-${name}-`));
  const config = loadConfig({ INLET_DB: join(dir, `${name}.db`), RATE_LIMIT_RPS: "0", RATE_LIMIT_EPS: "0", ...env });
  const database = openDatabase(config.db, { synchronous: config.synchronous });
  const services = createServices(config, database);
  const checkpointer = startCheckpointer(database.sqlite, config.db, { writer: services.writer, walLimitBytes: config.walLimitMb * 1024 * 1024 });
  const tenant = services.tenants.createTenant("bench");
  const auth = { tenantId: tenant.tenantId, keyId: tenant.keyId, settings: services.tenants.getSettings(tenant.tenantId) };
  return {
    config,
    services,
    tenant,
    auth,
    /** Commits what is queued, closes everything and removes the temp directory. */
    async close(): Promise<void> {
      await services.writer.close();
      services.enricher.close();
      await checkpointer.stop();
      database.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
