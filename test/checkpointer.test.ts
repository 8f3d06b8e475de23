import { expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { existsSync, statSync } from "node:fs";
import { startTestServer, type TestServer } from "./helpers/server";

/** Events in the database once the server has stopped (its last commit done). */
async function storedAfterStop(server: TestServer): Promise<number> {
  await server.running.stop();
  const db = new Database(server.dbPath, { readonly: true });
  try {
    return (db.query("SELECT count(*) AS n FROM events").get() as { n: number }).n;
  } finally {
    db.close();
  }
}

test("WAL checkpoints happen off the request thread: committed pages reach the database file while the server runs", async () => {
  const server = await startTestServer();
  try {
    const before = statSync(server.dbPath).size;
    const batch = Array.from({ length: 500 }, (_, i) => ({ type: "track", event: "Filler", anonymousId: `v${i}`, properties: { pad: "x".repeat(400) } }));
    for (let i = 0; i < 4; i++) expect((await server.post("/v1/events/batch", { batch })).status).toBe(200);
    // The server's own connection never checkpoints (wal_autocheckpoint = 0); only the worker can
    // have copied these pages into the main file.
    let after = before;
    // (A pass may land between two commits and copy part of it: wait for all of it.)
    for (let i = 0; i < 100 && after <= before + 500 * 1024; i++) {
      await Bun.sleep(50);
      after = statSync(server.dbPath).size;
    }
    expect(after).toBeGreaterThan(before + 500 * 1024);
  } finally {
    await server.stop();
  }
});

test("under steady load the WAL file stays near WAL_LIMIT_MB instead of growing without end, and every acknowledged event is stored", async () => {
  const server = await startTestServer({ WAL_LIMIT_MB: "1", RATE_LIMIT_RPS: "0", RATE_LIMIT_EPS: "0" });
  try {
    const wal = `${server.dbPath}-wal`;
    const walSize = () => (existsSync(wal) ? statSync(wal).size : 0);
    // A WAL that never starts over holds every page committed, so it would outgrow this bound
    // once the events' own bytes exceed it; the senders go on until they do.
    const bound = 40 * 1024 * 1024;
    const padding = 1000;
    let acknowledged = 0;
    let largestWal = 0;
    let batches = 0;
    const deadline = Date.now() + 30_000;
    // Four senders back to back keep a group commit running at all times, as a loaded server
    // does; PASSIVE checkpoints alone then never catch up and SQLite never rewinds the WAL.
    const sender = async (id: number) => {
      while (acknowledged * padding < bound * 1.25 && Date.now() < deadline) {
        const batch = Array.from({ length: 100 }, (_, i) => ({
          type: "track",
          event: "Filler",
          anonymousId: `s${id}-${batches}-${i}`,
          properties: { pad: "x".repeat(padding) },
        }));
        batches++;
        const response = await server.post("/v1/events/batch", { batch });
        expect(response.status).toBe(200);
        acknowledged += batch.length;
        largestWal = Math.max(largestWal, walSize());
      }
    };
    await Promise.all([0, 1, 2, 3].map(sender));
    expect(acknowledged * padding).toBeGreaterThan(bound);
    expect(largestWal).toBeLessThan(bound);
    expect(await storedAfterStop(server)).toBe(acknowledged);
  } finally {
    await server.stop();
  }
}, 40_000);

test("a WAL file that grew past WAL_LIMIT_MB in a burst is cut back to the limit afterwards, and nothing acknowledged is lost", async () => {
  const server = await startTestServer({ WAL_LIMIT_MB: "1", RATE_LIMIT_RPS: "0", RATE_LIMIT_EPS: "0" });
  try {
    const wal = `${server.dbPath}-wal`;
    const walSize = () => (existsSync(wal) ? statSync(wal).size : 0);
    let acknowledged = 0;
    const send = async (items: number, padding: number) => {
      const batch = Array.from({ length: items }, (_, i) => ({
        type: "track",
        event: "Filler",
        anonymousId: `b${acknowledged}-${i}`,
        properties: { pad: "x".repeat(padding) },
      }));
      expect((await server.post("/v1/events/batch", { batch })).status).toBe(200);
      acknowledged += items;
    };
    // A reader on an old snapshot keeps every frame in the WAL: the burst grows the file far past the limit.
    const reader = new Database(server.dbPath, { readonly: true });
    reader.run("BEGIN");
    reader.query("SELECT count(*) FROM events").get();
    const burst = 8 * 1024 * 1024;
    while (walSize() < burst) await send(100, 1000);
    reader.run("COMMIT");
    reader.close();
    // Once the reader is gone the WAL rewinds, and the file is cut back (in steps between commits).
    const deadline = Date.now() + 20_000;
    // (Light traffic meanwhile: each commit writes whole pages, and a WAL that cannot rewind yet grows with them.)
    while (walSize() > 2 * 1024 * 1024 && Date.now() < deadline) {
      await send(1, 10);
      await Bun.sleep(20);
    }
    expect(walSize()).toBeLessThanOrEqual(2 * 1024 * 1024);
    expect(await storedAfterStop(server)).toBe(acknowledged);
  } finally {
    await server.stop();
  }
}, 40_000);
