/** GET /v1/stats and the per-tenant business metrics on /metrics, on a real server and its store. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { SQL } from "bun";
import { sessions, visitors } from "../../src/db/schema";
import { SqliteActivity } from "../../src/db/sqlite/activity";
import { startTestServer, TEST_STORE, type TestServer } from "../helpers/server";
import { parseExposition, sum } from "./prometheus";

let server: TestServer;
let tenant: { tenantId: string; writeKey: string; adminKey: string };
let other: { tenantId: string; writeKey: string; adminKey: string };

const MINUTE = 60_000;
const ago = (ms: number) => new Date(Date.now() - ms).toISOString();

async function adminTenant(name: string) {
  const t = await server.tenant(name);
  return { ...t, adminKey: (await server.running.services.tenants.createKey(t.tenantId, "admin")).key };
}

function stats(query: string, key: string | null) {
  return fetch(`${server.url}/v1/stats${query}`, { headers: key ? { authorization: `Bearer ${key}` } : {} });
}

beforeAll(async () => {
  server = await startTestServer();
  tenant = await adminTenant("stats");
  other = await adminTenant("stats-other");
  const batch = (key: string, items: object[]) => server.post("/v1/events/batch", { batch: items }, { key });
  // Now: visitors v1 (two sessions: events 40 and 5 minutes ago), v2 (identifies), and v3, whose
  // only event is from 3 hours ago (a late event: counted in events by its time, but v3 and its
  // session are new now). The other tenant's events must never count.
  const res = await batch(tenant.writeKey, [
    { type: "track", event: "Viewed", anonymousId: "v1", timestamp: ago(40 * MINUTE) },
    { type: "track", event: "Viewed", anonymousId: "v1", timestamp: ago(5 * MINUTE) },
    { type: "track", event: "Viewed", anonymousId: "v2", timestamp: ago(10 * MINUTE) },
    { type: "identify", userId: "lead-1", anonymousId: "v2", timestamp: ago(9 * MINUTE) },
    { type: "track", event: "Viewed", anonymousId: "v3", timestamp: ago(180 * MINUTE) },
  ]);
  expect(res.status).toBe(200);
  expect((await res.json()).results.every((r: { status: string }) => r.status === "accepted")).toBe(true);
  const noise = await batch(other.writeKey, [
    { type: "track", event: "Other", anonymousId: "o1", timestamp: ago(MINUTE) },
    { type: "identify", userId: "o-lead", anonymousId: "o1", timestamp: ago(MINUTE) },
  ]);
  expect(noise.status).toBe(200);
  // A visitor and session Inlet created 3 hours ago (a database in use for a while): the ids are
  // UUIDv7 made at that time, as the pipeline makes them.
  const created = Date.now() - 180 * MINUTE;
  const visitorId = Bun.randomUUIDv7(undefined, created);
  const sessionId = Bun.randomUUIDv7(undefined, created);
  if (TEST_STORE === "postgres") {
    const pg = new SQL({ url: server.dbPath, max: 1 });
    const at = new Date(created).toISOString();
    await pg`INSERT INTO visitors (tenant_id, id, key, anonymous_id, first_seen_at, last_seen_at) VALUES (${tenant.tenantId}, ${visitorId}, 'v0', 'v0', ${at}, ${at})`;
    await pg`INSERT INTO sessions (tenant_id, id, visitor_id, started_at, last_event_at, event_count) VALUES (${tenant.tenantId}, ${sessionId}, ${visitorId}, ${at}, ${at}, 1)`;
    await pg.close();
  } else {
    const { db } = server.running.services.sqlite!.database;
    db.insert(visitors).values({ id: visitorId, tenantId: tenant.tenantId, key: "v0", anonymousId: "v0", firstSeenAt: created, lastSeenAt: created }).run();
    db.insert(sessions).values({ id: sessionId, tenantId: tenant.tenantId, visitorId, startedAt: created, lastEventAt: created, eventCount: 1 }).run();
  }
});
afterAll(async () => {
  await server.stop();
});

describe("GET /v1/stats", () => {
  test("the admin key's tenant over the last hour: events per minute, new visitors, sessions, identify conversion", async () => {
    const res = await stats("?window=1h", tenant.adminKey);
    expect(res.status).toBe(200);
    const body = await res.json();
    expect(body).toMatchObject({
      tenantId: tenant.tenantId,
      window: "1h",
      events: 4, // v3's event is 3 hours old
      eventsPerMinute: Math.round((4 / 60) * 100) / 100,
      newVisitors: 3,
      identifiedVisitors: 1,
      identifyConversion: 0.3333,
      sessions: 4, // v1's two (35 minutes apart, over the 30-minute timeout), v2's and v3's
    });
    expect(Date.parse(body.to) - Date.parse(body.from)).toBe(60 * MINUTE);
  });

  test("the window defaults to 24h and reaches older activity", async () => {
    const body = await (await stats("", tenant.adminKey)).json();
    expect(body).toMatchObject({ window: "24h", events: 5, newVisitors: 4, identifiedVisitors: 1, identifyConversion: 0.25, sessions: 5 });
  });

  test("each admin key sees only its own tenant", async () => {
    const body = await (await stats("?window=1h", other.adminKey)).json();
    expect(body).toMatchObject({ tenantId: other.tenantId, events: 2, newVisitors: 1, identifiedVisitors: 1, identifyConversion: 1 });
  });

  test("needs an admin key: none or an unknown key is a 401, a write key a 403", async () => {
    for (const key of [null, "ak_unknown_key_000000000000000000"]) {
      const res = await stats("?window=1h", key);
      expect(res.status).toBe(401);
      expect((await res.json()).error.code).toBe("unauthorized");
    }
    const res = await stats("?window=1h", tenant.writeKey);
    expect(res.status).toBe(403);
    expect((await res.json()).error.code).toBe("forbidden");
  });

  test.each(["abc", "0m", "60s", "32d", "1h;drop"])("a bad window (%p) is a 400 naming /window", async (window) => {
    const res = await stats(`?window=${encodeURIComponent(window)}`, tenant.adminKey);
    expect(res.status).toBe(400);
    const body = await res.json();
    expect(body.error.code).toBe("invalid_request");
    expect(body.error.details.map((d: { path: string }) => d.path)).toContain("/window");
  });

  test("is in the OpenAPI document with its response schema", async () => {
    const doc = await (await fetch(`${server.url}/swagger/json`)).json();
    const operation = doc.paths["/v1/stats"]?.get;
    expect(operation).toBeDefined();
    const schema = JSON.stringify(operation.responses["200"]);
    for (const field of ["eventsPerMinute", "newVisitors", "sessions", "identifyConversion"]) expect(schema).toContain(field);
  });

  // SQLite's query plans (EXPLAIN QUERY PLAN of SqliteActivity's statements).
  test.skipIf(TEST_STORE === "postgres")("each count is a range search on an index, never a table scan", () => {
    const { sqlite, db } = server.running.services.sqlite!.database;
    const plans = Object.entries(new SqliteActivity(db).statements()).map(([name, statement]) => {
      const parameters = statement.split("?").length - 1;
      const rows = sqlite.query(`EXPLAIN QUERY PLAN ${statement}`).all(...Array(parameters).fill("x")) as { detail: string }[];
      return { name, plan: rows.map((r) => r.detail).join("; ") };
    });
    for (const { name, plan } of plans) expect({ name, plan }).toEqual({ name, plan: expect.stringMatching(/^SEARCH \w+ USING (COVERING )?INDEX \w+ \(/) });
    for (const { name, plan } of plans) expect({ name, plan }).toEqual({ name, plan: expect.not.stringMatching(/\bSCAN\b/) });
  });
});

describe("business metrics on /metrics", () => {
  test("per tenant, over the last hour, the same numbers as /v1/stats?window=1h", async () => {
    const samples = parseExposition(await (await fetch(`${server.url}/metrics`)).text());
    const of = (name: string) => sum(samples, name, { tenant: tenant.tenantId });
    expect(of("inlet_tenant_events_per_minute")).toBe(Math.round((4 / 60) * 100) / 100);
    expect(of("inlet_tenant_new_visitors")).toBe(3);
    expect(of("inlet_tenant_sessions")).toBe(4);
    expect(of("inlet_tenant_identify_conversion_ratio")).toBe(0.3333);
    expect(sum(samples, "inlet_tenant_new_visitors", { tenant: other.tenantId })).toBe(1);
  });
});
