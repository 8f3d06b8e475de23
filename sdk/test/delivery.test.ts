import { afterEach, describe, expect, spyOn, test } from "bun:test";
import { MAX_BODY } from "../src/client";
import type { InletOptions } from "../src/types";
import { closeWindows, fire, queuedIds, type Reply, setNavigator, tab } from "./helpers";

afterEach(closeWindows);

describe("request format", () => {
  test("a batch goes to /v1/events/batch as a text/plain JSON body carrying the writeKey (no preflight, no auth header)", async () => {
    const { inlet, server, clock } = tab({ host: "https://inlet.example/" });
    inlet.track("Signed Up", { plan: "pro" });
    await inlet.flush();
    expect(server.requests.length).toBe(1);
    const r = server.requests[0]!;
    expect(r.url).toBe("https://inlet.example/v1/events/batch");
    expect(r.init.method).toBe("POST");
    expect(r.init.headers).toEqual({ "Content-Type": "text/plain" });
    expect(r.init.keepalive).toBe(true);
    expect(r.init.credentials).toBe("omit");
    expect(r.body.writeKey).toBe("wk_test");
    expect(r.body.sentAt).toBe(new Date(clock.t).toISOString());
    const e = r.body.batch[0]!;
    expect(e).toMatchObject({ type: "track", event: "Signed Up", properties: { plan: "pro" }, timestamp: new Date(clock.t).toISOString() });
    expect(e.messageId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(e.anonymousId).toMatch(/^[0-9a-f-]{36}$/);
  });

  test("every call makes its Segment-spec event", async () => {
    const { inlet, server } = tab();
    inlet.identify("u1", { email: "a@b.c" });
    inlet.page("Pricing", { plan: "pro" });
    inlet.group("g1", { name: "Acme" });
    inlet.alias("u2");
    inlet.alias("u3", "old");
    await inlet.flush();
    const [i, p, g, a, a2] = server.events;
    expect(i).toMatchObject({ type: "identify", userId: "u1", traits: { email: "a@b.c" } });
    expect(p).toMatchObject({ type: "page", name: "Pricing", userId: "u1" });
    expect(p!.properties).toMatchObject({ name: "Pricing", plan: "pro", path: "/pricing", title: "Pricing" });
    expect(g).toMatchObject({ type: "group", groupId: "g1", traits: { name: "Acme" }, userId: "u1" });
    expect(a).toMatchObject({ type: "alias", userId: "u2", previousId: "u1" });
    expect(a2).toMatchObject({ type: "alias", userId: "u3", previousId: "old" });
    expect(new Set(server.events.map((e) => e.messageId)).size).toBe(5);
  });
});

describe("batching", () => {
  test("nothing is sent below flushAt until flushInterval has passed", async () => {
    const { inlet, server, clock } = tab({ flushAt: 5, flushInterval: 2000 });
    inlet.track("a");
    inlet.track("b");
    await clock.advance(1999);
    expect(server.requests.length).toBe(0);
    await clock.advance(1);
    expect(server.requests.length).toBe(1);
    expect(server.events.map((e) => e.event)).toEqual(["a", "b"]);
  });

  test("reaching flushAt sends at once, in one request", async () => {
    const { inlet, server, clock } = tab({ flushAt: 3, flushInterval: 60000 });
    inlet.track("a");
    inlet.track("b");
    await clock.advance(0);
    expect(server.requests.length).toBe(0);
    inlet.track("c");
    await clock.advance(0);
    expect(server.requests.length).toBe(1);
    expect(server.requests[0]!.body.batch.length).toBe(3);
  });

  test("reaching the byte limit sends at once, and no request body exceeds it", async () => {
    const { inlet, server, clock } = tab({ flushAt: 100, flushInterval: 60000 });
    const big = "x".repeat(25000);
    inlet.track("a", { big });
    inlet.track("b", { big });
    await clock.advance(0);
    expect(server.requests.length).toBe(0);
    inlet.track("c", { big }); // 75 KB waiting
    await clock.advance(0);
    expect(server.requests.length).toBe(2);
    expect(server.requests.map((r) => r.body.batch.length)).toEqual([2, 1]);
    for (const r of server.requests) expect(r.bytes).toBeLessThanOrEqual(MAX_BODY);
  });

  test("batchSize caps the events per request", async () => {
    const { inlet, server } = tab({ flushAt: 1000, batchSize: 10 });
    for (let i = 0; i < 25; i++) inlet.track("e" + i);
    await inlet.flush();
    expect(server.requests.map((r) => r.body.batch.length)).toEqual([10, 10, 5]);
    expect(server.events.map((e) => e.event)).toEqual(Array.from({ length: 25 }, (_, i) => "e" + i));
  });

  test("an event over 32 KB is dropped when made (the server would reject it)", async () => {
    const { inlet, server, window } = tab();
    inlet.track("huge", { x: "y".repeat(33000) });
    inlet.track("ok");
    await inlet.flush();
    expect(server.events.map((e) => e.event)).toEqual(["ok"]);
    expect(queuedIds(window)).toEqual([]);
  });
});

describe("retries", () => {
  test("network errors back off with full jitter and the events are sent once the server answers", async () => {
    const { inlet, server, clock, window } = tab({ flushAt: 1 }); // random() = 0.5
    server.replies.push("network", "network", "network");
    inlet.track("a");
    await clock.advance(0);
    expect(server.requests.length).toBe(1);
    const t0 = clock.t;
    // retry 1: 0.5 * 1000
    await clock.advance(499);
    expect(server.requests.length).toBe(1);
    await clock.advance(1);
    expect(server.requests.length).toBe(2);
    // retry 2: 0.5 * 2000, retry 3: 0.5 * 4000
    await clock.advance(3000);
    expect(server.requests.map((r) => r.at - t0)).toEqual([0, 500, 1500, 3500]);
    expect(queuedIds(window)).toEqual([]); // the 4th attempt succeeded
    // all attempts carried the same messageId (the server dedupes)
    expect(new Set(server.events.map((e) => e.messageId)).size).toBe(1);
  });

  test("while waiting to retry, new events do not trigger an early send", async () => {
    const { inlet, server, clock } = tab({ flushAt: 1 });
    server.replies.push("network");
    inlet.track("a");
    await clock.advance(0);
    inlet.track("b");
    inlet.track("c");
    await clock.advance(0);
    expect(server.requests.length).toBe(1);
    await clock.advance(500);
    expect(server.requests.length).toBe(2);
    expect(server.requests[1]!.body.batch.map((e) => e.event)).toEqual(["a", "b", "c"]);
  });

  for (const status of [429, 503]) {
    test(`${status} with Retry-After waits exactly that long, whatever the jitter`, async () => {
      const { inlet, server, clock } = tab({ flushAt: 1 });
      server.replies.push({ status, headers: { "Retry-After": "7" } });
      inlet.track("a");
      await clock.advance(0);
      const t0 = clock.t;
      await clock.advance(6999);
      expect(server.requests.length).toBe(1);
      await clock.advance(1);
      expect(server.requests.length).toBe(2);
      expect(server.requests[1]!.at - t0).toBe(7000);
    });
  }

  // [what, options, server replies, time waited, requests made]; in every case the queue ends empty
  const cases: [string, Partial<InletOptions>, Reply[], number, number][] = [
    ["5xx without Retry-After is retried with backoff", {}, [502, 500], 5000, 3],
    ["an event that keeps getting 500 is dropped after maxRetries, so it cannot block the queue", { maxRetries: 3 }, [500, 500, 500, 500, 500], 60000, 3],
    ["503 and network errors do not count toward maxRetries", { maxRetries: 2 }, [503, "network", 503, "network"], 120000, 5],
    ...[400, 401, 403, 422].map((st): [string, Partial<InletOptions>, Reply[], number, number] => [
      `${st} is not retried: the batch is dropped`,
      {},
      [st],
      600000,
      1,
    ]),
  ];
  for (const [what, options, replies, wait, requests] of cases)
    test(what, async () => {
      const { inlet, server, clock, window } = tab({ flushAt: 1, ...options });
      server.replies.push(...replies);
      inlet.track("a");
      await clock.advance(wait);
      expect(server.requests.length).toBe(requests);
      expect(server.requests.every((r) => r.body.batch[0]!.event == "a")).toBe(true);
      expect(queuedIds(window)).toEqual([]);
    });

  test("413 splits the batch in halves; a single event that still gets 413 is dropped", async () => {
    const { inlet, server, window } = tab({ flushAt: 1000 });
    for (let i = 0; i < 8; i++) inlet.track("e" + i);
    // 8 -> 413; 4 -> 413; 2 (e0 e1) ok; 2 (e2 e3) -> 413; 1 (e2) -> 413: dropped; then one at a time
    server.replies.push(413, 413, 200, 413, 413);
    await inlet.flush();
    expect(server.requests.map((r) => r.body.batch.length)).toEqual([8, 4, 2, 2, 1, 1, 1, 1, 1, 1]);
    const ok = server.requests.filter((_, i) => i == 2 || i > 4).flatMap((r) => r.body.batch.map((e) => e.event));
    expect(ok).toEqual(["e0", "e1", "e3", "e4", "e5", "e6", "e7"]);
    expect(queuedIds(window)).toEqual([]);
    // the next flush starts with full batches again
    for (let i = 0; i < 3; i++) inlet.track("f" + i);
    await inlet.flush();
    expect(server.requests.at(-1)!.body.batch.length).toBe(3);
  });

  test("events the server rejects are dropped, not retried, and logged in debug mode", async () => {
    const warn = spyOn(console, "warn").mockImplementation(() => {});
    try {
      const { inlet, server, clock, window } = tab({ flushAt: 2, debug: true });
      server.replies.push({
        status: 200,
        body: ([a, b]) => ({
          success: true,
          results: [
            { messageId: a!.messageId, status: "accepted" },
            { messageId: b!.messageId, status: "rejected", errors: [{ path: "/event", message: "too long" }] },
          ],
        }),
      });
      inlet.track("ok");
      inlet.track("bad");
      await clock.advance(60000);
      expect(server.requests.length).toBe(1);
      expect(queuedIds(window)).toEqual([]);
      expect(warn.mock.calls.some((c) => c.includes("rejected") && JSON.stringify(c).includes("too long"))).toBe(true);
    } finally {
      warn.mockRestore();
    }
  });
});

describe("online and offline", () => {
  test("offline: nothing is sent and events stay queued; back online: sent at once", async () => {
    const { inlet, server, clock, window } = tab({ flushAt: 1 });
    setNavigator(window, { onLine: false });
    inlet.track("a");
    inlet.track("b");
    await clock.advance(60000);
    expect(server.requests.length).toBe(0);
    expect(queuedIds(window).length).toBe(2);
    setNavigator(window, { onLine: true });
    fire(window, "online");
    await clock.advance(0);
    expect(server.events.map((e) => e.event)).toEqual(["a", "b"]);
    expect(queuedIds(window)).toEqual([]);
  });

  test("coming back online cuts a network backoff short", async () => {
    const { inlet, server, clock, window } = tab({ flushAt: 1, retryBase: 30000 });
    server.replies.push("network", "network");
    inlet.track("a");
    await clock.advance(30000); // two failures; the next try is up to 60 s away
    expect(server.requests.length).toBe(2);
    fire(window, "online");
    await clock.advance(0);
    expect(server.requests.length).toBe(3);
    expect(queuedIds(window)).toEqual([]);
  });

  test("but not a server's Retry-After", async () => {
    const { inlet, server, clock, window } = tab({ flushAt: 1 });
    server.replies.push({ status: 429, headers: { "Retry-After": "60" } });
    inlet.track("a");
    await clock.advance(0);
    fire(window, "online");
    await clock.advance(59000);
    expect(server.requests.length).toBe(1);
    await clock.advance(1000);
    expect(server.requests.length).toBe(2);
  });
});
