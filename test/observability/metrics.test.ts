/** GET /metrics on a real server: what an operator's Prometheus scrapes after real traffic. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { startTestServer, TEST_STORE, type TestServer } from "../helpers/server";
import { parseExposition, sum, type Sample } from "./prometheus";

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer();
});
afterAll(async () => {
  await server.stop();
});

async function scrape(target: TestServer = server, headers: Record<string, string> = {}): Promise<{ response: Response; samples: Sample[]; text: string }> {
  const response = await fetch(`${target.url}/metrics`, { headers });
  const text = await response.text();
  return { response, text, samples: response.status === 200 ? parseExposition(text) : [] };
}

/** A batch of 30 new visitors, then one more event of the first, in a new tenant: the scrape after, and how much a series grew. */
async function internalsTraffic(name: string) {
  const t = await server.tenant(name);
  const before = parseExposition(await (await fetch(`${server.url}/metrics`)).text());
  const batchOf = (n: number) => ({ batch: Array.from({ length: n }, (_, i) => ({ type: "track", event: "B", anonymousId: `i-${i}` })) });
  expect((await server.post("/v1/events/batch", batchOf(30), { key: t.writeKey })).status).toBe(200);
  expect((await server.track({ event: "E", anonymousId: "i-0" }, { key: t.writeKey })).status).toBe(200);
  const { samples } = await scrape();
  const grew = (series: string, labels: Record<string, string> = {}) => sum(samples, series, labels) - sum(before, series, labels);
  return { samples, grew };
}

