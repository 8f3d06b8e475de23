/**
 * Shared rate limits (REDIS_URL) against the real Redis at 127.0.0.1:6379: two limiters (two
 * instances) keep one tenant's limit between them within 10%; two real servers sharing a
 * tenant answer its 429 (error format, Retry-After) from the shared buckets; an unreachable
 * Redis, or one that goes away and comes back, falls back to each instance's own buckets
 * (fail-open) and back. Clocks are injected: no sleeps. Keys carry a prefix of this run's and are
 * deleted afterwards.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { copyFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { RedisClient } from "bun";
import { loadConfig } from "../../src/config";
import { TenantRateLimiter } from "../../src/http/rate-limit";
import type { SharedBucketsOptions } from "../../src/http/shared-rate-limit";
import { startServer } from "../../src/server";
import { startTestServer, tempDir } from "../helpers/server";

const REDIS_URL = process.env.INLET_TEST_REDIS_URL ?? "redis://127.0.0.1:6379";
const PREFIX = `inlet-test:${crypto.randomUUID()}:`;
const redis = new RedisClient(REDIS_URL);

afterAll(async () => {
  let cursor = "0";
  do {
    const [next, keys] = (await redis.send("SCAN", [cursor, "MATCH", `${PREFIX}*`, "COUNT", "1000"])) as [string, string[]];
    if (keys.length > 0) await redis.send("DEL", keys);
    cursor = next;
  } while (cursor !== "0");
  redis.close();
});

/** A limiter as one instance would have it: 10 requests/s, 100 events/s, a 2 s burst. */
function instance(clock: () => number, shared: Partial<SharedBucketsOptions> = {}) {
  return new TenantRateLimiter({ requestsPerSecond: 10, eventsPerSecond: 100 }, 2, clock, { url: REDIS_URL, keyPrefix: PREFIX, ...shared });
}

/** Sends one request to each of `limiters` every `stepMs` for `seconds`; counts what got in. */
async function hammer(limiters: TenantRateLimiter[], tenantId: string, clock: { now: number }, seconds: number, stepMs: number, events = 1) {
  let admitted = 0;
  for (let t = 0; t < seconds * 1000; t += stepMs) {
    for (const limiter of limiters) if ((await limiter.check(tenantId, events)).admitted) admitted++;
    clock.now += stepMs;
  }
  return admitted;
}

describe("shared buckets in Redis", () => {
  test("two instances keep one tenant's requests/s between them within 10%; alone each would let its own through", async () => {
    const clock = { now: 1_000_000 };
    const [a, b] = [instance(() => clock.now), instance(() => clock.now)];
    // 10 s of both instances asking 100 times a second: the limit is the 20-request burst + 10/s.
    const allowed = 20 + 10 * 10;
    const admitted = await hammer([a, b], "t-requests", clock, 10, 10);
    expect(admitted).toBeGreaterThanOrEqual(allowed * 0.9);
    expect(admitted).toBeLessThanOrEqual(allowed * 1.1);
    expect(a.refused + b.refused).toBe(2000 - admitted);
    // The same without Redis: each instance admits the whole limit.
    const [x, y] = [
      new TenantRateLimiter({ requestsPerSecond: 10, eventsPerSecond: 100 }, 2, () => clock.now),
      new TenantRateLimiter({ requestsPerSecond: 10, eventsPerSecond: 100 }, 2, () => clock.now),
    ];
    const alone = await hammer([x, y], "t-requests", clock, 10, 10);
    expect(alone).toBeGreaterThan(allowed * 1.8);
    console.log(`shared rate limit: two instances admitted ${admitted} of ${allowed} allowed (alone: ${alone})`);
    a.close();
    b.close();
  });

  test("events/s are shared too: a batch counts its items; a refusal says which limit and how long", async () => {
    const clock = { now: 5_000_000 };
    const [a, b] = [instance(() => clock.now), instance(() => clock.now)];
    // 200 events of burst: 150 on one instance leave 50 for the other.
    expect(await a.check("t-events", 150)).toEqual({ admitted: true });
    expect(await b.check("t-events", 100)).toEqual({ admitted: false, retryAfter: 1, limit: "events", rate: 100 });
    expect(await b.check("t-events", 50)).toEqual({ admitted: true });
    clock.now += 100; // 10 events back
    expect(await a.check("t-events", 10)).toEqual({ admitted: true });
    expect(await b.check("t-events", 1)).toEqual({ admitted: false, retryAfter: 1, limit: "events", rate: 100 });
    // 5 s of 10 requests/s and 50 events/s from both together: within both rates, all in.
    expect(await hammer([a, b], "t-events-steady", clock, 5, 200, 5)).toBe(50);
    a.close();
    b.close();
  });

  test("a changed per-tenant rate starts fresh shared buckets; 0 (no limit) asks nothing of Redis", async () => {
    const clock = { now: 0 };
    const a = instance(() => clock.now);
    for (let i = 0; i < 2; i++) expect((await a.check("t-override", 1, { rateLimitRps: 1 })).admitted).toBe(true);
    expect(await a.check("t-override", 1, { rateLimitRps: 1 })).toMatchObject({ admitted: false, retryAfter: 1, limit: "requests", rate: 1 });
    expect((await a.check("t-override", 1, { rateLimitRps: 2 })).admitted).toBe(true);
    const unlimited = a.check("t-free", 1, { rateLimitRps: 0, rateLimitEps: 0 });
    expect(unlimited).toEqual({ admitted: true }); // answered at once, not a promise
    expect(await redis.send("EXISTS", [`${PREFIX}t-free:0:0`])).toBe(0);
    a.close();
  });
});

