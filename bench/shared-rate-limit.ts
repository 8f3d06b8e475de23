/**
 * What a shared rate-limit check (REDIS_URL) costs against the in-process one, on the real Redis:
 *
 *   local            TenantRateLimiter without Redis: CPU per check
 *   shared, serial   one check in flight at a time: wall time per check (the latency a request gains)
 *   shared, N        N checks in flight (auto-pipelined): checks/s, and Inlet's CPU per check
 *   Redis CPU        per script call, from Redis's INFO commandstats (evalsha), over all shared phases
 *   HTTP             sequential POST /v1/events/track to two real servers, one with REDIS_URL, alternated: median
 *
 * Phases alternate in rounds so each sees the same machine. Limits are high: every check is
 * admitted and writes its bucket (the costly path). Keys carry this run's prefix and are deleted.
 *
 *   bun run bench/shared-rate-limit.ts [checks per phase=20000] [in flight=64] [rounds=3]
 *   REDIS_URL=redis://host:6379 bun run bench/shared-rate-limit.ts
 */
import { rmSync } from "node:fs";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { RedisClient } from "bun";
import { loadConfig } from "../src/config";
import { TenantRateLimiter } from "../src/http/rate-limit";
import { startServer } from "../src/server";

const [checks = 20_000, inFlight = 64, rounds = 3] = process.argv.slice(2, 5).map(Number);
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
  const calls = Number(/calls=(\d+)/.exec(line ?? "")?.[1] ?? 0);
  const usec = Number(/usec=(\d+)/.exec(line ?? "")?.[1] ?? 0);
  return { calls, usec };
}

const local = new TenantRateLimiter(limits, 2);
const shared = new TenantRateLimiter(limits, 2, undefined, { url: REDIS_URL, keyPrefix: prefix });
await shared.shared!.connect();
await shared.check("warm-up", 1);

const results: Record<string, number[]> = {};
const record = (name: string, value: number) => (results[name] ??= []).push(value);

let redisCalls = 0;
let redisUsec = 0;
for (let round = 0; round < rounds; round++) {
  let cpu = cpuMicros();
  for (let i = 0; i < checks; i++) local.check(tenants[i % tenants.length]!, 1);
  record("local: CPU µs/check", (cpuMicros() - cpu) / checks);

  const before = await evalshaStats();
  cpu = cpuMicros();
  let wall = performance.now();
  for (let i = 0; i < checks; i++) await shared.check(tenants[i % tenants.length]!, 1);
  record("shared, serial: wall µs/check", ((performance.now() - wall) * 1000) / checks);
  record("shared, serial: Inlet CPU µs/check", (cpuMicros() - cpu) / checks);

  cpu = cpuMicros();
  wall = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (next < checks) await shared.check(tenants[next++ % tenants.length]!, 1);
    }),
  );
  const seconds = (performance.now() - wall) / 1000;
  record(`shared, ${inFlight} in flight: checks/s`, checks / seconds);
  record(`shared, ${inFlight} in flight: Inlet CPU µs/check`, (cpuMicros() - cpu) / checks);
  const after = await evalshaStats();
  redisCalls += after.calls - before.calls;
  redisUsec += after.usec - before.usec;
}

// End to end: the same request to a server without and one with REDIS_URL, alternated.
const dir = mkdtempSync(join(tmpdir(), "inlet-bench-rl-"));
const serve = (name: string, env: Record<string, string>) =>
  startServer(loadConfig({ PORT: "0", HOST: "127.0.0.1", INLET_DB: join(dir, `${name}.db`), INLET_DEMO: "false", LOG_LEVEL: "silent", ...env }), {
    rateLimitKeyPrefix: prefix,
  });
const servers = [
  { name: "HTTP track, no Redis: median µs", running: serve("local", {}) },
  { name: "HTTP track, REDIS_URL: median µs", running: serve("shared", { REDIS_URL }) },
].map((s) => ({ ...s, key: s.running.services.tenants.createTenant("bench").key, samples: [] as number[] }));
const requests = Math.min(checks, 5_000);
for (let i = 0; i < requests; i++) {
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
console.log(`shared rate limit bench: ${checks} checks per phase, ${inFlight} in flight, ${rounds} rounds (medians over rounds)`);
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
