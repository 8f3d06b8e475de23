/**
 * Shared rate limits (REDIS_URL) against the real Redis at 127.0.0.1:6379: two limiters (two
 * instances) keep one tenant's limit between them within 10%, also when many requests arrive
 * between two answers from Redis; the ledger in Redis holds what each took; two real servers
 * sharing a tenant give it one burst and answer its 429s (error format, Retry-After); an
 * unreachable, vanishing or silent Redis leaves each instance deciding alone (fail-open),
 * counted, and shared again once Redis answers. Clocks are injected: no sleeps. Keys carry a
 * prefix of this run's and are deleted afterwards.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { RedisClient } from "bun";
import { loadConfig } from "../../src/config";
import { TenantRateLimiter } from "../../src/http/rate-limit";
import type { SharedBucketsOptions } from "../../src/http/shared-rate-limit";
import { startServer } from "../../src/server";
import { startTestServer, storeEnv, TEST_STORE, tempDir } from "../helpers/server";
import { freePort } from "../helpers/process";

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

/**
 * Every `stepMs` for `seconds`, each of `limiters` is asked `perStep` times before any answer
 * from Redis is in (requests that arrive within one round trip), then the answers are applied.
 */
async function hammer(limiters: TenantRateLimiter[], tenantId: string, clock: { now: number }, seconds: number, stepMs: number, perStep = 1, events = 1) {
  let admitted = 0;
  for (let t = 0; t < seconds * 1000; t += stepMs) {
    for (const limiter of limiters) for (let i = 0; i < perStep; i++) if (limiter.admit(tenantId, events).admitted) admitted++;
    await Promise.all(limiters.map((limiter) => limiter.settled()));
    clock.now += stepMs;
  }
  return admitted;
}

const ledger = async (key: string) => Object.fromEntries(Object.entries((await redis.hgetall(`${PREFIX}${key}`)) ?? {}).map(([k, v]) => [k, Number(v)]));

describe("shared buckets in Redis", () => {
  test("two instances keep one tenant's requests/s between them within 10%; alone each would let its own through", async () => {
    const clock = { now: 1_000_000 };
    const [a, b] = [instance(() => clock.now), instance(() => clock.now)];
    // 10 s of both instances asked 100 times a second: the limit is the 20-request burst + 10/s.
    const allowed = 20 + 10 * 10;
    const admitted = await hammer([a, b], "t-requests", clock, 10, 10);
    expect(admitted).toBeGreaterThanOrEqual(allowed * 0.9);
    expect(admitted).toBeLessThanOrEqual(allowed * 1.1);
    expect(a.refused + b.refused).toBe(2000 - admitted);
    // The same without Redis: each instance admits the whole limit.
    const alone = await hammer(
      [
        new TenantRateLimiter({ requestsPerSecond: 10, eventsPerSecond: 100 }, 2, () => clock.now),
        new TenantRateLimiter({ requestsPerSecond: 10, eventsPerSecond: 100 }, 2, () => clock.now),
      ],
      "t-requests",
      clock,
      10,
      10,
    );
    expect(alone).toBeGreaterThan(allowed * 1.8);
    console.log(`shared rate limit: two instances admitted ${admitted} of ${allowed} allowed (alone: ${alone})`);
    a.close();
    b.close();
  });

  test("requests arriving within a round trip: both instances take from a stale mirror, the debt is charged back, still within 10%", async () => {
    const clock = { now: 2_000_000 };
    const [a, b] = [instance(() => clock.now), instance(() => clock.now)];
    // 20 requests per instance between answers, 200/s each: 20x the rate.
    const allowed = 20 + 10 * 10;
    const admitted = await hammer([a, b], "t-lagging", clock, 10, 100, 20);
    expect(admitted).toBeGreaterThanOrEqual(allowed * 0.9);
    expect(admitted).toBeLessThanOrEqual(allowed * 1.1);
    console.log(`shared rate limit, 20 requests per round trip per instance: admitted ${admitted} of ${allowed} allowed`);
    a.close();
    b.close();
  });

  test("events/s are shared too: a batch counts its items; a refusal says which limit and how long", async () => {
    const clock = { now: 5_000_000 };
    const [a, b] = [instance(() => clock.now), instance(() => clock.now)];
    // 200 events of burst: 150 on one instance, 1 on the other, leave 49 to both.
    expect(a.admit("t-events", 150)).toEqual({ admitted: true });
    await a.settled();
    expect(b.admit("t-events", 1)).toEqual({ admitted: true });
    await b.settled();
    expect(await ledger("t-events:10:100")).toMatchObject({ r: 18, e: 49 });
    expect(b.admit("t-events", 100)).toEqual({ admitted: false, retryAfter: 1, limit: "events", rate: 100 });
    expect(b.admit("t-events", 49)).toEqual({ admitted: true });
    await b.settled();
    clock.now += 100; // 10 events back
    expect(b.admit("t-events", 10)).toEqual({ admitted: true });
    expect(b.admit("t-events", 1)).toEqual({ admitted: false, retryAfter: 1, limit: "events", rate: 100 });
    // 5 s of 10 requests/s and 50 events/s from both together: within both rates, all in.
    expect(await hammer([a, b], "t-events-steady", clock, 5, 200, 1, 5)).toBe(50);
    a.close();
    b.close();
  });

  test("a changed per-tenant rate starts fresh shared buckets; 0 (no limit) asks nothing of Redis", async () => {
    const clock = { now: 0 };
    const a = instance(() => clock.now);
    for (let i = 0; i < 2; i++) expect(a.admit("t-override", 1, { rateLimitRps: 1 }).admitted).toBe(true);
    expect(a.admit("t-override", 1, { rateLimitRps: 1 })).toMatchObject({ admitted: false, retryAfter: 1, limit: "requests", rate: 1 });
    expect(a.admit("t-override", 1, { rateLimitRps: 2 }).admitted).toBe(true);
    expect(a.admit("t-free", 1, { rateLimitRps: 0, rateLimitEps: 0 })).toEqual({ admitted: true });
    await a.settled();
    expect(await ledger("t-override:1:100")).toMatchObject({ r: 0, e: 198 });
    expect(await ledger("t-override:2:100")).toMatchObject({ r: 3, e: 199 });
    expect(await redis.exists(`${PREFIX}t-free:0:0`)).toBe(false);
    a.close();
  });
});

