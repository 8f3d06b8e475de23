/**
 * Crash safety: the server is SIGKILLed at a random moment while 50 connections send events as
 * fast as they can, then restarted on the same database. Every event that was answered 2xx must
 * be stored exactly once, the database must pass `PRAGMA integrity_check` (SQLite), and the restarted
 * server must answer a resend of an acknowledged event as a duplicate, and every session's numbers
 * must match its events (on SQLite the killed server held the active ones in memory; PostgreSQL
 * writes them in each commit). Several rounds, one store: a file, or with INLET_TEST_STORE=postgres
 * a PostgreSQL database (test/postgres/faults.test.ts kills one of two instances and restarts PostgreSQL itself).
 */
import { afterAll, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { cli, TEST_STORE, tempDir, testStore } from "../helpers/server";
import { spawnServer } from "../helpers/process";
import { notStoredOnce, storedEventsOf, storeSessionsOutOfStep } from "./stored";

const ROUNDS = 3;
const WORKERS = 50;
const dir = tempDir("inlet-crash-");
const store = await testStore(dir, "crash");
afterAll(async () => {
  await store.drop();
  rmSync(dir, { recursive: true, force: true });
});

interface Load {
  acknowledged: string[];
  refused: number;
  /** Settles once every worker has seen the server go away. */
  done: Promise<unknown>;
}

/** Sends until the connection dies: half the workers single tracks, half batches of 10. */
function sendUntilKilled(url: string, writeKey: string, round: number): Load {
  const load: Load = { acknowledged: [], refused: 0, done: Promise.resolve() };
  const worker = async (w: number) => {
    for (let i = 0; ; i++) {
      const ids = w % 2 === 0 ? [`r${round}-w${w}-${i}`] : Array.from({ length: 10 }, (_, k) => `r${round}-w${w}-${i}-${k}`);
      const body =
        ids.length === 1
          ? { event: "Crash Test", anonymousId: `v${w}`, messageId: ids[0], properties: { round, w, i } }
          : { batch: ids.map((messageId, k) => ({ type: "track", event: "Crash Batch", anonymousId: `v${w}`, messageId, properties: { k } })) };
      let response: Response;
      try {
        response = await fetch(`${url}/v1/events/${ids.length === 1 ? "track" : "batch"}`, {
          method: "POST",
          headers: { authorization: `Bearer ${writeKey}`, "content-type": "application/json" },
          body: JSON.stringify(body),
        });
      } catch {
        return; // the server is gone
      }
      let answer: any;
      try {
        answer = await response.json();
      } catch {
        return; // cut off mid-answer: not acknowledged
      }
      if (!response.ok) {
        load.refused++;
        continue;
      }
      if (ids.length === 1) load.acknowledged.push(answer.messageId);
      else for (const result of answer.results) if (result.status === "accepted") load.acknowledged.push(result.messageId);
    }
  };
  load.done = Promise.all(Array.from({ length: WORKERS }, (_, w) => worker(w)));
  return load;
}

test(`SIGKILL under load, ${ROUNDS} rounds: every acknowledged event is stored exactly once and the database is intact`, { timeout: 120_000 }, async () => {
  const tenant = JSON.parse((await cli(["tenant", "create", "crash"], store.env)).stdout) as { key: string };
  const allAcknowledged: string[] = [];

  for (let round = 1; round <= ROUNDS; round++) {
    const server = await spawnServer(store.env);
    const sending = sendUntilKilled(server.url, tenant.key, round);
    // Once the load runs (the first events acknowledged, however slow the machine), a random moment
    // of sustained load: up to 1.2 s more.
    while (sending.acknowledged.length === 0) await Bun.sleep(10);
    const killAfter = Math.floor(Math.random() * 1200);
    await Bun.sleep(killAfter);
    server.proc.kill("SIGKILL");
    await server.proc.exited;
    await sending.done;
    console.log(`crash round ${round}: killed ${killAfter} ms into the load; ${sending.acknowledged.length} events acknowledged, ${sending.refused} refused`);
    allAcknowledged.push(...sending.acknowledged);

    // The restarted server recovers the WAL (SQLite) and still knows every acknowledged messageId.
    const restarted = await spawnServer(store.env);
    const resent = sending.acknowledged[Math.floor(Math.random() * sending.acknowledged.length)]!;
    const again = await fetch(`${restarted.url}/v1/events/track`, {
      method: "POST",
      headers: { authorization: `Bearer ${tenant.key}`, "content-type": "application/json" },
      body: JSON.stringify({ event: "Crash Test", anonymousId: "resend", messageId: resent }),
    });
    expect(again.status).toBe(200);
    expect((await again.json()).status).toBe("duplicate");
    restarted.proc.kill("SIGTERM");
    expect(await restarted.proc.exited).toBe(0);

    const stored = await storedEventsOf(store.path);
    // SQLite's own verdict on the file (PostgreSQL's files are not Inlet's to check).
    if (TEST_STORE === "sqlite") expect(stored.integrity).toBe("ok");
    expect(notStoredOnce(stored, allAcknowledged)).toEqual([]);
    // Session numbers held in memory at the kill (SQLite) were counted again from the events at restart.
    expect(await storeSessionsOutOfStep(store.path)).toEqual([]);
  }
});
