import { afterEach, describe, expect, test } from "bun:test";
import { MAX_BODY } from "../src/client";
import { SETTLE } from "../src/queue";
import { closeWindows, fire, hidePage, newWindow, queuedIds, queues, setNavigator, tab } from "./helpers";

afterEach(closeWindows);

/** Replace navigator.sendBeacon: records payloads; `accept` decides the return value. */
function beacons(w: ReturnType<typeof newWindow>, accept: (n: number, body: string) => boolean = () => true) {
  const sent: { url: string; body: string; bytes: number }[] = [];
  setNavigator(w, {
    sendBeacon: (url: string, body: string) => {
      const ok = accept(sent.length, body);
      if (ok) sent.push({ url, body, bytes: new TextEncoder().encode(body).length });
      return ok;
    },
  });
  return sent;
}

describe("flush when the page is hidden or closed", () => {
  test("pagehide sends the queue with sendBeacon: text JSON with the writeKey, each beacon under 64 KB", async () => {
    const { inlet, window, server, clock } = tab({ flushAt: 1000, flushInterval: 60000, retryBase: 60000 });
    const sent = beacons(window);
    server.replies.push("network"); // the server is unreachable for now: events pile up in the queue
    const pad = "é".repeat(500); // 1,000 UTF-8 bytes
    for (let i = 0; i < 150; i++) inlet.track("e" + i, { pad });
    await clock.advance(0);
    expect(queuedIds(window).length).toBe(150);
    fire(window, "pagehide");
    expect(server.requests.length).toBe(1);
    expect(sent.length).toBeGreaterThan(1);
    for (const b of sent) {
      expect(b.url).toBe("https://inlet.example/v1/events/batch");
      expect(b.bytes).toBeLessThanOrEqual(MAX_BODY);
      expect(b.bytes).toBeLessThan(64 * 1024);
      expect(JSON.parse(b.body).writeKey).toBe("wk_test");
    }
    const events = sent.flatMap((b) => JSON.parse(b.body).batch.map((e: any) => e.event));
    expect(events).toEqual(Array.from({ length: 150 }, (_, i) => "e" + i)); // all, once, in order
    expect(queuedIds(window)).toEqual([]); // handed to the browser: not sent again
  });

  test("a beacon the browser refuses (over its quota) leaves the rest queued and released for the next page", async () => {
    const { inlet, window, server, clock } = tab({ flushAt: 1000, flushInterval: 60000, retryBase: 60000 });
    const sent = beacons(window, (n) => n < 1); // only the first is accepted
    server.replies.push("network");
    const pad = "x".repeat(1000);
    for (let i = 0; i < 150; i++) inlet.track("e" + i, { pad });
    await clock.advance(0);
    fire(window, "pagehide");
    const first = JSON.parse(sent[0]!.body).batch.length;
    expect(first).toBeGreaterThan(10);
    expect(first).toBeLessThan(150);
    const left = Object.values(queues(window));
    expect(left.length).toBe(1);
    expect(left[0]!.r).toBe(1); // released: another tab or the next page adopts it
    expect(left[0]!.q.map((i) => i.e.event)).toEqual(Array.from({ length: 150 - first }, (_, i) => "e" + (first + i)));
  });

  test("visibilitychange to hidden flushes too", () => {
    const { inlet, window } = tab({ flushAt: 1000, flushInterval: 60000 });
    const sent = beacons(window);
    inlet.track("a");
    hidePage(window);
    expect(sent.length).toBe(1);
  });

  test("offline at pagehide: no beacon; the events stay for the next page load, which sends them", async () => {
    const first = tab({ flushAt: 1000, flushInterval: 60000 });
    const sent = beacons(first.window);
    setNavigator(first.window, { onLine: false });
    first.inlet.track("a");
    first.inlet.track("b");
    fire(first.window, "pagehide");
    first.close();
    expect(sent.length).toBe(0);
    expect(queuedIds(first.window).length).toBe(2);

    const next = tab({ flushAt: 1000 }, { share: first }); // reload, back online
    await next.clock.advance(SETTLE + 1000);
    expect(next.server.events.map((e) => e.event)).toEqual(["a", "b"]);
    expect(queuedIds(first.window)).toEqual([]);
  });

  const overloaded: { status: number; headers: Record<string, string> }[] = [
    { status: 503, headers: { "Retry-After": "120" } },
    { status: 429, headers: {} }, // cross-origin without Access-Control-Expose-Headers, Retry-After is unreadable
  ];
  for (const reply of overloaded)
    test(`no beacon after a ${reply.status} until the retry: the events wait in the queue`, async () => {
      const { inlet, window, server, clock } = tab({ flushAt: 1 });
      const sent = beacons(window);
      server.replies.push(reply);
      inlet.track("a");
      await clock.advance(0);
      fire(window, "pagehide");
      expect(sent.length).toBe(0);
      expect(queuedIds(window).length).toBe(1);
    });

  test("after a network error the beacon still goes (it may be the last chance)", async () => {
    const { inlet, window, server, clock } = tab({ flushAt: 1 });
    const sent = beacons(window);
    server.replies.push("network");
    inlet.track("a");
    await clock.advance(0);
    fire(window, "pagehide");
    expect(sent.length).toBe(1);
    expect(queuedIds(window)).toEqual([]);
  });

  test("events in a request already in flight are not beaconed again", async () => {
    const { inlet, window, server, clock } = tab({ flushAt: 1 });
    const sent = beacons(window);
    let release!: () => void;
    const real = server.fetch;
    server.fetch = (async (u: string, i: RequestInit) => {
      await new Promise<void>((r) => (release = r));
      return real(u, i);
    }) as any;
    inlet.track("in flight");
    await clock.advance(0);
    inlet.track("waiting");
    fire(window, "pagehide");
    expect(sent.flatMap((b) => JSON.parse(b.body).batch.map((e: any) => e.event))).toEqual(["waiting"]);
    release();
    await clock.advance(0);
    expect(queuedIds(window)).toEqual([]);
  });
});
