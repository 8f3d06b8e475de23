import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { SQL } from "bun";
import { CHANGE_CHANNEL, type Change } from "../../src/db/change-feed";
import { notifyChange, PostgresChangeFeed } from "../../src/db/postgres/change-feed";
import { connectPostgres } from "../../src/db/postgres/connect";
import { logger } from "../../src/logger";
import { recordFeed } from "../helpers/feed";
import { createTestDatabase, type TestDatabase } from "../helpers/postgres";
import { tcpProxy } from "../helpers/tcp-proxy";

logger.setLevel("silent");

let database: TestDatabase;
let pool: SQL;
const feeds: PostgresChangeFeed[] = [];
beforeAll(async () => {
  database = await createTestDatabase("change_feed");
  pool = connectPostgres(database.url, { poolSize: 2 });
});
afterAll(async () => {
  await Promise.all(feeds.map((feed) => feed.close()));
  await pool?.close();
  await database?.drop();
});

/** A feed as one instance has it; `name` tells its listening connection apart in pg_stat_activity. */
async function instance(name: string, url = database.url, heartbeat = { intervalMs: 60_000, timeoutMs: 60_000 }): Promise<PostgresChangeFeed> {
  const feed = await PostgresChangeFeed.start({
    url,
    publisher: pool,
    applicationName: `inlet-changes-${name}`,
    backoff: { initialMs: 20, maxMs: 200 },
    heartbeat,
  });
  feeds.push(feed);
  return feed;
}

const isChange = (expected: Change) => (event: { topic: string }) => JSON.stringify(event) === JSON.stringify(expected);

