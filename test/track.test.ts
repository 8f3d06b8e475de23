import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { exportEvents, startTestServer, type TestServer } from "./helpers/server";

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer({ KEY_CACHE_TTL_SECONDS: "0" });
});
afterAll(() => server.stop());

const event = (extra: Record<string, unknown> = {}) => ({ event: "Signed Up", anonymousId: `anon-${crypto.randomUUID()}`, ...extra });

describe("authentication", () => {
  test("accepts the write key as Bearer, Basic (Segment), X-API-Key and writeKey in the body", async () => {
    const basic = Buffer.from(`${server.writeKey}:`).toString("base64");
    const variants: RequestInit[] = [
      { headers: { authorization: `Bearer ${server.writeKey}` }, body: JSON.stringify(event()) },
      { headers: { authorization: `Basic ${basic}` }, body: JSON.stringify(event()) },
      { headers: { "x-api-key": server.writeKey }, body: JSON.stringify(event()) },
      { headers: { "content-type": "text/plain" }, body: JSON.stringify(event({ writeKey: server.writeKey })) },
    ];
    for (const init of variants) {
      const res = await fetch(`${server.url}/v1/events/track`, { method: "POST", ...init });
      expect(res.status).toBe(200);
      expect((await res.json()).success).toBe(true);
    }
  });

  test("missing, malformed, unknown and revoked keys get the same 401", async () => {
    const other = await server.tenant("to-revoke");
    await server.running.services.tenants.revokeKey(other.writeKey.slice(0, 11));
    const cases: Record<string, string>[] = [
      {},
      { authorization: "Bearer" },
      { authorization: "Basic !!!notbase64" },
      { authorization: "Token abc" },
      { authorization: "Bearer wk_doesnotexist000000000000000000" },
      { authorization: `Bearer ${other.writeKey}` },
    ];
    const bodies = new Set<string>();
    for (const headers of cases) {
      const res = await fetch(`${server.url}/v1/events/track`, { method: "POST", headers, body: JSON.stringify(event()) });
      expect(res.status).toBe(401);
      const body = await res.json();
      expect(body.error.code).toBe("unauthorized");
      expect(typeof body.requestId).toBe("string");
      bodies.add(body.error.message);
    }
    expect(bodies.size).toBe(1);
  });

  test("an admin key cannot ingest", async () => {
    const admin = await server.running.services.tenants.createKey(server.tenantId, "admin");
    const res = await server.track(event(), { key: admin.key });
    expect(res.status).toBe(401);
  });
});

describe("validation and errors", () => {
  test("schema violations give 400 naming each failing path once, in words", async () => {
    const res = await server.track({ event: "", anonymousId: "a", properties: "nope", userId: true });
    expect(res.status).toBe(400);
    const body = await res.json();
    expect(body.error.code).toBe("invalid_request");
    expect(body.error.details).toEqual([
      { path: "/event", message: "Expected a non-empty string of at most 200 characters" },
      { path: "/properties", message: "Expected an object or null" },
      { path: "/userId", message: "Expected a string of at most 255 characters, a number or null" },
    ]);
    // An array is no object, in any of the object fields.
    const arrays = await (await server.track({ event: "e", anonymousId: "a", properties: [1], context: [], integrations: ["x"] })).json();
    expect(arrays.error.details.map((detail: { path: string }) => detail.path)).toEqual(["/properties", "/context", "/integrations"]);
    const missing = await (await server.track({ anonymousId: "a" })).json();
    expect(missing.error.details).toEqual([{ path: "/event", message: "Required: expected a non-empty string of at most 200 characters" }]);
  });

  test("an unreadable timestamp keeps the event at the server's time, with a warning in the answer and the stored context", async () => {
    const tenant = await server.tenant("unreadable-time");
    const before = Date.now();
    const res = await server.track({ event: "Late", anonymousId: "a", messageId: "unreadable-1", timestamp: "yesterday" }, { key: tenant.writeKey });
    expect(res.status).toBe(200);
    const body = await res.json();
    expect(body.warnings).toEqual(['timestamp "yesterday" is not a readable ISO 8601 date and time; the server\'s time was used']);
    const [stored] = await exportEvents(server.dbPath, tenant.tenantId);
    expect(stored!.context.inlet.warnings).toEqual(body.warnings);
    expect(Date.parse(stored!.timestamp)).toBeGreaterThanOrEqual(before - 1000);
  });

  test("an event name over 200 characters is rejected", async () => {
    const res = await server.track(event({ event: "x".repeat(201) }));
    expect(res.status).toBe(400);
    expect((await res.json()).error.details[0].path).toBe("/event");
  });

  test("a call with neither userId nor anonymousId is rejected", async () => {
    const res = await server.track({ event: "Orphan" });
    expect(res.status).toBe(400);
    const body = await res.json();
    expect(body.error.details[0].message).toMatch(/userId or anonymousId/);
  });

  test("invalid JSON is 400, a non-object body is 400, invalid UTF-8 is 400", async () => {
    expect((await server.track("{bad")).status).toBe(400);
    expect((await (await server.track("{bad")).json()).error.code).toBe("invalid_json");
    expect((await server.track("[1,2]")).status).toBe(400);
    const res = await fetch(`${server.url}/v1/events/track`, {
      method: "POST",
      headers: { authorization: `Bearer ${server.writeKey}` },
      body: new Uint8Array([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d]),
    });
    expect(res.status).toBe(400);
    expect((await res.json()).error.code).toBe("invalid_encoding");
  });

  test("a body over 32 KB gets 413, declared or streamed", async () => {
    const big = JSON.stringify(event({ properties: { blob: "x".repeat(33 * 1024) } }));
    const declared = await server.track(big);
    expect(declared.status).toBe(413);
    expect((await declared.json()).error.code).toBe("payload_too_large");
    const stream = new ReadableStream({
      start(controller) {
        controller.enqueue(new TextEncoder().encode(big));
        controller.close();
      },
    });
    const streamed = await fetch(`${server.url}/v1/events/track`, {
      method: "POST",
      headers: { authorization: `Bearer ${server.writeKey}` },
      body: stream,
    });
    expect(streamed.status).toBe(413);
  });

  test("unknown routes get 404 in the error format", async () => {
    const res = await fetch(`${server.url}/v1/nothing-here`);
    expect(res.status).toBe(404);
    const body = await res.json();
    expect(body.error.code).toBe("not_found");
    expect(res.headers.get("x-request-id")).toBe(body.requestId);
  });

  test("a known route with the wrong method gets 405 with Allow", async () => {
    const res = await fetch(`${server.url}/v1/track`);
    expect(res.status).toBe(405);
    expect(res.headers.get("allow")).toBe("POST");
    const body = await res.json();
    expect(body.error.code).toBe("method_not_allowed");
    expect(res.headers.get("x-request-id")).toBe(body.requestId);
    const health = await fetch(`${server.url}/health`, { method: "DELETE" });
    expect(health.status).toBe(405);
    expect(health.headers.get("allow")).toBe("GET, HEAD");
  });
});

