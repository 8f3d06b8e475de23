/**
 * What shared rate limits (REDIS_URL) cost against the in-process ones, on the real Redis. A
 * request is still decided by this process's buckets; what it took is sent to Redis at the next
 * event-loop turn, one call per tenant per turn. Phases, alternated in rounds:
 *
 *   local            TenantRateLimiter without Redis: CPU per request (and with an event-loop turn
 *                    after each request, the baseline of K = 1 below)
 *   shared, K/turn/T K requests per event-loop turn from T tenants, until every answer is applied:
 *                    Inlet's CPU per request, requests/s, Redis calls per request. K = 1: every
 *                    request its own call (an idle server); K = 64 from 100 tenants: still about
 *                    one call per request; K = 64 from 4 tenants: 16 requests per call
 *   Redis CPU        per call, from Redis's INFO commandstats (evalsha), over the shared phases
 *   HTTP             sequential POST /v1/events/track to two real servers, one with REDIS_URL,
 *                    alternated: median latency (the shared one pays no round trip per request)
 *
 * Limits are high: every request is admitted and sent (the costly path). Keys carry this run's
 * prefix and are deleted.
 *
 *   bun run bench/shared-rate-limit.ts [requests per phase=20000] [rounds=3]
 *   REDIS_URL=redis://host:6379 bun run bench/shared-rate-limit.ts
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { RedisClient } from "bun";
import { loadConfig } from "../src/config";
import { TenantRateLimiter } from "../src/http/rate-limit";
import { startServer } from "../src/server";

const [requests = 20_000, rounds = 3] = process.argv.slice(2, 4).map(Number);
const REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
const prefix = `inlet-bench:${crypto.randomUUID()}:`;
const limits = { requestsPerSecond: 1_000_000, eventsPerSecond: 10_000_000 };
const tenants = Array.from({ length: 100 }, (_, i) => `tenant-${i}`);
const redis = new RedisClient(REDIS_URL);

const cpuMicros = () => {
  const u = process.cpuUsage();
  return u.user + u.system;
};

async function evalshaStats(): Promise<{ calls: number; usec: number }> {
  const info = (await redis.send("INFO", ["commandstats"])) as string;
  const line = info.split("\n").find((l) => l.startsWith("cmdstat_evalsha:"));
  return { calls: Number(/calls=(\d+)/.exec(line ?? "")?.[1] ?? 0), usec: Number(/usec=(\d+)/.exec(line ?? "")?.[1] ?? 0) };
}

const local = new TenantRateLimiter(limits, 2);
const shared = new TenantRateLimiter(limits, 2, undefined, { url: REDIS_URL, keyPrefix: prefix });
await shared.shared!.connect();
shared.admit("warm-up", 1);
await shared.settled();

const results: Record<string, number[]> = {};
const record = (name: string, value: number) => (results[name] ??= []).push(value);
const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

let redisCalls = 0;
let redisUsec = 0;
for (let round = 0; round < rounds; round++) {
  let cpu = cpuMicros();
  for (let i = 0; i < requests; i++) local.admit(tenants[i % tenants.length]!, 1);
  record("local: CPU µs/request", (cpuMicros() - cpu) / requests);
  // The same with a turn of the event loop after each request: the baseline of "shared, 1/turn".
  cpu = cpuMicros();
  for (let i = 0; i < requests; i++) {
    local.admit(tenants[i % tenants.length]!, 1);
    await nextTurn();
  }
  record("local, 1/turn: CPU µs/request", (cpuMicros() - cpu) / requests);

  for (const [perTurn, tenantCount] of [
    [1, 100],
    [64, 100],
    [64, 4],
  ] as const) {
    const before = await evalshaStats();
    cpu = cpuMicros();
    const wall = performance.now();
    for (let i = 0; i < requests; ) {
      for (let k = 0; k < perTurn; k++, i++) shared.admit(tenants[i % tenantCount]!, 1);
      await nextTurn();
    }
    await shared.settled();
    const phase = `shared, ${perTurn}/turn/${tenantCount}`;
    record(`${phase}: CPU µs/request`, (cpuMicros() - cpu) / requests);
    record(`${phase}: requests/s`, requests / ((performance.now() - wall) / 1000));
    const after = await evalshaStats();
    record(`${phase}: Redis calls/request`, (after.calls - before.calls) / requests);
    redisCalls += after.calls - before.calls;
    redisUsec += after.usec - before.usec;
  }
}

// End to end: the same request to a server without and one with REDIS_URL, alternated.
const dir = mkdtempSync(join(tmpdir(), "inlet-bench-rl-"));
const serve = (name: string, env: Record<string, string>) =>
  startServer(loadConfig({ PORT: "0", HOST: "127.0.0.1", INLET_DB: join(dir, `${name}.db`), INLET_DEMO: "false", LOG_LEVEL: "silent", ...env }), {
    rateLimitKeyPrefix: prefix,
  });
const servers0 = [
  { name: "HTTP track, no Redis: median µs", running: await serve("local", {}) },
  { name: "HTTP track, REDIS_URL: median µs", running: await serve("shared", { REDIS_URL }) },
];
const servers = await Promise.all(
  servers0.map(async (s) => ({ ...s, key: (await s.running.services.tenants.createTenant("bench")).key, samples: [] as number[] })),
);
const httpRequests = Math.min(requests, 5_000);
for (let i = 0; i < httpRequests; i++) {
  for (const s of servers) {
    const started = performance.now();
    const response = await fetch(`${s.running.url}v1/events/track`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${s.key}` },
      body: JSON.stringify({ event: "Bench", anonymousId: `a-${i % 50}`, properties: { i } }),
    });
    await response.arrayBuffer();
    if (response.status !== 200) throw new Error(`${s.name}: ${response.status}`);
    s.samples.push((performance.now() - started) * 1000);
  }
}
for (const s of servers) {
  s.samples.sort((a, b) => a - b);
  record(s.name, s.samples[Math.floor(s.samples.length / 2)]!);
  await s.running.stop();
}
rmSync(dir, { recursive: true, force: true });

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
console.log(`shared rate limit bench: ${requests} requests per phase, ${rounds} rounds (medians over rounds); HTTP: ${httpRequests} requests each`);
for (const [name, values] of Object.entries(results)) console.log(`  ${name.padEnd(44)} ${median(values).toFixed(2)}`);
console.log(`  ${"Redis CPU µs/call (evalsha, commandstats)".padEnd(44)} ${(redisUsec / Math.max(1, redisCalls)).toFixed(2)}`);
const httpLocal = median(results["HTTP track, no Redis: median µs"]!);
const httpShared = median(results["HTTP track, REDIS_URL: median µs"]!);
console.log(`  ${"HTTP ratio shared / local".padEnd(44)} ${(httpShared / httpLocal).toFixed(3)} (+${(httpShared - httpLocal).toFixed(0)} µs)`);

let cursor = "0";
do {
  const [nextCursor, keys] = (await redis.send("SCAN", [cursor, "MATCH", `${prefix}*`, "COUNT", "1000"])) as [string, string[]];
  if (keys.length > 0) await redis.send("DEL", keys);
  cursor = nextCursor;
} while (cursor !== "0");
local.close();
shared.close();
redis.close();
