import { afterEach, describe, expect, test } from "bun:test";
import { STALE } from "../src/queue";
import { closeWindows, fire, hidePage, queuedIds, queues, setNavigator, tab } from "./helpers";

afterEach(closeWindows);

describe("two tabs of one site", () => {
  test("each tab sends only its own events; together every event is sent exactly once", async () => {
    const a = tab({ flushAt: 1000, flushInterval: 1000 }, { tabId: "A" });
    const b = tab({ flushAt: 1000, flushInterval: 1000 }, { share: a, tabId: "B" });
    for (let i = 0; i < 5; i++) {
      a.inlet.track("a" + i);
      b.inlet.track("b" + i);
    }
    expect(
      Object.keys(queues(a.window))
        .map((k) => k.split(".").pop())
        .sort(),
    ).toEqual(["A", "B"]);
    await a.clock.advance(10000);
    const ids = a.server.events.map((e) => e.messageId);
    expect(ids.length).toBe(10);
    expect(new Set(ids).size).toBe(10);
    expect(a.server.requests.length).toBe(2);
    expect(queuedIds(a.window)).toEqual([]);
  });

  test("a tab closed while offline leaves its queue; the other tab adopts it and sends each event once", async () => {
    const a = tab({ flushAt: 1000, flushInterval: 1000 }, { tabId: "A" });
    const b = tab({ flushAt: 1000, flushInterval: 1000 }, { share: a, tabId: "B" });
    setNavigator(a.window, { onLine: false });
    setNavigator(b.window, { onLine: false });
    a.inlet.track("from A");
    b.inlet.track("from B");
    await a.clock.advance(5000);
    fire(a.window, "pagehide"); // A closes, offline: no beacon
    a.close();
    setNavigator(b.window, { onLine: true });
    fire(b.window, "online");
    await a.clock.advance(10000); // B's heartbeat tick adopts A's released queue
    expect(a.server.events.map((e) => e.event).sort()).toEqual(["from A", "from B"]);
    expect(new Set(a.server.events.map((e) => e.messageId)).size).toBe(2);
    expect(queuedIds(a.window)).toEqual([]);
  });

  test("a hidden tab's leftovers are adopted by a visible tab; the hidden tab does not send them again", async () => {
    const a = tab({ flushAt: 1000, flushInterval: 1000 }, { tabId: "A" });
    const b = tab({ flushAt: 1000, flushInterval: 1000 }, { share: a, tabId: "B" });
    a.server.replies.push({ status: 429, headers: { "Retry-After": "30" } });
    a.inlet.track("x");
    await a.clock.advance(1000); // A got 429: waits 30 s, and no beacon during Retry-After
    hidePage(a.window); // user switches to tab B: A releases its queue
    await a.clock.advance(20000);
    // the hidden tab's timers kept running but did not take the release back; B adopted and sent
    const sends = a.server.requests.map((r) => [r.from, r.body.batch.map((e) => e.event)]);
    expect(sends).toEqual([
      ["A", ["x"]],
      ["B", ["x"]],
    ]);
    expect(queuedIds(a.window)).toEqual([]);
    await a.clock.advance(60000); // A's Retry-After is over: A finds nothing left to send
    expect(a.server.requests.length).toBe(2);
    void b;
  });

  test("a live tab that stays busy is never adopted, even with a slow network", async () => {
    const a = tab({ flushAt: 1, retryBase: 1000 }, { tabId: "A" });
    const b = tab({}, { share: a, tabId: "B" });
    a.server.replies.push(...Array(10).fill("network"));
    a.inlet.track("x");
    await a.clock.advance(STALE * 4);
    // only A ever sent "x"; B never claimed it
    expect(a.server.requests.every((r) => r.body.batch[0]!.event == "x")).toBe(true);
    expect(Object.values(queues(a.window)).every((r) => !r.c)).toBe(true);
    void b;
  });
});
