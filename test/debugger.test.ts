/**
 * The live debugger: its ring's bounds, and GET /v1/debugger/stream over real HTTP: the last
 * calls first, then accepted and rejected calls as they are answered, with reasons; one tenant's
 * calls only; the tenant's IP policy applied to what is shown. The page itself: debugger.browser.test.ts.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { DebuggerService, MAX_PAYLOAD_CHARS, MAX_TENANTS, RING_SIZE } from "../src/modules/debugger/service";
import { startTestServer, type TestServer } from "./helpers/server";

describe("the ring", () => {
  test("keeps the last RING_SIZE calls per tenant and a bounded number of tenants", () => {
    const ring = new DebuggerService(() => 0);
    for (let i = 0; i < RING_SIZE * 3 + 7; i++)
      ring.record("t", {
        at: "",
        type: "track",
        status: i % 2 ? "rejected" : "accepted",
        endpoint: "x",
        event: `e${i}`,
        code: "invalid_request",
        errors: [{ path: "/event", message: "m" }],
      });
    const recent = ring.recent("t");
    expect(recent).toHaveLength(RING_SIZE);
    expect(recent[0]!.event).toBe(`e${RING_SIZE * 2 + 7}`);
    expect(recent.at(-1)!.event).toBe(`e${RING_SIZE * 3 + 6}`);
    expect(ring.rejections("t")).toEqual([{ reason: "/event: m", count: Math.floor((RING_SIZE * 3 + 7) / 2) }]);
    for (let i = 0; i < MAX_TENANTS + 50; i++) ring.record(`tenant-${i}`, { at: "", type: "track", status: "accepted", endpoint: "x" });
    expect(ring.tenantCount).toBe(MAX_TENANTS);
  });

  test("rejections older than 24 hours are no longer counted", () => {
    let now = Date.UTC(2026, 0, 1);
    const ring = new DebuggerService(() => now);
    ring.record("t", { at: "", type: "track", status: "rejected", endpoint: "x", code: "invalid_json" });
    now += 23 * 3_600_000;
    ring.record("t", { at: "", type: "track", status: "rate-limited", endpoint: "x" });
    expect(ring.rejections("t")).toEqual([
      { reason: "invalid_json", count: 1 },
      { reason: "rate_limited", count: 1 },
    ]);
    now += 2 * 3_600_000;
    expect(ring.rejections("t")).toEqual([{ reason: "rate_limited", count: 1 }]);
  });
});

describe("GET /v1/debugger/stream", () => {
  let server: TestServer;
  let adminKey: string;
  beforeAll(async () => {
    server = await startTestServer({ RATE_LIMIT_RPS: "0", RATE_LIMIT_EPS: "0" });
    adminKey = (await server.running.services.tenants.createKey(server.tenantId, "admin")).key;
  });
  afterAll(() => server.stop());

  /** Reads the stream until `until` holds for the calls received (at most 10 s). */
  async function watch(key: string, act: () => Promise<unknown>, until: (calls: any[]) => boolean) {
    const abort = new AbortController();
    const res = await fetch(`${server.url}/v1/debugger/stream`, { headers: { authorization: `Bearer ${key}` }, signal: abort.signal });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toStartWith("text/event-stream");
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
    const calls: any[] = [];
    const reasons: any[] = [];
    let buffer = "";
    let acted = false;
    const deadline = setTimeout(() => abort.abort(), 10_000);
    try {
      for (;;) {
        let end: number;
        while ((end = buffer.indexOf("\n\n")) !== -1) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const data = block
            .split("\n")
            .find((l) => l.startsWith("data:"))
            ?.slice(5);
          if (block.includes("event: call")) calls.push(JSON.parse(data!));
          if (block.includes("event: rejections")) reasons.push(JSON.parse(data!).reasons);
        }
        // The recent calls and the counts come first; then the calls to watch are made.
        if (!acted && reasons.length > 0) {
          acted = true;
          calls.length = 0;
          await act();
        }
        if (acted && until(calls)) break;
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
      }
    } catch {
      // aborted at the deadline: the assertions below say what was missing
    } finally {
      clearTimeout(deadline);
      abort.abort();
    }
    return { calls, reasons };
  }

  test("shows accepted and rejected calls live, with reasons, payload and request facts", async () => {
    const { calls } = await watch(
      adminKey,
      async () => {
        await server.track(
          { event: "Signed Up", userId: "u-1", context: { library: { name: "analytics-node", version: "3.1.0" } } },
          { headers: { "user-agent": "test-agent/1" } },
        );
        await server.track({ event: 42, anonymousId: "a-2" });
        await server.post("/v1/batch", {
          batch: [
            { type: "page", name: "Home", anonymousId: "a-3" },
            { type: "identify", traits: { email: "nope" } },
          ],
        });
        await server.post("/v1/events/track", "{not json");
      },
      (calls) => calls.length >= 5,
    );
    expect(calls.map((c) => [c.type, c.status])).toEqual([
      ["track", "accepted"],
      ["track", "rejected"],
      ["page", "accepted"],
      ["identify", "rejected"],
      ["track", "rejected"],
    ]);
    const [accepted, badEvent, , badIdentify, badJson] = calls;
    expect(accepted).toMatchObject({
      event: "Signed Up",
      userId: "u-1",
      endpoint: "POST /v1/events/track",
      library: "analytics-node 3.1.0",
      userAgent: "test-agent/1",
    });
    expect(accepted.keyPrefix).toBe(server.writeKey.slice(0, 11));
    expect(accepted.payload).toBeUndefined();
    expect(badEvent.errors).toContainEqual({ path: "/event", message: "Expected a non-empty string of at most 200 characters" });
    expect(JSON.parse(badEvent.payload)).toEqual({ event: 42, anonymousId: "a-2" });
    expect(badIdentify.endpoint).toBe("POST /v1/batch");
    expect(badIdentify.errors.length).toBeGreaterThan(0);
    expect(badJson.code).toBe("invalid_json");
    // The stored event of an accepted call, enriched, by its messageId.
    const stored = await fetch(`${server.url}/v1/debugger/events/${accepted.messageId}`, { headers: { authorization: `Bearer ${adminKey}` } });
    const event = await stored.json();
    expect(event).toMatchObject({ event: "Signed Up", messageId: accepted.messageId, context: { library: { name: "analytics-node" } } });
    expect(event.sessionId).toBeString();
  });

  test("a new stream starts with the recent calls and the rejection counts", async () => {
    const { reasons } = await watch(
      adminKey,
      async () => {},
      () => true,
    );
    expect(server.running.services.debugger.recent(server.tenantId).length).toBeGreaterThanOrEqual(5);
    const counted = Object.fromEntries(reasons[0].map((r: { reason: string; count: number }) => [r.reason, r.count]));
    expect(counted["/event: Expected a non-empty string of at most 200 characters"]).toBeGreaterThanOrEqual(1);
    expect(counted["invalid_json"]).toBeGreaterThanOrEqual(1);
  });

  test("a large rejected payload is truncated; context.ip follows the tenant's IP policy", async () => {
    const t = await server.tenant("private");
    await server.running.services.tenants.setSettings(t.tenantId, { ipPolicy: "anonymize" });
    const key = (await server.running.services.tenants.createKey(t.tenantId, "admin")).key;
    const { calls } = await watch(
      key,
      () => server.track({ event: 1, anonymousId: "z", context: { ip: "81.2.69.142" }, properties: { big: "x".repeat(5_000) } }, { key: t.writeKey }),
      (calls) => calls.length >= 1,
    );
    expect(calls).toHaveLength(1);
    expect(calls[0].truncated, JSON.stringify(calls[0])).toBe(true);
    expect(calls[0].payload.length).toBe(MAX_PAYLOAD_CHARS);
    expect(calls[0].payload).toContain('"ip":"81.2.69.0"');
    expect(calls[0].payload).not.toContain("81.2.69.142");
  });

  test("one tenant never sees another's calls; a write key gets 403", async () => {
    const t = await server.tenant("quiet");
    const key = (await server.running.services.tenants.createKey(t.tenantId, "admin")).key;
    const { calls } = await watch(
      key,
      async () => {
        await server.track({ event: "Elsewhere", anonymousId: "e" });
        await server.track({ event: "Mine", anonymousId: "m" }, { key: t.writeKey });
      },
      (calls) => calls.length >= 1,
    );
    expect(calls.map((c) => c.event)).toEqual(["Mine"]);
    expect((await fetch(`${server.url}/v1/debugger/stream`, { headers: { authorization: `Bearer ${server.writeKey}` } })).status).toBe(403);
    expect((await fetch(`${server.url}/v1/debugger/stream`)).status).toBe(401);
  });

  test("the page is served with its security headers", async () => {
    const page = await fetch(`${server.url}/debugger`);
    expect(page.status).toBe(200);
    expect(page.headers.get("content-security-policy")).toContain("frame-ancestors 'none'");
    expect(page.headers.get("x-content-type-options")).toBe("nosniff");
    expect(page.headers.get("referrer-policy")).toBe("no-referrer");
    const html = await page.text();
    expect(html).not.toMatch(/https?:\/\//);
    const script = await fetch(`${server.url}/debugger/debugger.js`);
    expect(script.headers.get("content-type")).toStartWith("application/javascript");
    expect(await script.text()).toContain("/v1/debugger/stream");
  });
});
