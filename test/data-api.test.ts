/**
 * The read API (GET /v1/events, /v1/leads/:id, /v1/visitors/:anonymousId), the admin API
 * (/v1/admin/* with the operator token, /v1/keys with a tenant's admin key) and the debugger's
 * stream: each with the right key, the wrong kind of key, and another tenant's key.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { SQL } from "bun";
import { startTestServer, TEST_STORE, type TestServer } from "./helpers/server";

const OPERATOR = "operator-token-for-tests-0123456789";
let server: TestServer;
let adminKey: string;
let other: { tenantId: string; writeKey: string; adminKey: string };

const get = (path: string, key: string | null, headers: Record<string, string> = {}) =>
  fetch(server.url + path, { headers: { ...(key ? { authorization: `Bearer ${key}` } : {}), ...headers } });
const send = (method: string, path: string, key: string | null, body?: unknown) =>
  fetch(server.url + path, {
    method,
    headers: { "content-type": "application/json", ...(key ? { authorization: `Bearer ${key}` } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });

beforeAll(async () => {
  server = await startTestServer({ INLET_OPERATOR_TOKEN: OPERATOR });
  const { tenants } = server.running.services;
  adminKey = (await tenants.createKey(server.tenantId, "admin")).key;
  const t = await server.tenant("other");
  other = { ...t, adminKey: (await tenants.createKey(t.tenantId, "admin")).key };
  await server.post("/v1/events/identify", { userId: "u-1", anonymousId: "a-1", traits: { email: "ada@example.com", name: "Ada" } });
  for (let i = 0; i < 5; i++) await server.track({ event: `E${i}`, anonymousId: "a-1", timestamp: new Date(Date.UTC(2026, 0, 1, 0, 0, i)).toISOString() });
  await server.track({ event: "Other", anonymousId: "o-1", userId: "u-other" }, { key: other.writeKey });
});
afterAll(() => server.stop());

describe("GET /v1/events", () => {
  test("pages with an opaque cursor, in the shape of inlet export, filtered", async () => {
    const first = await (await get("/v1/events?limit=2&type=track", adminKey)).json();
    expect(first.events.map((e: { event: string }) => e.event)).toEqual(["E0", "E1"]);
    expect(first.hasMore).toBe(true);
    expect(first.events[0]).toMatchObject({ type: "track", anonymousId: "a-1", visitorId: expect.any(String), sessionId: expect.any(String) });
    const rest = await (await get(`/v1/events?limit=10&type=track&cursor=${first.nextCursor}`, adminKey)).json();
    expect(rest.events.map((e: { event: string }) => e.event)).toEqual(["E2", "E3", "E4"]);
    expect(rest.hasMore).toBe(false);
    const byUser = await (await get("/v1/events?userId=u-1", adminKey)).json();
    expect(byUser.events.map((e: { type: string }) => e.type)).toEqual(["identify"]);
    const since = await (await get("/v1/events?type=track&since=2026-01-01T00:00:03Z&until=2026-01-01T00:00:04Z", adminKey)).json();
    expect(since.events.map((e: { event: string }) => e.event)).toEqual(["E3"]);
  });

  test("never shows another tenant's events", async () => {
    const mine = await (await get("/v1/events?limit=1000", adminKey)).json();
    expect(mine.events.some((e: { event?: string }) => e.event === "Other")).toBe(false);
    const theirs = await (await get("/v1/events?limit=1000", other.adminKey)).json();
    expect(theirs.events.map((e: { event?: string }) => e.event)).toEqual(["Other"]);
    // A cursor is a position only: another tenant's cursor reads the caller's own events.
    const crossed = await (await get(`/v1/events?cursor=${mine.nextCursor}`, other.adminKey)).json();
    expect(crossed.events.every((e: { anonymousId?: string }) => e.anonymousId === "o-1")).toBe(true);
  });

  test("a write key gets 403, no key or an unknown key 401, a bad cursor or time 400", async () => {
    expect((await get("/v1/events", server.writeKey)).status).toBe(403);
    expect((await get("/v1/events", null)).status).toBe(401);
    expect((await get("/v1/events", "ak_unknownunknownunknownunknown")).status).toBe(401);
    expect((await get("/v1/events", OPERATOR)).status).toBe(401);
    const cursor = await get("/v1/events?cursor=nonsense", adminKey);
    expect(cursor.status).toBe(400);
    expect((await cursor.json()).error.details[0].path).toBe("/cursor");
    expect((await get("/v1/events?since=yesterday", adminKey)).status).toBe(400);
    expect((await get("/v1/events?limit=0", adminKey)).status).toBe(400);
  });

  test("NDJSON with Accept: application/x-ndjson", async () => {
    const res = await get("/v1/events?type=track", adminKey, { accept: "application/x-ndjson" });
    expect(res.headers.get("content-type")).toStartWith("application/x-ndjson");
    const lines = (await res.text())
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(lines.map((e) => e.event)).toEqual(["E0", "E1", "E2", "E3", "E4"]);
  });
});

describe("GET /v1/leads and /v1/visitors", () => {
  test("a lead by userId or email, as inlet lead show prints it", async () => {
    const lead = await (await get("/v1/leads/u-1", adminKey)).json();
    expect(lead).toMatchObject({ userId: "u-1", email: "ada@example.com", traits: { name: "Ada" } });
    expect(lead.visitors.map((v: { anonymousId: string }) => v.anonymousId)).toEqual(["a-1"]);
    expect(lead.eventCount).toBe(6);
    expect((await (await get("/v1/leads/ada@example.com", adminKey)).json()).leadId).toBe(lead.leadId);
  });

  test("a visitor with its sessions and lead", async () => {
    expect(await server.sessionsWritten()).toBe(true);
    const visitor = await (await get("/v1/visitors/a-1", adminKey)).json();
    expect(visitor.anonymousId).toBe("a-1");
    expect(visitor.sessions.length).toBeGreaterThan(0);
    expect(visitor.lead.userId).toBe("u-1");
  });

  test("another tenant's lead or visitor is a 404; a write key a 403", async () => {
    expect((await get("/v1/leads/u-1", other.adminKey)).status).toBe(404);
    expect((await get("/v1/visitors/a-1", other.adminKey)).status).toBe(404);
    expect((await get("/v1/leads/u-other", adminKey)).status).toBe(404);
    expect((await get("/v1/leads/u-1", server.writeKey)).status).toBe(403);
    expect((await get("/v1/visitors/a-1", server.writeKey)).status).toBe(403);
  });
});

describe("admin API", () => {
  test("the operator creates, lists and changes tenants, with the CLI's field names", async () => {
    const created = await send("POST", "/v1/admin/tenants", OPERATOR, { name: "Acme" });
    expect(created.status).toBe(201);
    const tenant = await created.json();
    // (Plain values only: bun's toMatchObject writes asymmetric matchers into the object it checks.)
    expect(tenant).toMatchObject({ name: "Acme", kind: "write" });
    expect(tenant.key).toMatch(/^wk_/);
    expect(tenant.keyId).toBeString();
    expect(new Date(tenant.createdAt).toISOString()).toBe(tenant.createdAt);
    const first = await server.track({ event: "E", anonymousId: "x" }, { key: tenant.key });
    expect(first.status, await first.text()).toBe(200);

    const list = await (await get("/v1/admin/tenants", OPERATOR)).json();
    expect(list.map((t: { tenantId: string }) => t.tenantId)).toContain(tenant.tenantId);

    const patched = await send("PATCH", `/v1/admin/tenants/${tenant.tenantId}`, OPERATOR, {
      ipPolicy: "drop",
      corsOrigins: ["https://shop.example"],
      rateLimitRps: 7,
    });
    expect(patched.status).toBe(200);
    expect((await patched.json()).settings).toMatchObject({ ipPolicy: "drop", corsOrigins: ["https://shop.example"], rateLimitRps: 7 });
    // Applied on this server at once: the origin is now refused.
    expect((await server.track({ event: "E", anonymousId: "x" }, { key: tenant.key, headers: { origin: "https://evil.example" } })).status).toBe(403);
    const reset = await (await send("PATCH", `/v1/admin/tenants/${tenant.tenantId}`, OPERATOR, { rateLimitRps: null })).json();
    expect(reset.settings.rateLimitRps).toBeUndefined();
    expect((await send("PATCH", `/v1/admin/tenants/${tenant.tenantId}`, OPERATOR, { ipPolicy: "sometimes" })).status).toBe(400);
    expect((await send("PATCH", `/v1/admin/tenants/${tenant.tenantId}`, OPERATOR, { ratelimitrps: 1 })).status).toBe(400);
    expect((await send("PATCH", "/v1/admin/tenants/no-such-tenant", OPERATOR, { bots: "drop" })).status).toBe(404);
  });

  test("the operator manages any tenant's keys; a revoked key stops at once on this server", async () => {
    const made = await send("POST", `/v1/admin/tenants/${other.tenantId}/keys`, OPERATOR, { kind: "write" });
    expect(made.status).toBe(201);
    const key = await made.json();
    expect(key).toMatchObject({ tenantId: other.tenantId, kind: "write", prefix: key.key.slice(0, 11) });
    expect((await server.track({ event: "E", anonymousId: "k" }, { key: key.key })).status).toBe(200);
    const listed = await (await get(`/v1/admin/tenants/${other.tenantId}/keys`, OPERATOR)).json();
    expect(listed.find((k: { keyId: string }) => k.keyId === key.keyId)).toMatchObject({ prefix: key.prefix, revokedAt: null });
    expect(JSON.stringify(listed)).not.toContain(key.key);
    const revoked = await send("DELETE", `/v1/admin/tenants/${other.tenantId}/keys/${key.prefix}`, OPERATOR);
    expect(revoked.status).toBe(200);
    expect((await revoked.json()).revoked.keyId).toBe(key.keyId);
    expect((await server.track({ event: "E", anonymousId: "k" }, { key: key.key })).status).toBe(401);
  });

  test("a tenant's admin key manages its own keys only", async () => {
    // No body: a write key (every field has a default).
    const bare = await fetch(`${server.url}/v1/keys`, { method: "POST", headers: { authorization: `Bearer ${adminKey}` } });
    expect(bare.status).toBe(201);
    expect((await bare.json()).kind).toBe("write");
    const made = await send("POST", "/v1/keys", adminKey, { kind: "admin" });
    expect(made.status).toBe(201);
    const key = await made.json();
    expect(key).toMatchObject({ tenantId: server.tenantId, kind: "admin" });
    const mine = await (await get("/v1/keys", adminKey)).json();
    expect(mine.map((k: { keyId: string }) => k.keyId)).toContain(key.keyId);
    const theirs = await (await get("/v1/keys", other.adminKey)).json();
    expect(theirs.map((k: { keyId: string }) => k.keyId)).not.toContain(key.keyId);
    // Another tenant cannot revoke it, by id or by prefix.
    expect((await send("DELETE", `/v1/keys/${key.keyId}`, other.adminKey)).status).toBe(404);
    expect((await send("DELETE", `/v1/keys/${key.prefix}`, other.adminKey)).status).toBe(404);
    expect((await get("/v1/events?limit=1", key.key)).status).toBe(200);
    expect((await send("DELETE", `/v1/keys/${key.keyId}`, adminKey)).status).toBe(200);
    expect((await get("/v1/events?limit=1", key.key)).status).toBe(401);
  });

  test("the wrong kind of credential is refused", async () => {
    for (const key of [adminKey, server.writeKey, null, "not-the-token"]) {
      expect((await get("/v1/admin/tenants", key)).status).toBe(401);
      expect((await send("POST", "/v1/admin/tenants", key, { name: "x" })).status).toBe(401);
    }
    expect((await get("/v1/keys", server.writeKey)).status).toBe(403);
    expect((await send("POST", "/v1/keys", server.writeKey, {})).status).toBe(403);
    expect((await get("/v1/keys", OPERATOR)).status).toBe(401);
  });

  test("without INLET_OPERATOR_TOKEN the operator routes answer 404", async () => {
    const plain = await startTestServer();
    try {
      for (const token of [OPERATOR, ""]) {
        const res = await fetch(`${plain.url}/v1/admin/tenants`, { headers: { authorization: `Bearer ${token}` } });
        expect(res.status).toBe(404);
        expect((await res.json()).error.code).toBe("not_found");
      }
    } finally {
      await plain.stop();
    }
  });
});

test("every new route is in the OpenAPI document with examples", async () => {
  const spec = await (await fetch(`${server.url}/swagger/json`)).json();
  for (const [path, method] of [
    ["/v1/events", "get"],
    ["/v1/leads/{userIdOrEmail}", "get"],
    ["/v1/visitors/{anonymousId}", "get"],
    ["/v1/debugger/stream", "get"],
    ["/v1/debugger/events/{messageId}", "get"],
    ["/v1/admin/tenants", "post"],
    ["/v1/admin/tenants", "get"],
    ["/v1/admin/tenants/{tenantId}", "patch"],
    ["/v1/admin/tenants/{tenantId}/keys", "post"],
    ["/v1/admin/tenants/{tenantId}/keys/{keyIdOrPrefix}", "delete"],
    ["/v1/keys/", "get"],
  ] as const) {
    expect(spec.paths[path]?.[method]?.summary, `${method} ${path}`).toBeString();
  }
  expect(JSON.stringify(spec.paths["/v1/events"].get.responses["200"])).toContain("Order Completed");
});

describe("GET /v1/events at volume", () => {
  test("paging neither skips nor repeats events while ingestion continues", async () => {
    const t = await server.tenant("paging");
    const key = (await server.running.services.tenants.createKey(t.tenantId, "admin")).key;
    const base = Date.UTC(2026, 1, 1);
    const batch = Array.from({ length: 300 }, (_, i) => ({
      type: "track",
      event: "Old",
      anonymousId: `p-${i % 7}`,
      messageId: `old-${i}`,
      timestamp: new Date(base + (i % 40) * 250).toISOString(),
    }));
    expect((await server.post("/v1/events/batch", { batch }, { key: t.writeKey })).status).toBe(200);
    const seen: string[] = [];
    let cursor = "";
    for (let page = 0; page < 100; page++) {
      // New events arrive between pages, some in the range being paged.
      await server.post("/v1/events/batch", { batch: [{ type: "track", event: "New", anonymousId: "n", messageId: `new-${page}` }] }, { key: t.writeKey });
      const body = await (await get(`/v1/events?limit=37${cursor ? `&cursor=${cursor}` : ""}`, key)).json();
      seen.push(...body.events.map((e: { messageId: string }) => e.messageId));
      cursor = body.nextCursor;
      if (!body.hasMore) break;
    }
    expect(new Set(seen).size).toBe(seen.length);
    expect(seen.filter((id) => id.startsWith("old-")).sort()).toEqual(batch.map((c) => c.messageId).sort());
  });

  test("NDJSON streams 100,000 events in bounded memory", async () => {
    const t = await server.tenant("bulk");
    const key = (await server.running.services.tenants.createKey(t.tenantId, "admin")).key;
    const padding = JSON.stringify({ note: "x".repeat(200) });
    const total = 100_000;
    // Stored directly (through the pipeline it would take minutes): one statement on PostgreSQL.
    if (TEST_STORE === "postgres") {
      const pg = new SQL({ url: server.dbPath, max: 1 });
      await pg.unsafe(
        `INSERT INTO events (tenant_id, message_id, type, event, anonymous_id, visitor_id, session_id, timestamp, received_at, properties, context)
         SELECT $1, 'bulk-' || i, 'track', 'Bulk', 'b', 'v', 's', at, at, $2::jsonb, '{}' FROM generate_series(0, $3 - 1) AS i,
           LATERAL (SELECT to_timestamp((1700000000000 + i) / 1000.0) AS at) AS t`,
        [t.tenantId, padding, total],
      );
      await pg.close();
    } else {
      const { sqlite } = server.running.services.sqlite!.database;
      const insert = sqlite.prepare(
        "INSERT INTO events (tenant_id, message_id, type, event, anonymous_id, visitor_id, session_id, timestamp, received_at, properties, context) VALUES (?, ?, 'track', 'Bulk', 'b', 'v', 's', ?, ?, ?, '{}')",
      );
      sqlite.transaction(() => {
        for (let i = 0; i < total; i++) insert.run(t.tenantId, `bulk-${i}`, 1_700_000_000_000 + i, 1_700_000_000_000 + i, padding);
      })();
    }
    // The heap (the JavaScript objects the server and this test hold), after collection, sampled while reading.
    const heap = () => {
      Bun.gc(true);
      return process.memoryUsage().heapUsed;
    };
    const before = heap();
    let peak = before;
    const res = await get("/v1/events", key, { accept: "application/x-ndjson" });
    const reader = res.body!.getReader();
    let bytes = 0;
    let lines = 0;
    for (let chunk = 0; ; chunk++) {
      const { value, done } = await reader.read();
      if (done) break;
      bytes += value.length;
      for (let i = value.indexOf(10); i !== -1; i = value.indexOf(10, i + 1)) lines++;
      if (chunk % 25 === 0) peak = Math.max(peak, heap());
    }
    expect(lines).toBe(total);
    // Over 40 MB sent; the heap grew by a small fraction of it (one page of rows at a time).
    expect(bytes).toBeGreaterThan(40 * 1024 * 1024);
    const grown = peak - before;
    console.log(`NDJSON: ${(bytes / 1048576).toFixed(0)} MiB streamed, heap grew at most ${(grown / 1048576).toFixed(1)} MiB`);
    expect(grown).toBeLessThan(16 * 1024 * 1024);
  });
});
