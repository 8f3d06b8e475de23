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

/** "pending" while `promise` has not settled (checked after the microtasks queued so far). */
async function pending(promise: Promise<unknown>): Promise<boolean> {
  return (await Promise.race([promise.then(() => false), new Promise<boolean>((resolve) => setImmediate(() => resolve(true)))])) === true;
}

test("while the WAL is past WAL_LIMIT_MB and about to be drained, writes that can wait are told to (calm() pending); told to go on once it has rewound", async () => {
  const server = await startTestServer({ WAL_LIMIT_MB: "1", RATE_LIMIT_RPS: "0", RATE_LIMIT_EPS: "0" });
  try {
    const store = server.running.services.sqlite!.privacyStore;
    let sent = 0;
    let seenPending: Promise<void> | null = null;
    const deadline = Date.now() + 30_000;
    while (!seenPending && Date.now() < deadline) {
      const batch = Array.from({ length: 100 }, (_, i) => ({
        type: "track",
        event: "Filler",
        anonymousId: `c${sent}-${i}`,
        properties: { pad: "x".repeat(1000) },
      }));
      const posted = server.post("/v1/events/batch", { batch });
      // Looked at while the batch is on its way, many times: the pressure lasts while the passes before a drain run.
      while (!seenPending) {
        const calm = store.calm!();
        if (await pending(calm)) seenPending = calm;
        else if (await Promise.race([posted.then(() => true), Bun.sleep(1).then(() => false)])) break;
      }
      expect((await posted).status).toBe(200);
      sent += 100;
    }
    expect(seenPending).not.toBeNull();
    // It settles by itself (the drain's end, or at the latest its timeout): nothing else is sent meanwhile.
    await seenPending;
    expect(await pending(store.calm!())).toBe(false);
    expect(await storedAfterStop(server)).toBe(sent);
  } finally {
    await server.stop();
  }
}, 40_000);

test("an erasure's deletes wait while writes are told to (the checkpointer's calm()), then run to the end", async () => {
  const server = await startTestServer();
  try {
    const events = Array.from({ length: 20 }, (_, i) => ({ type: "track", event: "Mine", userId: "erase-me", messageId: `mine-${i}` }));
    expect((await server.post("/v1/events/batch", { batch: events })).status).toBe(200);
    const store = server.running.services.sqlite!.privacyStore;
    let open = () => {};
    const gate = new Promise<void>((resolve) => {
      open = resolve;
    });
    let asked = 0;
    store.calm = () => {
      asked++;
      return gate;
    };
    const admin = (await server.running.services.tenants.createKey(server.tenantId, "admin")).key;
    const answer = fetch(`${server.url}/v1/privacy/deletions`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${admin}` },
      body: JSON.stringify({ subject: { userId: "erase-me" } }),
    });
    while (asked === 0) await Bun.sleep(5);
    const count = () =>
      (server.running.services.sqlite!.database.sqlite.query("SELECT count(*) AS n FROM events WHERE user_id = 'erase-me'").get() as { n: number }).n;
    // Asked before its first delete: nothing is deleted yet.
    expect(count()).toBe(20);
    open();
    const receipt = await (await answer).json();
    expect(receipt.deleted.events).toBe(20);
    expect(count()).toBe(0);
  } finally {
    await server.stop();
  }
});
