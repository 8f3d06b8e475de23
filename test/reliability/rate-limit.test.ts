/**
 * Per-tenant rate limits: the token buckets on a fake clock (exact), then over HTTP: a noisy
 * tenant far over its limit gets 429s with Retry-After in the error format while a quiet tenant
 * sending at the same time gets only 2xx; batches count their items; per-tenant overrides from
 * `inlet tenant set`. No assertion on latencies: statuses, counts and headers only.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { TenantRateLimiter, TokenBucket } from "../../src/http/rate-limit";
import { cli, exportEvents, startTestServer, type TestServer, storeEnv } from "../helpers/server";

describe("token buckets (fake clock)", () => {
  test("a bucket holds its burst, refills at its rate, and says how long to wait", () => {
    const bucket = new TokenBucket(10, 20, 0);
    for (let i = 0; i < 20; i++) {
      expect(bucket.waitFor(1, 0)).toBe(0);
      bucket.take(1, 0);
    }
    expect(bucket.waitFor(1, 0)).toBeCloseTo(0.1);
    expect(bucket.waitFor(1, 100)).toBe(0); // 100 ms at 10/s = 1 token
    expect(bucket.waitFor(5, 100)).toBeCloseTo(0.4);
  });

  test("a cost above the burst passes when the bucket is full and leaves it in debt", () => {
    const bucket = new TokenBucket(1, 2, 0);
    expect(bucket.waitFor(50, 0)).toBe(0);
    bucket.take(50, 0);
    expect(bucket.waitFor(1, 0)).toBeCloseTo(49);
  });

  test("the limiter: requests and events per tenant, refusals take nothing, overrides and 0 = no limit", () => {
    let now = 0;
    const limiter = new TenantRateLimiter({ requestsPerSecond: 5, eventsPerSecond: 100 }, 2, () => now);
    // 10 requests of burst, then refused with Retry-After rounded up to whole seconds.
    for (let i = 0; i < 10; i++) expect(limiter.admit("a", 1)).toEqual({ admitted: true });
    expect(limiter.admit("a", 1)).toEqual({ admitted: false, retryAfter: 1, limit: "requests", rate: 5 });
    // Another tenant is untouched.
    expect(limiter.admit("b", 1).admitted).toBe(true);
    // Events: a batch of 150 leaves 50 of the 200-event burst; the next 100 wait for 0.5 s.
    expect(limiter.admit("c", 150).admitted).toBe(true);
    const refused = limiter.admit("c", 100);
    expect(refused).toEqual({ admitted: false, retryAfter: 1, limit: "events", rate: 100 });
    // The refused request took no request token: 8 more fit in c's 10-request burst.
    for (let i = 0; i < 8; i++) expect(limiter.admit("c", 0).admitted).toBe(true);
    now += 200; // +1 request token
    expect(limiter.admit("a", 1).admitted).toBe(true);
    expect(limiter.admit("a", 1).admitted).toBe(false);
    // Overrides: a tenant of its own rate; 0 = no limit.
    for (let i = 0; i < 1000; i++) expect(limiter.admit("free", 1, { rateLimitRps: 0, rateLimitEps: 0 }).admitted).toBe(true);
    expect(limiter.admit("slow", 1, { rateLimitRps: 1 }).admitted).toBe(true);
    expect(limiter.admit("slow", 1, { rateLimitRps: 1 }).admitted).toBe(true);
    const slow = limiter.admit("slow", 1, { rateLimitRps: 1 });
    expect(slow.admitted).toBe(false);
    expect(slow.admitted === false && slow.retryAfter).toBe(1);
    expect(limiter.refused).toBe(4);
  });
});

describe("rate limits over HTTP", () => {
  const RPS = 20;
  let server: TestServer;
  beforeAll(async () => {
    // Burst of 1 s: a bucket holds 20 requests. KEY_CACHE_TTL 0: `tenant set` applies at once.
    server = await startTestServer({ RATE_LIMIT_RPS: String(RPS), RATE_LIMIT_BURST_SECONDS: "1", KEY_CACHE_TTL_SECONDS: "0" });
  });
  afterAll(() => server.stop());

  const track = (key: string, messageId: string) => server.track({ event: "Rate", anonymousId: "v", messageId }, { key });

  test("a noisy tenant far over its limit gets 429s with Retry-After; a quiet one sending at the same time gets only 2xx", { timeout: 120_000 }, async () => {
    const noisy = await server.tenant("noisy");
    const quiet = await server.tenant("quiet");
    const noisyStatuses: number[] = [];
    const noisyAccepted: string[] = [];
    const started = performance.now();
    let sent = 0;
    const noisyWorker = async () => {
      while (sent < 600) {
        const messageId = `n-${sent++}`;
        const response = await track(noisy.writeKey, messageId);
        noisyStatuses.push(response.status);
        const body = await response.json();
        if (response.status === 200) noisyAccepted.push(messageId);
        if (response.status === 429) {
          expect(Number(response.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
          expect(body).toEqual({
            error: { code: "rate_limited", message: expect.stringContaining("20 requests per second"), details: [] },
            requestId: expect.any(String),
          });
        }
      }
    };
    // The quiet tenant sends fewer requests than its burst, spread over the noisy run.
    const quietStatuses: number[] = [];
    const quietWorker = async () => {
      for (let i = 0; i < 15; i++) {
        quietStatuses.push((await track(quiet.writeKey, `q-${i}`)).status);
        await Bun.sleep(10);
      }
    };
    await Promise.all([...Array.from({ length: 20 }, noisyWorker), quietWorker()]);
    const elapsedSeconds = (performance.now() - started) / 1000;

    expect(quietStatuses).toEqual(Array(15).fill(200));
    expect(noisyStatuses.every((s) => s === 200 || s === 429)).toBe(true);
    const refused = noisyStatuses.filter((s) => s === 429).length;
    expect(refused).toBeGreaterThan(0);
    // What got through is the burst plus the rate over the run, no more.
    expect(noisyAccepted.length).toBeLessThanOrEqual(RPS + Math.ceil(RPS * elapsedSeconds) + 1);
    console.log(`rate limit: noisy ${noisyAccepted.length} accepted, ${refused} refused in ${elapsedSeconds.toFixed(2)} s; quiet 15 of 15 accepted`);

    // Refused requests stored nothing; accepted ones are all there.
    const stored = (await exportEvents(server.dbPath, noisy.tenantId)).map((e) => e.messageId).sort();
    expect(stored).toEqual([...noisyAccepted].sort());
    expect((await exportEvents(server.dbPath, quiet.tenantId)).length).toBe(15);
  });

  test("a batch counts its items against events/s (override from `inlet tenant set --rate-eps`)", { timeout: 60_000 }, async () => {
    const t = await server.tenant("events");
    const set = await cli(["tenant", "set", t.tenantId, "--rate-eps", "1"], storeEnv(server.dbPath));
    expect(set.code).toBe(0);
    expect(JSON.parse(set.stdout).settings.rateLimitEps).toBe(1);

    // A full bucket lets a batch bigger than the burst through, and then it is in debt for ~50 s.
    const batch = { batch: Array.from({ length: 50 }, (_, i) => ({ type: "track", event: "E", anonymousId: "a", messageId: `b-${i}` })) };
    const first = await server.post("/v1/events/batch", batch, { key: t.writeKey });
    expect(first.status).toBe(200);
    const next = await track(t.writeKey, "after-batch");
    expect(next.status).toBe(429);
    expect(Number(next.headers.get("retry-after"))).toBeGreaterThanOrEqual(30);
    expect((await next.json()).error.message).toContain("1 events per second");
  });

  test("requests/s overrides: a lower rate, 0 for no limit, and `default` back to the server's", { timeout: 60_000 }, async () => {
    const t = await server.tenant("overrides");
    const env = storeEnv(server.dbPath);
    expect((await cli(["tenant", "set", t.tenantId, "--rate-rps", "1"], env)).code).toBe(0);
    const slow: number[] = [];
    for (let i = 0; i < 5; i++) slow.push((await track(t.writeKey, `slow-${i}`)).status);
    expect(slow[0]).toBe(200); // a burst of 1 s at 1/s: one request
    expect(slow).toContain(429);

    expect((await cli(["tenant", "set", t.tenantId, "--rate-rps", "0"], env)).code).toBe(0);
    const free = await Promise.all(Array.from({ length: 3 * RPS }, (_, i) => track(t.writeKey, `free-${i}`)));
    expect(free.map((r) => r.status)).toEqual(Array(3 * RPS).fill(200));

    expect((await cli(["tenant", "set", t.tenantId, "--rate-rps", "default"], env)).code).toBe(0);
    const limited = await Promise.all(Array.from({ length: 3 * RPS }, (_, i) => track(t.writeKey, `default-${i}`)));
    expect(limited.map((r) => r.status)).toContain(429);

    const bad = await cli(["tenant", "set", t.tenantId, "--rate-rps", "fast"], env);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain("--rate-rps");
  });
});