describe("shared limits over HTTP", () => {
  test("two servers sharing a tenant: the 429 (error format, Retry-After) comes from the buckets they share", { timeout: 60_000 }, async () => {
    const clock = { now: 0 };
    const env = { REDIS_URL, RATE_LIMIT_RPS: "5", RATE_LIMIT_BURST_SECONDS: "1" };
    const options = { clock: () => clock.now, rateLimitKeyPrefix: PREFIX };
    const first = await startTestServer(env, options);
    // The second server gets a copy of the first's database: the same tenant, the same write key.
    const dir = tempDir();
    const copy = join(dir, "copy.db");
    first.running.services.database.sqlite.exec(`VACUUM INTO '${copy}'`);
    const second = startServer(loadConfig({ PORT: "0", HOST: "127.0.0.1", INLET_DB: copy, INLET_DEMO: "false", LOG_LEVEL: "silent", ...env }), options);
    try {
      const send = (url: string, messageId: string) =>
        fetch(`${url}/v1/events/track`, {
          method: "POST",
          headers: { "content-type": "application/json", authorization: `Bearer ${first.writeKey}` },
          body: JSON.stringify({ event: "Shared", anonymousId: "a", messageId }),
        });
      const secondUrl = `http://127.0.0.1:${second.port}`;
      // A burst of 5 between both servers.
      const statuses: number[] = [];
      for (let i = 0; i < 5; i++) statuses.push((await send(i % 2 === 0 ? first.url : secondUrl, `m-${i}`)).status);
      expect(statuses).toEqual([200, 200, 200, 200, 200]);
      for (const url of [first.url, secondUrl]) {
        const refused = await send(url, `over-${url}`);
        expect(refused.status).toBe(429);
        expect(refused.headers.get("retry-after")).toBe("1");
        expect(await refused.json()).toEqual({
          error: { code: "rate_limited", message: "Rate limit exceeded: this tenant may send 5 requests per second; retry after 1 s.", details: [] },
          requestId: expect.any(String),
        });
      }
      clock.now += 200; // one token, for whichever server asks first
      expect((await send(secondUrl, "m-5")).status).toBe(200);
      expect((await send(first.url, "m-6")).status).toBe(429);
      expect(await redis.send("EXISTS", [`${PREFIX}${first.tenantId}:5:500000`])).toBe(1);
    } finally {
      await second.stop();
      await first.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("when Redis does not answer: fail-open to each instance's own buckets", () => {
  test("an unreachable Redis: the local limit applies, every check is counted as a fallback, Redis is retried after retryMs", async () => {
    const clock = { now: 0 };
    let fallbacks = 0;
    const port = await freePort();
    const limiter = instance(() => clock.now, { url: `redis://127.0.0.1:${port}`, onFallback: () => fallbacks++ });
    // This instance's own 20-request burst, then 429 with its Retry-After.
    for (let i = 0; i < 20; i++) expect((await limiter.check("t-down", 1)).admitted).toBe(true);
    expect(await limiter.check("t-down", 1)).toEqual({ admitted: false, retryAfter: 1, limit: "requests", rate: 10 });
    expect(fallbacks).toBe(21);
    clock.now += 1_000; // past retryMs: Redis is asked again, still down, still local
    expect((await limiter.check("t-down", 1)).admitted).toBe(true);
    expect(fallbacks).toBe(22);
    limiter.close();
  });

  test("Redis going away and coming back: local while it is gone, shared again once it answers", async () => {
    const clock = { now: 10_000 };
    let fallbacks = 0;
    const proxy = await redisProxy();
    const viaProxy = instance(() => clock.now, { url: `redis://127.0.0.1:${proxy.port}`, onFallback: () => fallbacks++ });
    const direct = instance(() => clock.now);
    // Shared: 10 through the proxy and 10 direct use up the 20-request burst.
    for (let i = 0; i < 10; i++) expect((await viaProxy.check("t-flap", 1)).admitted).toBe(true);
    for (let i = 0; i < 10; i++) expect((await direct.check("t-flap", 1)).admitted).toBe(true);
    expect((await viaProxy.check("t-flap", 1)).admitted).toBe(false);
    expect(fallbacks).toBe(0);

    proxy.stop();
    // Gone: this instance's own (full) buckets decide.
    expect((await viaProxy.check("t-flap", 1)).admitted).toBe(true);
    expect(fallbacks).toBe(1);
    proxy.start();
    expect((await viaProxy.check("t-flap", 1)).admitted).toBe(true); // still within retryMs: local
    expect(fallbacks).toBe(2);
    clock.now += 1_000; // retryMs later: shared again, and the shared bucket has 10 tokens back
    for (let i = 0; i < 10; i++) expect((await viaProxy.check("t-flap", 1)).admitted).toBe(true);
    expect((await direct.check("t-flap", 1)).admitted).toBe(false);
    expect(fallbacks).toBe(2);
    viaProxy.close();
    direct.close();
    proxy.stop();
  });

  test("a Redis that accepts but never answers: the check is decided locally after timeoutMs", async () => {
    const clock = { now: 0 };
    let fallbacks = 0;
    const silent = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
    const limiter = instance(() => clock.now, { url: `redis://127.0.0.1:${silent.port}`, timeoutMs: 50, onFallback: () => fallbacks++ });
    expect((await limiter.check("t-silent", 1)).admitted).toBe(true);
    expect(fallbacks).toBe(1);
    limiter.close();
    silent.stop(true);
  });
});

async function freePort(): Promise<number> {
  const listener = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = listener.port;
  listener.stop(true);
  return port;
}

/** A TCP proxy to the test Redis that can be stopped (closing every connection) and started again on the same port. */
async function redisProxy() {
  const target = new URL(REDIS_URL);
  type Pair = { upstream?: Bun.Socket<unknown>; pending: Uint8Array[] };
  let listener: ReturnType<typeof Bun.listen<Pair>> | null = null;
  let port = 0;
  const start = () => {
    listener = Bun.listen<Pair>({
      hostname: "127.0.0.1",
      port,
      socket: {
        open(client) {
          client.data = { pending: [] };
          void Bun.connect({
            hostname: target.hostname,
            port: Number(target.port || 6379),
            socket: {
              open(upstream) {
                client.data.upstream = upstream;
                for (const chunk of client.data.pending) upstream.write(chunk);
                client.data.pending = [];
              },
              data(_upstream, chunk) {
                client.write(chunk);
              },
              close() {
                client.end();
              },
            },
          });
        },
        data(client, chunk) {
          if (client.data.upstream) client.data.upstream.write(chunk);
          else client.data.pending.push(new Uint8Array(chunk));
        },
        close(client) {
          client.data.upstream?.end();
        },
      },
    });
    port = listener.port;
  };
  start();
  return {
    port,
    start,
    stop: () => listener?.stop(true),
  };
}