describe("shared limits over HTTP", () => {
  test("two servers sharing a tenant: one burst between them, then 429s (error format, Retry-After) from both", { timeout: 60_000 }, async () => {
    const clock = { now: 0 };
    const env = { REDIS_URL, RATE_LIMIT_RPS: "5", RATE_LIMIT_BURST_SECONDS: "1" };
    const options = { clock: () => clock.now, rateLimitKeyPrefix: PREFIX };
    const first = await startTestServer(env, options);
    // The second server has the same tenant and write key: on PostgreSQL it shares the first's database, as
    // instances do; a SQLite file is one server's, so there it gets a copy.
    const dir = tempDir();
    const copy = join(dir, "copy.db");
    if (TEST_STORE === "sqlite") first.running.services.sqlite!.database.sqlite.exec(`VACUUM INTO '${copy}'`);
    const store = storeEnv(TEST_STORE === "postgres" ? first.dbPath : copy);
    const second = await startServer(loadConfig({ PORT: "0", HOST: "127.0.0.1", ...store, INLET_DEMO: "false", LOG_LEVEL: "silent", ...env }), options);
    try {
      const servers = [first.running, second];
      const send = async (n: number) => {
        const running = servers[n % 2]!;
        const response = await fetch(`${running.url}v1/events/track`, {
          method: "POST",
          headers: { "content-type": "application/json", authorization: `Bearer ${first.writeKey}` },
          body: JSON.stringify({ event: "Shared", anonymousId: "a", messageId: `m-${n}` }),
        });
        // What it took is in Redis before the next request (as when requests are a round trip apart).
        await Promise.all(servers.map((s) => s.services.limiter.settled()));
        return response;
      };
      const statuses: number[] = [];
      for (let n = 0; n < 10; n++) {
        const response = await send(n);
        statuses.push(response.status);
        if (response.status === 429) {
          expect(response.headers.get("retry-after")).toBe("1");
          expect(await response.json()).toEqual({
            error: { code: "rate_limited", message: "Rate limit exceeded: this tenant may send 5 requests per second; retry after 1 s.", details: [] },
            requestId: expect.any(String),
          });
        }
      }
      // The burst of 5, plus the one the second server let through before its first answer from Redis.
      expect(statuses).toEqual([200, 200, 200, 200, 200, 200, 429, 429, 429, 429]);
      expect((await ledger(`${first.tenantId}:5:500000`)).r).toBeCloseTo(-1);
      clock.now += 1_000; // 5 tokens back, less the debt of 1
      const later: number[] = [];
      for (let n = 10; n < 16; n++) later.push((await send(n)).status);
      // Again one more than the ledger had: the first server's mirror had not seen the second's last taking; it is charged back.
      expect(later).toEqual([200, 200, 200, 200, 200, 429]);
      expect((await ledger(`${first.tenantId}:5:500000`)).r).toBeCloseTo(-1);
    } finally {
      await second.stop();
      await first.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("when Redis does not answer: fail-open to each instance's own buckets", () => {
  test("a server whose Redis is down keeps ingesting at its own limit, answers 429 as usual and counts it on /metrics", { timeout: 60_000 }, async () => {
    const clock = { now: 0 };
    const server = await startTestServer(
      { REDIS_URL: `redis://127.0.0.1:${await freePort()}`, RATE_LIMIT_RPS: "3", RATE_LIMIT_BURST_SECONDS: "1" },
      { clock: () => clock.now, rateLimitKeyPrefix: PREFIX },
    );
    try {
      const track = (n: number) => server.track({ event: "Down", anonymousId: "a", messageId: `d-${n}` });
      expect((await track(0)).status).toBe(200);
      await server.running.services.limiter.settled(); // sending what it took failed: Redis is away
      expect([(await track(1)).status, (await track(2)).status]).toEqual([200, 200]);
      const refused = await track(3);
      expect(refused.status).toBe(429);
      expect(refused.headers.get("retry-after")).toBe("1");
      expect((await refused.json()).error).toEqual({
        code: "rate_limited",
        message: "Rate limit exceeded: this tenant may send 3 requests per second; retry after 1 s.",
        details: [],
      });
      const metrics = await (await fetch(`${server.url}/metrics`)).text();
      expect(metrics).toContain("inlet_rate_limit_local_fallbacks_total 3");
    } finally {
      await server.stop();
    }
  });

  test("an unreachable Redis: this instance's own limit applies, the requests are counted, Redis is tried again after retryMs", async () => {
    const clock = { now: 0 };
    let fallbacks = 0;
    const limiter = instance(() => clock.now, { url: `redis://127.0.0.1:${await freePort()}`, onFallback: () => fallbacks++ });
    expect(limiter.admit("t-down", 1).admitted).toBe(true);
    await limiter.settled(); // the sending failed: Redis is away
    // The rest of this instance's own 20-request burst, then 429 with its Retry-After, all counted.
    for (let i = 0; i < 19; i++) expect(limiter.admit("t-down", 1).admitted).toBe(true);
    expect(limiter.admit("t-down", 1)).toEqual({ admitted: false, retryAfter: 1, limit: "requests", rate: 10 });
    expect(fallbacks).toBe(20);
    clock.now += 1_000; // retryMs later: Redis is asked again (still away)
    expect(limiter.admit("t-down", 1).admitted).toBe(true);
    expect(fallbacks).toBe(20);
    await limiter.settled();
    expect(limiter.admit("t-down", 1).admitted).toBe(true);
    expect(fallbacks).toBe(21);
    limiter.close();
  });

  test("Redis going away and coming back: alone while it is gone (takings not sent), shared again once it answers", async () => {
    const clock = { now: 10_000 };
    let fallbacks = 0;
    const proxy = await redisProxy();
    const viaProxy = instance(() => clock.now, { url: `redis://127.0.0.1:${proxy.port}`, onFallback: () => fallbacks++ });
    for (let i = 0; i < 5; i++) expect(viaProxy.admit("t-flap", 1).admitted).toBe(true);
    await viaProxy.settled();
    expect((await ledger("t-flap:10:100")).r).toBe(15);

    proxy.stop();
    expect(viaProxy.admit("t-flap", 1).admitted).toBe(true); // decided before anyone knows: sending it fails
    await viaProxy.settled();
    for (let i = 0; i < 4; i++) expect(viaProxy.admit("t-flap", 1).admitted).toBe(true);
    expect(fallbacks).toBe(4);
    expect((await ledger("t-flap:10:100")).r).toBe(15);

    proxy.start();
    clock.now += 1_000; // retryMs later: Redis answers again
    expect(viaProxy.admit("t-flap", 1).admitted).toBe(true);
    await viaProxy.settled();
    expect(fallbacks).toBe(4);
    // The ledger: 15, + 10 refilled (capped at 20), - this one.
    expect((await ledger("t-flap:10:100")).r).toBe(19);
    viaProxy.close();
    proxy.stop();
  });

  test("a Redis that accepts but never answers: after timeoutMs the instance decides alone", async () => {
    const clock = { now: 0 };
    let fallbacks = 0;
    const silent = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
    const limiter = instance(() => clock.now, { url: `redis://127.0.0.1:${silent.port}`, timeoutMs: 5_000, onFallback: () => fallbacks++ });
    expect(limiter.admit("t-silent", 1).admitted).toBe(true);
    expect(limiter.admit("t-silent", 1).admitted).toBe(true);
    await new Promise(setImmediate); // the next turn: the takings are sent, and hang
    expect(fallbacks).toBe(0);
    clock.now += 5_001; // the first call is unanswered for longer than timeoutMs
    expect(limiter.admit("t-silent", 1).admitted).toBe(true);
    expect(fallbacks).toBe(1);
    await limiter.settled();
    limiter.close();
    silent.stop(true);
  });
});

/** A TCP proxy to the test Redis that can be stopped (closing every connection) and started again on the same port. */
async function redisProxy() {
  const target = new URL(REDIS_URL);
  type Pair = { upstream?: Bun.Socket<unknown>; pending: Uint8Array[] };
  let listener: Bun.TCPSocketListener<Pair> | null = null;
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
    port = listener!.port;
  };
  start();
  return {
    port,
    start,
    stop: () => listener?.stop(true),
  };
}
