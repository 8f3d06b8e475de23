import { afterAll, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { cli, TEST_STORE, tempDir, testStore } from "./helpers/server";
import { spawnServer } from "./helpers/process";
import { storedEventsOf, storeSessionsOutOfStep } from "./reliability/stored";

const dir = tempDir();
afterAll(() => rmSync(dir, { recursive: true, force: true }));

test("SIGTERM with requests in flight: every acknowledged event is committed, session numbers are written, every answered request logged, and it exits 0", async () => {
  const store = await testStore(dir, "shutdown");
  const tenant = JSON.parse((await cli(["tenant", "create", "t"], store.env)).stdout);
  const server = await spawnServer(store.env);
  const acknowledged: string[] = [];
  let failed = 0;
  let sent = 0;
  let stop = false;
  let stopAt = 0;

  const worker = async (w: number) => {
    // Keep sending for a while after SIGTERM: those requests race the shutdown.
    for (let i = 0; !stop || Date.now() - stopAt < 1500; i++) {
      const messageId = `w${w}-${i}`;
      sent++;
      try {
        const res = await fetch(`${server.url}/v1/events/track`, {
          method: "POST",
          headers: { authorization: `Bearer ${tenant.key}`, "x-request-id": messageId },
          body: JSON.stringify({ event: "Load", anonymousId: `v${w}`, messageId }),
        });
        if (res.ok) acknowledged.push(messageId);
        else {
          // A clean refusal while shutting down is allowed; it must not claim success.
          expect(res.status).toBeGreaterThanOrEqual(500);
          failed++;
        }
        await res.arrayBuffer().catch(() => {});
      } catch {
        failed++; // connection refused or closed: allowed
        if (stop) return;
      }
    }
  };
  const workers = Array.from({ length: 20 }, (_, w) => worker(w));
  // SIGTERM once the load runs, however slow the machine: some events acknowledged before it.
  while (acknowledged.length <= 20) await Bun.sleep(10);
  server.proc.kill("SIGTERM");
  stop = true;
  stopAt = Date.now();
  await Promise.all(workers);
  const code = await server.proc.exited;
  expect(code).toBe(0);

  const stored = await storedEventsOf(store.path);
  for (const id of acknowledged) expect(stored.counts.get(id)).toBe(1);
  // SQLite's own verdict on the file (PostgreSQL's files are not Inlet's to check).
  if (TEST_STORE === "sqlite") expect(stored.integrity).toBe("ok");
  // The numbers of the active sessions were in memory until the stop (SQLite; PostgreSQL writes them
  // with each commit): written by it, no restart needed.
  expect(await storeSessionsOutOfStep(store.path)).toEqual([]);
  await store.drop();
  // Each answered request has its log line, the last ones (answered while the server stopped) too.
  await server.waitFor(/"msg":"stopped"/);
  const logged = new Set(
    server
      .output()
      .split("\n")
      .filter((line) => line.includes('"msg":"request"'))
      .map((line) => JSON.parse(line) as { requestId: string; status: number })
      .filter((line) => line.status === 200)
      .map((line) => line.requestId),
  );
  expect(acknowledged.filter((id) => !logged.has(id))).toEqual([]);
  console.log(`shutdown test: ${sent} sent, ${acknowledged.length} acknowledged and stored, ${failed} refused or cut off`);
});

// SQLite's session write-behind: on PostgreSQL a session's numbers are written in the commit of its events.
test.skipIf(TEST_STORE === "postgres")(
  "a stop that cannot write acknowledged session numbers says why, once, and exits 1 instead of logging 'stopped'",
  async () => {
    const db = join(dir, "unwritable-sessions.db");
    const tenant = JSON.parse((await cli(["tenant", "create", "t"], { INLET_DB: db })).stdout);
    const server = await spawnServer({ INLET_DB: db });
    // Session rows can be inserted but no longer updated: the numbers of an ongoing session stay in memory.
    const sqlite = new Database(db);
    sqlite.run("CREATE TRIGGER no_session_updates BEFORE UPDATE ON sessions BEGIN SELECT RAISE(ABORT, 'session rows are frozen'); END");
    sqlite.close();
    for (const messageId of ["m1", "m2"]) {
      const res = await fetch(`${server.url}/v1/events/track`, {
        method: "POST",
        headers: { authorization: `Bearer ${tenant.key}` },
        body: JSON.stringify({ event: "Load", anonymousId: "v", messageId }),
      });
      expect(res.status).toBe(200);
    }
    server.proc.kill("SIGTERM");
    expect(await server.proc.exited).toBe(1);
    const lines = server
      .output()
      .split("\n")
      .filter((line) => line.startsWith("{"))
      .map((line) => JSON.parse(line) as { msg: string; error?: unknown });
    const failed = lines.filter((line) => line.msg === "shutdown failed");
    expect(failed).toHaveLength(1);
    expect(JSON.stringify(failed[0]!.error)).toContain("session rows are frozen");
    expect(lines.some((line) => line.msg === "stopped")).toBe(false);
  },
);
