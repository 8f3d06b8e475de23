/**
 * Session numbers that were only in memory when the process died are not lost: the server
 * counts the events above the stored watermark into their sessions when it starts again.
 * The "crash" here is the database closed under a writer that still holds unwritten numbers,
 * which is what SIGKILL leaves (test/reliability/crash.test.ts does it with a real SIGKILL).
 */
import { afterAll, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { createServices } from "../../src/app";
import { loadConfig } from "../../src/config";
import { openDatabase } from "../../src/db/client";
import { repoRoot, tempDir } from "../helpers/server";
import { sessionsOutOfStep } from "./stored";

const dir = tempDir("inlet-recovery-");
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const config = loadConfig({ INLET_DB: join(dir, "r.db"), LOG_LEVEL: "silent" });
const base = Date.parse("2026-11-20T12:00:00.000Z");

function sessionRow(): Record<string, number> {
  const db = new Database(config.db, { readonly: true });
  try {
    return db.query("SELECT event_count, last_event_at, anonymous_events FROM sessions").get() as Record<string, number>;
  } finally {
    db.close();
  }
}

/** Runs in a child process that exits without closing anything, as a killed server would. */
const writeThenDie = (dbPath: string) => `
  import { createServices } from "${join(repoRoot, "src/app")}";
  import { loadConfig } from "${join(repoRoot, "src/config")}";
  import { openDatabase } from "${join(repoRoot, "src/db/client")}";
  const config = loadConfig({ INLET_DB: ${JSON.stringify(dbPath)}, LOG_LEVEL: "silent" });
  const services = createServices(config, openDatabase(config.db));
  const tenant = await services.tenants.createTenant("recovery");
  const auth = { tenantId: tenant.tenantId, keyId: tenant.keyId, settings: await services.tenants.getSettings(tenant.tenantId) };
  for (let i = 0; i < 4; i++) {
    const call = { type: "track", event: "View", anonymousId: "v", messageId: "m" + i, timestamp: new Date(${base} + i * 60000).toISOString() };
    await services.pipeline.ingest(auth, [{ call }], { receivedAt: Date.now() }, { peerIp: null, header: () => null });
  }
  console.log(JSON.stringify({ pending: services.sqlite!.sessions.pending }));
  process.exit(0);
`;

test("session counts held in memory at a crash are recovered from the events at the next start", async () => {
  const child = Bun.spawnSync(["bun", "-e", writeThenDie(config.db)], { stderr: "pipe" });
  expect(child.exitCode).toBe(0);
  // Acknowledged, and the session row still says one event: the other three were in memory.
  expect(JSON.parse(child.stdout.toString())).toEqual({ pending: true });
  expect(sessionRow()).toMatchObject({ event_count: 1, last_event_at: base });

  for (let start = 0; start < 2; start++) {
    // Counted once: the second start finds nothing more to add.
    const database = openDatabase(config.db);
    const services = createServices(config, database);
    services.sqlite!.writer.close();
    services.enricher.close();
    database.close();
    expect(sessionRow()).toEqual({ event_count: 4, last_event_at: base + 3 * 60_000, anonymous_events: 4 });
    expect(sessionsOutOfStep(config.db)).toEqual([]);
  }
});