describe("storage semantics", () => {
  test("a repeated messageId is acknowledged as duplicate and stored once", async () => {
    const tenant = await server.tenant("dedupe");
    const body = event({ messageId: "msg-dup-1" });
    const first = await (await server.track(body, { key: tenant.writeKey })).json();
    const second = await (await server.track(body, { key: tenant.writeKey })).json();
    expect(first).toMatchObject({ success: true, messageId: "msg-dup-1", status: "accepted" });
    expect(second).toMatchObject({ success: true, messageId: "msg-dup-1", status: "duplicate" });
    // The same messageId in another tenant is a different event.
    const elsewhere = await (await server.track(body)).json();
    expect(elsewhere.status).toBe("accepted");
    const stored = await exportEvents(server.dbPath, tenant.tenantId);
    expect(stored.filter((e) => e.messageId === "msg-dup-1")).toHaveLength(1);
  });

  test("a messageId is generated when absent", async () => {
    const res = await (await server.track(event())).json();
    expect(res.messageId).toMatch(/^[0-9a-f-]{36}$/);
  });

  test("client clock skew is corrected: timestamp = receivedAt - (sentAt - timestamp)", async () => {
    const tenant = await server.tenant("skew");
    // The client's clock runs one hour fast; the event happened 10 s before it was sent.
    const clientNow = Date.now() + 3_600_000;
    const before = Date.now();
    await server.track(event({ messageId: "skewed", timestamp: new Date(clientNow - 10_000).toISOString(), sentAt: new Date(clientNow).toISOString() }), {
      key: tenant.writeKey,
    });
    const after = Date.now();
    const [stored] = await exportEvents(server.dbPath, tenant.tenantId);
    const ts = Date.parse(stored!.timestamp);
    const received = Date.parse(stored!.receivedAt);
    expect(received).toBeGreaterThanOrEqual(before - 5);
    expect(received).toBeLessThanOrEqual(after + 5);
    expect(received - ts).toBe(10_000);
    expect(Date.parse(stored!.originalTimestamp)).toBe(clientNow - 10_000);
    expect(Date.parse(stored!.sentAt)).toBe(clientNow);
  });

  test("without sentAt the client timestamp is kept as sent", async () => {
    const tenant = await server.tenant("no-skew");
    await server.track(event({ timestamp: "2026-01-02T03:04:05.000Z" }), { key: tenant.writeKey });
    const [stored] = await exportEvents(server.dbPath, tenant.tenantId);
    expect(stored!.timestamp).toBe("2026-01-02T03:04:05.000Z");
  });

  test("the export round trip keeps the Segment fields and adds visitorId and sessionId", async () => {
    const tenant = await server.tenant("roundtrip");
    const sent = {
      event: "Order Completed",
      anonymousId: "anon-rt",
      userId: 42,
      messageId: "rt-1",
      properties: { orderId: "A-1", revenue: 42.5, items: [{ sku: "s1" }] },
      context: { page: { url: "https://shop.example/checkout" }, locale: "de-DE" },
      integrations: { All: true },
      timestamp: "2026-11-01T10:00:00.000Z",
    };
    const res = await server.track(sent, { key: tenant.writeKey });
    expect(res.status).toBe(200);
    const [stored] = await exportEvents(server.dbPath, tenant.tenantId);
    expect(stored).toMatchObject({
      type: "track",
      event: "Order Completed",
      messageId: "rt-1",
      anonymousId: "anon-rt",
      userId: "42",
      properties: sent.properties,
      integrations: { All: true },
      timestamp: "2026-11-01T10:00:00.000Z",
    });
    expect(stored!.context.page.url).toBe("https://shop.example/checkout");
    expect(stored!.context.locale).toBe("de-DE");
    expect(typeof stored!.visitorId).toBe("string");
    expect(typeof stored!.sessionId).toBe("string");
    expect(typeof stored!.receivedAt).toBe("string");
  });

  test("a 200 is answered only after the event is committed (visible to another connection)", async () => {
    const tenant = await server.tenant("durable");
    const responses = await Promise.all(Array.from({ length: 50 }, (_, i) => server.track(event({ messageId: `d-${i}` }), { key: tenant.writeKey })));
    expect(responses.every((r) => r.status === 200)).toBe(true);
    // The CLI is another process with its own connection: it sees only committed rows.
    const stored = await exportEvents(server.dbPath, tenant.tenantId);
    expect(stored).toHaveLength(50);
  });
});
