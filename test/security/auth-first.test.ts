/**
 * No work before authentication: a key in a header is checked before the body is read, so a bad
 * key costs no reading, decompressing or parsing; and each client address may fail
 * authentication only so often (AUTH_FAILURES_PER_MINUTE) before it is answered 429, in the one
 * error format, without any work. The limits' clock is injected: the test moves it.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { gzipSync } from "node:zlib";
import { startTestServer, type TestServer } from "../helpers/server";

const BAD = { authorization: "Bearer wk_not_a_key_at_all_000000000000" };

describe("a header key is checked before the body", () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ AUTH_FAILURES_PER_MINUTE: "0" });
  });
  afterAll(async () => {
    await server.stop();
  });

  test("a bad key with a body that is not JSON, or not gzip, is a 401 (the body is never parsed)", async () => {
    for (const [headers, body] of [
      [{ "content-type": "application/json" }, "{ not json"],
      [{ "content-type": "application/json", "content-encoding": "gzip" }, "not gzip at all"],
      [{ "content-type": "application/json", "content-encoding": "gzip" }, gzipSync(Buffer.alloc(20 * 1024 * 1024, 0x20))],
    ] as const) {
      for (const path of ["/v1/events/track", "/v1/batch", "/b"]) {
        const response = await fetch(server.url + path, { method: "POST", headers: { ...headers, ...BAD }, body });
        expect([path, response.status]).toEqual([path, 401]);
        expect((await response.json()).error.code).toBe("unauthorized");
      }
    }
  });

  test("a bad key is answered 401 while its body is still being sent (nothing waits for it)", async () => {
    const endless = new ReadableStream<Uint8Array>({
      pull: async (controller) => {
        await Bun.sleep(5);
        controller.enqueue(new TextEncoder().encode('{"batch":['));
      },
    });
    const abort = new AbortController();
    // Only a guard against hanging for ever: before the check, the server read until the 500 KB limit.
    const guard = setTimeout(() => abort.abort(), 20_000);
    try {
      const response = await fetch(`${server.url}/v1/batch`, {
        method: "POST",
        headers: { "content-type": "application/json", ...BAD },
        body: endless,
        signal: abort.signal,
      });
      expect(response.status).toBe(401);
      await response.arrayBuffer();
    } finally {
      clearTimeout(guard);
      abort.abort();
    }
  });

  test("a good key in a header, or in the body of a beacon without headers, still works", async () => {
    expect((await server.track({ event: "Header", anonymousId: "a" })).status).toBe(200);
    const beacon = await fetch(`${server.url}/v1/track`, {
      method: "POST",
      headers: { "content-type": "text/plain;charset=UTF-8" },
      body: JSON.stringify({ writeKey: server.writeKey, event: "Beacon", anonymousId: "a" }),
    });
    expect(beacon.status).toBe(200);
  });
});

describe("failed authentications per address", () => {
  let server: TestServer;
  let now = 1_000_000;
  beforeAll(async () => {
    server = await startTestServer({ AUTH_FAILURES_PER_MINUTE: "5" }, { clock: () => now });
  });
  afterAll(async () => {
    await server.stop();
  });

  const badTrack = () => server.track({ event: "x", anonymousId: "a" }, { headers: BAD });

  test("past the limit an address gets 429 with Retry-After in the error format, before any work; a valid key still passes; the limit refills with time", async () => {
    for (let i = 0; i < 5; i++) expect((await badTrack()).status).toBe(401);
    const refused = await badTrack();
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    const body = await refused.json();
    expect(body).toMatchObject({ error: { code: "rate_limited" }, requestId: expect.any(String) });
    expect(body.error.message).toContain("failed authentications");

    // Without a header key, the body is not read for one: 429 even for a body that is not JSON.
    const noKey = await fetch(`${server.url}/v1/batch`, { method: "POST", headers: { "content-type": "application/json" }, body: "{ not json" });
    expect(noKey.status).toBe(429);
    // Key guessing through the settings route and the admin routes counts the same way.
    expect((await fetch(`${server.url}/v1/projects/wk_guess/settings`)).status).toBe(429);
    expect((await fetch(`${server.url}/v1/stats`, { headers: BAD })).status).toBe(429);
    // A valid key from the same address (a neighbour behind the same NAT) is not refused.
    expect((await server.track({ event: "Still in", anonymousId: "a" })).status).toBe(200);

    // One failure's worth of time later (12 s at 5 a minute): one more 401, then 429 again.
    now += 12_000;
    expect((await badTrack()).status).toBe(401);
    expect((await badTrack()).status).toBe(429);
    now += 60_000;
    for (let i = 0; i < 5; i++) expect((await badTrack()).status).toBe(401);
  });
});
