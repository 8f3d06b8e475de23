/**
 * Backpressure: a server (a child process, as a user runs it) with a small write-queue bound is
 * overloaded with batches over many connections. Past the bound writes answer 503 with
 * Retry-After; nothing answered 2xx is lost, nothing answered 503 is stored, and memory stays
 * flat: RSS after the overload is compared with RSS after a warm-up (a bound, not a timing).
 */
import { afterAll, expect, test } from "bun:test";
import { readFileSync, rmSync } from "node:fs";
import { cli, tempDir, TEST_STORE, testStore } from "../helpers/server";
import { spawnServer, type ServerProcess } from "../helpers/process";
import { notStoredOnce, storedEventsOf } from "./stored";

const dir = tempDir("inlet-backpressure-");
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const BOUND = 200;

function rssMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  return Number(status.match(/VmRSS:\s+(\d+) kB/)![1]) / 1024;
}

interface Tally {
  accepted: string[];
  refused: string[];
  other: number[];
}

/** `connections` loops sending `perConnection` batches of `size` events each. */
async function load(server: ServerProcess, writeKey: string, tag: string, connections: number, perConnection: number, size: number): Promise<Tally> {
  const tally: Tally = { accepted: [], refused: [], other: [] };
  const worker = async (c: number) => {
    for (let r = 0; r < perConnection; r++) {
      const ids = Array.from({ length: size }, (_, k) => `${tag}-${c}-${r}-${k}`);
      const response = await fetch(`${server.url}/v1/events/batch`, {
        method: "POST",
        headers: { authorization: `Bearer ${writeKey}`, "content-type": "application/json" },
        body: JSON.stringify({
          batch: ids.map((messageId) => ({ type: "track", event: "Load", anonymousId: `v-${c}`, messageId, properties: { padding: "p".repeat(200) } })),
        }),
      });
      const body = (await response.json()) as any;
      if (response.status === 200) {
        for (const result of body.results) if (result.status === "accepted") tally.accepted.push(result.messageId);
      } else if (response.status === 503) {
        expect(Number(response.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
        expect(body.error.code).toBe("unavailable");
        tally.refused.push(...ids);
      } else tally.other.push(response.status);
    }
  };
  await Promise.all(Array.from({ length: connections }, (_, c) => worker(c)));
  return tally;
}

test(`overload with MAX_QUEUED_EVENTS=${BOUND}: 503 + Retry-After past the bound, no 2xx lost, memory flat`, { timeout: 120_000 }, async () => {
  const store = await testStore(dir, "backpressure");
  const tenant = JSON.parse((await cli(["tenant", "create", "load"], store.env)).stdout) as { key: string };
  const server = await spawnServer({ ...store.env, MAX_QUEUED_EVENTS: String(BOUND), LOG_LEVEL: "info" });
  try {
    // One request larger than the whole bound is admitted when the queue is empty (else it could never be).
    const big = await load(server, tenant.key, "big", 1, 1, 4 * BOUND);
    expect(big.accepted.length).toBe(4 * BOUND);

    const warm = await load(server, tenant.key, "warm", 20, 20, 10);
    const warmRss = rssMiB(server.proc.pid);

    const over = await load(server, tenant.key, "over", 100, 40, 20);
    const overRss = rssMiB(server.proc.pid);
    console.log(
      `backpressure: overload ${over.accepted.length} events accepted, ${over.refused.length} refused with 503; RSS ${warmRss.toFixed(1)} MiB after warm-up, ${overRss.toFixed(1)} MiB after overload`,
    );
    expect(over.other).toEqual([]);
    expect(warm.other).toEqual([]);
    expect(over.refused.length).toBeGreaterThan(0);
    expect(over.accepted.length).toBeGreaterThan(0);
    expect(overRss).toBeLessThan(2 * warmRss);

    server.proc.kill("SIGTERM");
    expect(await server.proc.exited).toBe(0);
    const stored = await storedEventsOf(store.path);
    const acknowledged = [...big.accepted, ...warm.accepted, ...over.accepted];
    expect(notStoredOnce(stored, acknowledged)).toEqual([]);
    expect(over.refused.filter((id) => stored.counts.has(id))).toEqual([]);
    expect(stored.counts.size).toBe(acknowledged.length);
    expect(stored.integrity).toBe(TEST_STORE === "sqlite" ? "ok" : null);
  } finally {
    server.proc.kill("SIGKILL");
    await server.proc.exited;
    await store.drop();
  }
});