describe("the PostgreSQL change feed", () => {
  test("a change published by one instance reaches the other's listeners, and its own", async () => {
    const a = await instance("a1");
    const b = await instance("b1");
    const heardByA = recordFeed(a);
    const heardByB = recordFeed(b);
    const change: Change = { topic: "key", tenantId: "t1", id: "k1" };
    await a.publish(change);
    await heardByB.next(isChange(change));
    await heardByA.next(isChange(change));
    expect(heardByB.events).toEqual([change]);

    // How long a change takes to arrive, printed for the record (the pool's connection is open by now).
    const latencies: number[] = [];
    for (let i = 0; i < 20; i++) {
      const next: Change = { topic: "tenant", tenantId: `latency-${i}` };
      const started = performance.now();
      await a.publish(next);
      await heardByB.next(isChange(next));
      latencies.push(performance.now() - started);
    }
    latencies.sort((x, y) => x - y);
    console.log(`change feed: publish on A → B's listener, ms: median ${latencies[10].toFixed(2)}, max ${latencies[19].toFixed(2)} (20 changes)`);
  });

  test("a change told without a feed (as the command line does) reaches the listening instances", async () => {
    const b = await instance("b8");
    const heard = recordFeed(b);
    const change: Change = { topic: "suppression", tenantId: "t8", id: "s8" };
    await notifyChange(pool, change);
    expect(await heard.next(() => true)).toEqual(change);
  });

  test("published in a transaction: heard on commit, never after a rollback", async () => {
    const a = await instance("a2");
    const b = await instance("b2");
    const heard = recordFeed(b);
    const dropped: Change = { topic: "tenant", tenantId: "rolled-back" };
    const kept: Change = { topic: "tenant", tenantId: "committed" };
    await pool
      .begin(async (tx) => {
        await a.publish(dropped, tx);
        throw new Error("roll back");
      })
      .catch(() => {});
    await pool.begin(async (tx) => {
      await a.publish(kept, tx);
      // Not before COMMIT: this notification on its own connection arrives first.
      await a.publish({ topic: "suppression", tenantId: "outside" });
      await heard.next((event) => event.topic === "suppression");
    });
    await heard.next(isChange(kept));
    // Notifications arrive in commit order: had the rolled-back one been sent, it would be here by now.
    expect(heard.events).toEqual([{ topic: "suppression", tenantId: "outside" }, kept]);
  });

  test("a dropped listening connection is re-established, with a reset, and changes flow again", async () => {
    const a = await instance("a3");
    const b = await instance("b3");
    const heard = recordFeed(b);
    const before = await listeningBackends("inlet-changes-b3");
    expect(before).toHaveLength(1);

    const [{ terminated }] = await pool`
      SELECT pg_terminate_backend(pid) AS terminated FROM pg_stat_activity
      WHERE application_name = 'inlet-changes-b3' AND query ILIKE 'LISTEN%'`;
    expect(terminated).toBe(true);
    await heard.next((event) => event.topic === "reset");
    expect(b.listening).toBe(true);
    expect(b.reconnects).toBe(1);

    const later: Change = { topic: "key", tenantId: "t3", id: "k3" };
    const mark = heard.events.length;
    await a.publish(later);
    await heard.next(isChange(later), { from: mark });
    const after = await listeningBackends("inlet-changes-b3");
    expect(after).toHaveLength(1);
    expect(after[0]).not.toBe(before[0]);
  });

  test("while the server cannot be reached it keeps trying, then resets once it listens again", async () => {
    const url = new URL(database.url);
    const proxy = tcpProxy({ hostname: url.hostname, port: Number(url.port || 5432) });
    try {
      url.port = String(proxy.port);
      const b = await instance("b4", url.href);
      const heard = recordFeed(b);
      proxy.cut();
      await proxy.refusals(3); // three attempts, each refused
      expect(b.listening).toBe(false);
      expect(heard.events).toEqual([]);
      proxy.open();
      await heard.next((event) => event.topic === "reset");
      const later: Change = { topic: "suppression", tenantId: "t4", id: "s4" };
      await (await instance("a4")).publish(later);
      await heard.next(isChange(later));
    } finally {
      proxy.stop();
    }
  });

  test("a connection that goes silent without closing is noticed by the heartbeat, and replaced", async () => {
    const url = new URL(database.url);
    const proxy = tcpProxy({ hostname: url.hostname, port: Number(url.port || 5432) });
    try {
      url.port = String(proxy.port);
      const b = await instance("b7", url.href, { intervalMs: 50, timeoutMs: 300 });
      const heard = recordFeed(b);
      const before = await listeningBackends("inlet-changes-b7");
      proxy.freeze(); // the server still thinks the connection is fine; nothing reaches it any more
      await heard.next((event) => event.topic === "reset");
      const later: Change = { topic: "tenant", tenantId: "t7" };
      const mark = heard.events.length;
      await (await instance("a7")).publish(later);
      await heard.next(isChange(later), { from: mark });
      const after = await listeningBackends("inlet-changes-b7");
      expect(after.filter((pid) => !before.includes(pid))).toHaveLength(1);
    } finally {
      proxy.stop();
    }
  });

  test("a payload this version does not know flushes everything", async () => {
    const b = await instance("b5");
    const heard = recordFeed(b);
    await pool`SELECT pg_notify(${CHANGE_CHANNEL}, ${JSON.stringify({ topic: "lead", tenantId: "t5" })})`;
    expect(await heard.next(() => true)).toEqual({ topic: "reset", reason: "unknown change" });
  });

  test("closed, it listens no more", async () => {
    const b = await instance("b6");
    expect(await listeningBackends("inlet-changes-b6")).toHaveLength(1);
    await b.close();
    expect(b.listening).toBe(false);
    // The backend may take a moment to leave pg_stat_activity after the socket closed.
    await until(async () => (await listeningBackends("inlet-changes-b6")).length === 0);
  });
});

async function listeningBackends(applicationName: string): Promise<number[]> {
  const rows = await pool`SELECT pid FROM pg_stat_activity WHERE application_name = ${applicationName} AND query ILIKE 'LISTEN%'`;
  return rows.map((row: { pid: number }) => row.pid);
}

/** Polls the database until `condition` holds (there is no event to await for a backend's exit); 5 s guard. */
async function until(condition: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error("condition not met within 5 s");
    await Bun.sleep(20);
  }
}
