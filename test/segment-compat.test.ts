/**
 * Segment compatibility, proven with the real client libraries pointed at a real Inlet server.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { gzipSync } from "node:zlib";
import { Analytics as SegmentAnalytics } from "@segment/analytics-node";
import RudderAnalytics from "@rudderstack/rudder-sdk-node";
import { cli, exportEvents, startTestServer, type TestServer, storeEnv } from "./helpers/server";

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(() => server.stop());

describe("@segment/analytics-node pointed at Inlet", () => {
  test("track, identify, page, group and alias each arrive exactly once with messageId, fields and context", async () => {
    const t = await server.tenant("segment-node");
    const analytics = new SegmentAnalytics({ writeKey: t.writeKey, host: server.url, maxEventsInBatch: 3, flushInterval: 50 });
    const sent: { type: string; messageId: string }[] = [];
    const record = (type: string) => (err: unknown, ctx: { event: { messageId?: string } } | undefined) => {
      expect(err).toBeFalsy();
      sent.push({ type, messageId: ctx!.event.messageId! });
    };
    analytics.track({ userId: "u-1", event: "Order Completed", properties: { revenue: 42, currency: "EUR" } }, record("track"));
    analytics.identify({ userId: "u-1", anonymousId: "anon-1", traits: { email: "ada@example.com", plan: "pro" } }, record("identify"));
    analytics.page({ userId: "u-1", name: "Pricing", category: "Docs", properties: { url: "https://example.com/pricing", path: "/pricing" } }, record("page"));
    analytics.group({ userId: "u-1", groupId: "acme", traits: { employees: 50 } }, record("group"));
    analytics.alias({ userId: "u-1", previousId: "old-id" }, record("alias"));
    await analytics.closeAndFlush({ timeout: 10_000 });
    expect(sent).toHaveLength(5);

    const stored = await exportEvents(server.dbPath, t.tenantId);
    expect(stored).toHaveLength(5);
    for (const { type, messageId } of sent) {
      const matches = stored.filter((e) => e.messageId === messageId);
      expect(matches).toHaveLength(1);
      expect(matches[0]!.type).toBe(type);
      expect(matches[0]!.context.library.name).toBe("@segment/analytics-node");
    }
    const byType = Object.fromEntries(stored.map((e) => [e.type, e]));
    expect(byType.track).toMatchObject({ event: "Order Completed", userId: "u-1", properties: { revenue: 42, currency: "EUR" } });
    expect(byType.identify).toMatchObject({ userId: "u-1", anonymousId: "anon-1", traits: { email: "ada@example.com", plan: "pro" } });
    expect(byType.page).toMatchObject({ name: "Pricing", category: "Docs", properties: { path: "/pricing" } });
    expect(byType.group).toMatchObject({ groupId: "acme", traits: { employees: 50 } });
    expect(byType.alias).toMatchObject({ previousId: "old-id", userId: "u-1" });
  });
});

describe("Segment's retry logic against Inlet's 429 and Retry-After", () => {
  test("analytics-node retries rate-limited batches after Retry-After; every call arrives exactly once", async () => {
    const t = await server.tenant("segment-retry");
    // One request per second for this tenant: most of the client's batches are answered 429 first.
    await server.running.services.tenants.setSettings(t.tenantId, { rateLimitRps: 1 });
    server.running.services.keys.clear();
    let refused = 0;
    const analytics = new SegmentAnalytics({ writeKey: t.writeKey, host: server.url, maxEventsInBatch: 1, flushInterval: 10, maxRetries: 10 });
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) {
      analytics.track({ anonymousId: "retry", event: `Retried ${i}` }, (err, ctx) => {
        expect(err).toBeFalsy();
        ids.push(ctx!.event.messageId!);
      });
    }
    const probe = await server.track({ event: "probe", anonymousId: "p" }, { key: t.writeKey });
    if (probe.status === 429) {
      refused++;
      expect(Number(probe.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    }
    await analytics.closeAndFlush({ timeout: 30_000 });
    expect(ids).toHaveLength(4);
    const stored = await exportEvents(server.dbPath, t.tenantId);
    for (const id of ids) expect(stored.filter((e) => e.messageId === id)).toHaveLength(1);
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    const line = metrics.split("\n").find((l) => l.startsWith("inlet_rate_limited_requests_total") && l.includes(t.tenantId));
    // The server did refuse some of them: the client's retries are what got them in.
    expect(Number(line?.split(" ").at(-1) ?? 0) + refused).toBeGreaterThan(0);
  }, 60_000);
});

describe("@rudderstack/rudder-sdk-node pointed at Inlet (gzip on)", () => {
  test("track, identify, page, group and alias each arrive exactly once", async () => {
    const t = await server.tenant("rudder-node");
    const client = new RudderAnalytics(t.writeKey, { dataPlaneUrl: server.url, flushAt: 2, flushInterval: 50, gzip: true, logLevel: "error" });
    client.track({ userId: "r-1", event: "Signed Up", properties: { plan: "team" } });
    client.identify({ userId: "r-1", anonymousId: "r-anon", traits: { email: "rudder@example.com" } });
    client.page({ userId: "r-1", name: "Home", properties: { url: "https://example.com/" } });
    client.group({ userId: "r-1", groupId: "rudder-co", traits: { tier: "gold" } });
    client.alias({ userId: "r-1", previousId: "r-old" });
    await client.flush();

    let stored: Record<string, any>[] = [];
    for (let i = 0; i < 100 && stored.length < 5; i++) {
      await Bun.sleep(50);
      stored = await exportEvents(server.dbPath, t.tenantId);
    }
    expect(stored).toHaveLength(5);
    expect(new Set(stored.map((e) => e.messageId)).size).toBe(5);
    const byType = Object.fromEntries(stored.map((e) => [e.type, e]));
    expect(byType.track).toMatchObject({ event: "Signed Up", userId: "r-1", properties: { plan: "team" } });
    expect(byType.identify).toMatchObject({ anonymousId: "r-anon", traits: { email: "rudder@example.com" } });
    expect(byType.page).toMatchObject({ name: "Home" });
    expect(byType.group).toMatchObject({ groupId: "rudder-co", traits: { tier: "gold" } });
    expect(byType.alias).toMatchObject({ previousId: "r-old", userId: "r-1" });
    expect(stored.every((e) => typeof e.context.library?.name === "string")).toBe(true);
  });
});

describe("the Segment HTTP API as its clients expect it", () => {
  const basic = (key: string) => `Basic ${Buffer.from(`${key}:`).toString("base64")}`;

  test("/v1/track ... /v1/import answer 200 {success: true} with Basic auth", async () => {
    const t = await server.tenant("http-api");
    const calls: [string, Record<string, unknown>][] = [
      ["/v1/track", { event: "E", anonymousId: "a" }],
      ["/v1/identify", { userId: "u", traits: { name: "N" } }],
      ["/v1/page", { anonymousId: "a", name: "P" }],
      ["/v1/screen", { anonymousId: "a", name: "S" }],
      ["/v1/group", { anonymousId: "a", groupId: "g" }],
      ["/v1/alias", { userId: "u", previousId: "a" }],
      ["/v1/batch", { batch: [{ type: "track", event: "B", anonymousId: "a" }] }],
      ["/v1/import", { batch: [{ type: "track", event: "I", anonymousId: "a", timestamp: "2025-01-01T00:00:00.000Z" }] }],
    ];
    for (const [path, body] of calls) {
      const res = await fetch(server.url + path, {
        method: "POST",
        headers: { authorization: basic(t.writeKey), "content-type": "application/json" },
        body: JSON.stringify(body),
      });
      expect(res.status).toBe(200);
      expect((await res.json()).success).toBe(true);
    }
    const stored = await exportEvents(server.dbPath, t.tenantId);
    expect(stored.map((e) => e.type).sort()).toEqual(["alias", "group", "identify", "page", "screen", "track", "track", "track"]);
  });

  test("invalid JSON is a 400 with the reason", async () => {
    const res = await fetch(`${server.url}/v1/batch`, { method: "POST", headers: { authorization: basic(server.writeKey) }, body: '{"batch": [' });
    expect(res.status).toBe(400);
    expect((await res.json()).error.message).toMatch(/JSON/);
  });

  test("gzip bodies are accepted; the limit applies to the decompressed size (a gzip bomb is a 413)", async () => {
    const t = await server.tenant("gzip");
    const body = JSON.stringify({ batch: [{ type: "track", event: "Zipped", anonymousId: "z" }] });
    const ok = await fetch(`${server.url}/v1/batch`, {
      method: "POST",
      headers: { authorization: basic(t.writeKey), "content-encoding": "gzip", "content-type": "application/json" },
      body: gzipSync(body),
    });
    expect(ok.status).toBe(200);
    expect((await exportEvents(server.dbPath, t.tenantId))[0]!.event).toBe("Zipped");

    // 50 MB of spaces inside a valid JSON object: about 50 KB compressed, far over 500 KB decompressed.
    const bomb = gzipSync(Buffer.concat([Buffer.from('{"batch":[],"pad":"'), Buffer.alloc(50 * 1024 * 1024, 0x20), Buffer.from('"}')]));
    expect(bomb.byteLength).toBeLessThan(500 * 1024);
    const res = await fetch(`${server.url}/v1/batch`, {
      method: "POST",
      headers: { authorization: basic(t.writeKey), "content-encoding": "gzip" },
      body: bomb,
    });
    expect(res.status).toBe(413);
    const corrupt = await fetch(`${server.url}/v1/batch`, {
      method: "POST",
      headers: { authorization: basic(t.writeKey), "content-encoding": "gzip" },
      body: "not gzip at all",
    });
    expect(corrupt.status).toBe(400);
    expect((await fetch(`${server.url}/health`)).status).toBe(200);
  });
});

describe("Segment's browser library (analytics-next) paths", () => {
  test("settings document points the library at this server", async () => {
    const res = await fetch(`${server.url}/v1/projects/${server.writeKey}/settings`);
    expect(res.status).toBe(200);
    const settings = await res.json();
    const host = new URL(server.url).host;
    expect(settings.integrations["Segment.io"]).toMatchObject({ apiKey: server.writeKey, apiHost: host, protocol: "http" });
    expect((await fetch(`${server.url}/v1/projects/wk_unknown/settings`)).status).toBe(401);
  });

  test("/b (batch, text/plain, writeKey in the body) and /t (one call) store the events", async () => {
    const t = await server.tenant("analytics-next");
    const b = await fetch(`${server.url}/b`, {
      method: "POST",
      headers: { "content-type": "text/plain" },
      body: JSON.stringify({
        writeKey: t.writeKey,
        sentAt: new Date().toISOString(),
        batch: [
          { type: "page", anonymousId: "br", messageId: "ajs-1", properties: { path: "/" } },
          { type: "track", event: "Clicked", anonymousId: "br", messageId: "ajs-2" },
        ],
      }),
    });
    expect(b.status).toBe(200);
    const single = await fetch(`${server.url}/t`, {
      method: "POST",
      headers: { "content-type": "text/plain", authorization: `Basic ${Buffer.from(`${t.writeKey}:`).toString("base64")}` },
      body: JSON.stringify({ type: "track", event: "Single", anonymousId: "br", messageId: "ajs-3", writeKey: t.writeKey, _metadata: { bundled: [] } }),
    });
    expect(single.status).toBe(200);
    const stored = await exportEvents(server.dbPath, t.tenantId);
    expect(stored.map((e) => e.messageId).sort()).toEqual(["ajs-1", "ajs-2", "ajs-3"]);
  });
});

describe("CORS", () => {
  test("preflight is answered for any origin; responses expose Retry-After", async () => {
    const res = await fetch(`${server.url}/v1/events/batch`, {
      method: "OPTIONS",
      headers: { origin: "https://shop.example", "access-control-request-method": "POST", "access-control-request-headers": "content-type,authorization" },
    });
    expect(res.status).toBeLessThan(300);
    expect(res.headers.get("access-control-allow-origin")).toMatch(/^(\*|https:\/\/shop\.example)$/);
    expect(res.headers.get("access-control-allow-methods")).toMatch(/POST/);
    // Every header an SDK sends may be sent cross-origin.
    const allowed = (res.headers.get("access-control-allow-headers") ?? "").toLowerCase().split(/\s*,\s*/);
    for (const header of ["content-type", "content-encoding", "authorization", "x-api-key", "inlet-version", "anonymousid"]) expect(allowed).toContain(header);
    const post = await server.track({ event: "X", anonymousId: "c" }, { headers: { origin: "https://shop.example" } });
    expect(post.status).toBe(200);
    expect(post.headers.get("access-control-allow-origin")).toBeTruthy();
    expect(post.headers.get("access-control-expose-headers")).toMatch(/Retry-After/i);
    // Vary: * would stop browsers from reusing cached /sdk/inlet.js and Swagger assets.
    expect(post.headers.get("vary")).toBe("Origin");
  });

  test("a tenant that restricts origins (inlet tenant set --cors-origins) refuses events from other sites", async () => {
    const t = await server.tenant("cors-restricted");
    const set = await cli(["tenant", "set", t.tenantId, "--cors-origins", "https://mine.example, https://www.mine.example"], storeEnv(server.dbPath));
    expect(set.code).toBe(0);
    server.running.services.keys.clear(); // the CLI is another process: skip the key cache's TTL
    const allowed = await server.track({ event: "Mine", anonymousId: "c" }, { key: t.writeKey, headers: { origin: "https://mine.example" } });
    expect(allowed.status).toBe(200);
    const refused = await server.track({ event: "Theirs", anonymousId: "c" }, { key: t.writeKey, headers: { origin: "https://evil.example" } });
    expect(refused.status).toBe(403);
    expect((await refused.json()).error.code).toBe("origin_not_allowed");
    // Server-side clients send no Origin and are not affected.
    expect((await server.track({ event: "Server", anonymousId: "c" }, { key: t.writeKey })).status).toBe(200);
    expect((await exportEvents(server.dbPath, t.tenantId)).map((e) => e.event).sort()).toEqual(["Mine", "Server"]);
  });
});