describe("GET /metrics", () => {
  test("answers Prometheus text format", async () => {
    const { response, samples } = await scrape();
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toStartWith("text/plain; version=0.0.4");
    expect(samples.length).toBeGreaterThan(0);
  });

  test("counts requests by route template and status, with a latency histogram", async () => {
    const t = await server.tenant("requests");
    for (const id of ["r-1", "r-2"]) expect((await server.track({ event: "E", anonymousId: id }, { key: t.writeKey })).status).toBe(200);
    expect((await server.track({ event: "E", anonymousId: "r-3" }, { key: "wk_not_a_key" })).status).toBe(401);
    expect((await fetch(`${server.url}/no/such/path/12345`)).status).toBe(404);

    const { samples, text } = await scrape();
    const track = { method: "POST", route: "/v1/events/track" };
    expect(sum(samples, "inlet_http_requests_total", { ...track, status: "200" })).toBeGreaterThanOrEqual(2);
    expect(sum(samples, "inlet_http_requests_total", { ...track, status: "401" })).toBeGreaterThanOrEqual(1);
    // Unmatched paths share one label: a scanner cannot create a series per path.
    expect(sum(samples, "inlet_http_requests_total", { route: "unmatched", status: "404" })).toBeGreaterThanOrEqual(1);
    expect(text).not.toContain("/no/such/path");
    expect(sum(samples, "inlet_http_request_duration_seconds_count", track)).toBeGreaterThanOrEqual(3);
    expect(sum(samples, "inlet_http_request_duration_seconds_bucket", { ...track, le: "+Inf" })).toBe(
      sum(samples, "inlet_http_request_duration_seconds_count", track),
    );
  });

  test("counts events by tenant, type and status: accepted, duplicate, rejected and dropped", async () => {
    const t = await server.tenant("events");
    // Bots are dropped for this tenant (set before its key is first resolved and cached).
    await server.running.services.tenants.setSettings(t.tenantId, { bots: "drop" });
    const key = { key: t.writeKey };
    expect((await server.track({ event: "E", anonymousId: "e-1", messageId: "m-1" }, key)).status).toBe(200);
    expect((await server.track({ event: "E", anonymousId: "e-1", messageId: "m-1" }, key)).status).toBe(200); // duplicate
    const batch = await server.post(
      "/v1/events/batch",
      {
        batch: [
          { type: "identify", userId: "u-1", anonymousId: "e-1" },
          { type: "page", name: "Home", anonymousId: "e-1" },
          { type: "track", anonymousId: "e-1" }, // no event name
          { type: "nonsense", anonymousId: "e-1" },
        ],
      },
      key,
    );
    expect(batch.status).toBe(200);
    const bot = await server.track(
      { event: "E", anonymousId: "e-bot" },
      { ...key, headers: { "user-agent": "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)" } },
    );
    expect(bot.status).toBe(200);
    expect((await bot.json()).status).toBe("dropped");

    const { samples } = await scrape();
    const of = (type: string, status: string) => sum(samples, "inlet_events_total", { tenant: t.tenantId, type, status });
    expect(of("track", "accepted")).toBe(1);
    expect(of("track", "duplicate")).toBe(1);
    expect(of("identify", "accepted")).toBe(1);
    expect(of("page", "accepted")).toBe(1);
    expect(of("track", "dropped")).toBe(1);
    // Calls that fail their schema are counted without a type (their type is the untrusted input).
    expect(of("unknown", "rejected")).toBe(2);
    expect(sum(samples, "inlet_events_total", { tenant: t.tenantId })).toBe(7);
  });

  test("batch sizes, group commits, queue depth, key cache hits, readiness, memory", async () => {
    const { samples, grew } = await internalsTraffic("internals");
    expect(grew("inlet_batch_size_count")).toBe(2);
    expect(grew("inlet_batch_size_sum")).toBe(31);
    expect(grew("inlet_batch_size_bucket", { le: "20" })).toBe(1); // the track call; the batch of 30 is above
    expect(grew("inlet_group_commit_size_count")).toBeGreaterThanOrEqual(1);
    expect(grew("inlet_group_commit_duration_seconds_count")).toBe(grew("inlet_group_commit_size_count"));
    expect(sum(samples, "inlet_write_queue_events")).toBe(0); // nothing in flight while scraping
    expect(sum(samples, "inlet_write_queue_limit_events")).toBe(server.running.services.config.maxQueuedEvents);
    expect(grew("inlet_cache_hits_total", { cache: "keys" })).toBeGreaterThanOrEqual(1); // the second request's key
    for (const cache of ["keys", "user_agents"]) {
      for (const name of ["inlet_cache_hits_total", "inlet_cache_misses_total"])
        expect(samples.some((s) => s.name === name && s.labels.cache === cache)).toBe(true);
    }
    expect(sum(samples, "inlet_ready")).toBe(1);
    expect(sum(samples, "process_resident_memory_bytes")).toBeGreaterThan(0);
  });

  // SQLite's writer keeps visitors and sessions in caches, over a database file on a local disk.
  // On PostgreSQL nothing is cached across commits (another instance may change the rows,
  // src/pipeline/batch-record.ts) and the database's files are the database server's.
  test.skipIf(TEST_STORE === "postgres")("visitor and session cache hits, active sessions, database size, free disk", async () => {
    const { samples, grew } = await internalsTraffic("internals-sqlite");
    // The batch's 30 visitors are new (a miss each, and no session to look up); i-0's next event finds both cached.
    expect(grew("inlet_cache_misses_total", { cache: "visitors" })).toBeGreaterThanOrEqual(30);
    expect(grew("inlet_cache_hits_total", { cache: "visitors" })).toBeGreaterThanOrEqual(1);
    expect(grew("inlet_cache_hits_total", { cache: "sessions" })).toBeGreaterThanOrEqual(1);
    for (const cache of ["visitors", "sessions"]) {
      for (const name of ["inlet_cache_hits_total", "inlet_cache_misses_total"])
        expect(samples.some((s) => s.name === name && s.labels.cache === cache)).toBe(true);
    }
    expect(sum(samples, "inlet_active_sessions")).toBeGreaterThanOrEqual(30);
    expect(sum(samples, "inlet_db_size_bytes", { file: "database" }) + sum(samples, "inlet_db_size_bytes", { file: "wal" })).toBeGreaterThan(0);
    expect(sum(samples, "inlet_disk_free_bytes")).toBeGreaterThan(0);
  });

  test("rate-limited requests are counted per tenant", async () => {
    const t = await server.tenant("limited");
    await server.running.services.tenants.setSettings(t.tenantId, { rateLimitRps: 1 });
    let refused = 0;
    for (let i = 0; i < 10; i++) {
      const res = await server.track({ event: "E", anonymousId: `l-${i}` }, { key: t.writeKey });
      if (res.status === 429) refused++;
    }
    expect(refused).toBeGreaterThan(0);
    const { samples } = await scrape();
    expect(sum(samples, "inlet_rate_limited_requests_total", { tenant: t.tenantId })).toBe(refused);
  });

  test("labels never carry user ids, anonymous ids or event names", async () => {
    const t = await server.tenant("private");
    const userId = "user-label-check-8812";
    const anonymousId = "anon-label-check-4471";
    await server.post("/v1/events/identify", { userId, anonymousId, traits: { email: "label.check@example.com" } }, { key: t.writeKey });
    await server.track({ event: "Event-Name-Label-Check", anonymousId, userId }, { key: t.writeKey });
    const { text } = await scrape();
    for (const value of [userId, anonymousId, "label.check@example.com", "Event-Name-Label-Check"]) expect(text).not.toContain(value);
  });
});

describe("GET /metrics with METRICS_TOKEN", () => {
  test("needs the token as a bearer token; anything else is a 401 in the one error format", async () => {
    const guarded = await startTestServer({ METRICS_TOKEN: "scrape-secret-1" });
    try {
      const none = await scrape(guarded);
      expect(none.response.status).toBe(401);
      expect(JSON.parse(none.text).error.code).toBe("unauthorized");
      expect((await scrape(guarded, { authorization: "Bearer wrong-secret" })).response.status).toBe(401);
      expect((await scrape(guarded, { authorization: `Bearer ${guarded.writeKey}` })).response.status).toBe(401);
      const ok = await scrape(guarded, { authorization: "Bearer scrape-secret-1" });
      expect(ok.response.status).toBe(200);
      expect(ok.samples.some((s) => s.name === "inlet_ready")).toBe(true);
    } finally {
      await guarded.stop();
    }
  });
});
