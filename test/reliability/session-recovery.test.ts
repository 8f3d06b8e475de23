/**
 * Session numbers of acknowledged events are not lost when the process dies. On SQLite they may
 * be in memory only (the write-behind, src/pipeline/sessions/write-behind.ts): the server counts
 * the events above the stored watermark into their sessions when it starts again. On PostgreSQL
 * they are written as increments in the commit of their events, so nothing is left to count and
 * a start counts nothing (no watermark of ids, which commit there out of order).
 * The "crash" here is a process that exits without closing anything after its events were
 * acknowledged, which is what SIGKILL leaves (test/reliability/crash.test.ts does it with a real SIGKILL).
 */
import { afterAll, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { createServices } from "../../src/app";
import { loadConfig } from "../../src/config";
import { openStorage } from "../../src/db/storage";
import { repoRoot, TEST_STORE, tempDir, testStore } from "../helpers/server";
import { storeRows } from "../helpers/store-rows";
import { storeSessionsOutOfStep } from "./stored";

const dir = tempDir("inlet-recovery-");
const store = await testStore(dir, "recovery");
afterAll(async () => {
  await store.drop();
  rmSync(dir, { recursive: true, force: true });
});
const env = { ...store.env, LOG_LEVEL: "silent" };
const config = loadConfig(env);
const base = Date.parse("2026-11-20T12:00:00.000Z");

async function sessionRow(): Promise<Record<string, number>> {
  const [row] = await storeRows(store.path, "SELECT event_count, last_event_at, anonymous_events FROM sessions");
  return row as Record<string, number>;
}

/** Opens the store and its services as a server does (a start), then closes them. */
async function startAndClose(): Promise<void> {
  const storage = await openStorage(config);
  const services = createServices(config, storage.kind === "sqlite" ? storage.database : storage);
  await services.recorder.close();
  services.enricher.close();
  await storage.close();
}

/** Runs in a child process that exits without closing anything, as a killed server would. */
const writeThenDie = `
  import { createServices } from "${join(repoRoot, "src/app")}";
  import { loadConfig } from "${join(repoRoot, "src/config")}";
  import { openStorage } from "${join(repoRoot, "src/db/storage")}";
  const config = loadConfig(${JSON.stringify(env)});
  const storage = await openStorage(config);
  const services = createServices(config, storage.kind === "sqlite" ? storage.database : storage);
  await services.suppressions.ready;
  const tenant = await services.tenants.createTenant("recovery");
  const auth = { tenantId: tenant.tenantId, keyId: tenant.keyId, settings: await services.tenants.getSettings(tenant.tenantId) };
  for (let i = 0; i < 4; i++) {
    const call = { type: "track", event: "View", anonymousId: "v", messageId: "m" + i, timestamp: new Date(${base} + i * 60000).toISOString() };
    await services.pipeline.ingest(auth, [{ call }], { receivedAt: Date.now() }, { peerIp: null, header: () => null });
  }
  console.log(JSON.stringify({ pending: services.sqlite?.sessions.pending ?? false }));
  process.exit(0);
`;

test("session counts of acknowledged events survive a crash: recounted from the events at the next start on SQLite, never held back on PostgreSQL", async () => {
  const child = Bun.spawnSync(["bun", "-e", writeThenDie], { stderr: "pipe" });
  expect({ code: child.exitCode, stderr: child.stderr.toString() }).toEqual({ code: 0, stderr: "" });
  if (TEST_STORE === "sqlite") {
    // Acknowledged, and the session row still says one event: the other three were in memory.
    expect(JSON.parse(child.stdout.toString())).toEqual({ pending: true });
    expect(await sessionRow()).toMatchObject({ event_count: 1, last_event_at: base });
  } else {
    // Written with each commit: nothing was in memory.
    expect(JSON.parse(child.stdout.toString())).toEqual({ pending: false });
    expect(await sessionRow()).toEqual({ event_count: 4, last_event_at: base + 3 * 60_000, anonymous_events: 4 });
  }

  for (let start = 0; start < 2; start++) {
    // Counted once: the second start finds nothing more to add.
    await startAndClose();
    expect(await sessionRow()).toEqual({ event_count: 4, last_event_at: base + 3 * 60_000, anonymous_events: 4 });
    expect(await storeSessionsOutOfStep(store.path)).toEqual([]);
  }
});
