import { afterEach, describe, expect, test } from "bun:test";
import { createQueue, SETTLE, STALE } from "../src/queue";
import { store } from "../src/store";
import type { InletEvent } from "../src/types";
import { Clock, closeWindows, newWindow, queues } from "./helpers";

afterEach(closeWindows);

let seq = 0;
function ev(extra = "", at = seq): InletEvent {
  seq++;
  return {
    type: "track",
    event: "e" + seq,
    messageId: "m" + seq,
    timestamp: new Date(1e12 + at * 1000).toISOString(),
    anonymousId: "a",
    properties: { pad: extra },
    context: {} as any,
  };
}

function setup(opts: { maxEvents?: number; maxBytes?: number } = {}, w = newWindow(), clock = new Clock()) {
  const s = store(w as any);
  const make = (tab: string) =>
    createQueue({
      store: s,
      prefix: "inlet.k.",
      tab,
      maxEvents: opts.maxEvents ?? 1000,
      maxBytes: opts.maxBytes ?? 500000,
      now: clock.now,
      later: clock.setTimeout,
      dropped: (n) => dropped.push(n),
    });
  const dropped: number[] = [];
  return { w, s, clock, make, dropped };
}

describe("persistent queue", () => {
  test("events are written to localStorage as they are added and removed when sent", () => {
    const { w, make } = setup();
    const q = make("A");
    q.add(ev());
    q.add(ev());
    expect(queues(w)["inlet.k.A"]!.q.map((i) => i.e.event)).toEqual(["e" + (seq - 1), "e" + seq]);
    q.remove(new Set(["m" + (seq - 1)]));
    expect(queues(w)["inlet.k.A"]!.q.map((i) => i.e.messageId)).toEqual(["m" + seq]);
    q.remove(new Set(["m" + seq]));
    expect(queues(w)).toEqual({}); // an empty queue leaves no key behind
  });

  test("count bound: the oldest events are dropped first", () => {
    const { w, make, dropped } = setup({ maxEvents: 5 });
    const q = make("A");
    const added: string[] = [];
    for (let i = 0; i < 8; i++) {
      const e = ev();
      added.push(e.messageId);
      q.add(e);
    }
    expect(q.items.map((i) => i.e.messageId)).toEqual(added.slice(3));
    expect(queues(w)["inlet.k.A"]!.q.length).toBe(5);
    expect(dropped).toEqual([1, 1, 1]);
  });

  test("byte bound: the oldest events are dropped until the total fits", () => {
    const pad = "x".repeat(1000);
    const { make } = setup({ maxBytes: 3500 });
    const q = make("A");
    const added: string[] = [];
    for (let i = 0; i < 6; i++) {
      const e = ev(pad);
      added.push(e.messageId);
      q.add(e);
    }
    // each event is a little over 1,000 bytes: three fit in 3,500
    expect(q.items.map((i) => i.e.messageId)).toEqual(added.slice(3));
    expect(q.items.reduce((n, i) => n + i.s, 0)).toBeLessThanOrEqual(3500);
  });

  test("sizes are UTF-8 bytes, not UTF-16 characters", () => {
    const { make } = setup();
    const q = make("A");
    const a = ev("aaaa"),
      b = ev("€€€€"); // 3 bytes each in UTF-8
    q.add(a);
    q.add(b);
    expect(q.items[1]!.s - q.items[0]!.s).toBe(8);
  });

  test("a full or blocked localStorage keeps events in memory and never reads back a stale copy", () => {
    const { s, make } = setup();
    const q = make("A");
    q.add(ev());
    const real = s.set;
    s.set = () => false; // quota exceeded from now on
    q.add(ev());
    q.add(ev());
    expect(q.items.length).toBe(3);
    q.sync();
    expect(q.items.length).toBe(3);
    s.set = real;
  });

  test("5xx failures are counted per event and persisted; the event is dropped at the limit", () => {
    const { w, make } = setup();
    const q = make("A");
    const a = ev(),
      b = ev();
    q.add(a);
    q.add(b);
    const ids = new Set([a.messageId]);
    expect(q.fail(ids, 3)).toBe(0);
    expect(queues(w)["inlet.k.A"]!.q[0]).toMatchObject({ n: 1 });
    expect(q.fail(ids, 3)).toBe(0);
    expect(q.fail(ids, 3)).toBe(1);
    expect(q.items.map((i) => i.e.messageId)).toEqual([b.messageId]);
  });

  test("clearAll removes every tab's queue of this write key, and only those", () => {
    const { w, s, make } = setup();
    make("A").add(ev());
    make("B").add(ev());
    s.set("inlet.other.C", '{"h":0,"q":[]}');
    s.set("unrelated", "1");
    make("A").clearAll();
    expect(Object.keys(queues(w))).toEqual(["inlet.other.C"]);
    expect(s.get("unrelated")).toBe("1");
  });
});

describe("two tabs", () => {
  test("a queue released at pagehide is adopted by the next page load once, after the claim settles", async () => {
    const { w, clock, make } = setup();
    const old = make("A");
    const events = [ev(), ev(), ev()];
    for (const e of events) old.add(e);
    old.release();
    expect(queues(w)["inlet.k.A"]!.r).toBe(1);

    const next = make("B");
    next.adopt(); // writes a claim, checks it SETTLE ms later
    expect(queues(w)["inlet.k.A"]!.c).toBe("B");
    expect(next.items.length).toBe(0);
    await clock.advance(SETTLE);
    expect(next.items.map((i) => i.e.messageId)).toEqual(events.map((e) => e.messageId));
    expect(Object.keys(queues(w))).toEqual(["inlet.k.B"]);
  });

  test("a live tab's queue (fresh heartbeat, not released) is never adopted", async () => {
    const { w, clock, make } = setup();
    const a = make("A");
    a.add(ev());
    await clock.advance(STALE - 1000);
    const b = make("B");
    b.adopt();
    await clock.advance(SETTLE);
    expect(b.items.length).toBe(0);
    expect(queues(w)["inlet.k.A"]!.c).toBeUndefined();
  });

  test("a crashed tab's queue is adopted when its heartbeat is older than the stale limit", async () => {
    const { clock, make } = setup();
    make("A").add(ev());
    await clock.advance(STALE + 1);
    const b = make("B");
    b.adopt();
    await clock.advance(SETTLE);
    expect(b.items.length).toBe(1);
  });

  test("two tabs claiming the same orphan at once: only the last claim adopts it", async () => {
    const { w, s, clock, make } = setup();
    const a = make("A");
    for (const e of [ev(), ev()]) a.add(e);
    a.release();
    const b = make("B"),
      c = make("C");
    const unclaimed = s.get("inlet.k.A")!;
    b.adopt(); // B reads the unclaimed record and writes its claim...
    s.set("inlet.k.A", unclaimed); // ...while C, which read the record before B's write landed,
    c.adopt(); // writes its own claim over B's
    await clock.advance(SETTLE);
    expect(b.items.length).toBe(0);
    expect(c.items.length).toBe(2);
    expect(Object.keys(queues(w)).sort()).toEqual(["inlet.k.C"]);
  });

  test("a tab that finds a fresh claim by another tab leaves the orphan to it", async () => {
    const { clock, make } = setup();
    const a = make("A");
    a.add(ev());
    a.release();
    const b = make("B"),
      c = make("C");
    b.adopt();
    c.adopt();
    await clock.advance(SETTLE);
    expect(b.items.length).toBe(1);
    expect(c.items.length).toBe(0);
  });

  test("an owner that was thought gone erases the claim by writing, and keeps its events", async () => {
    const { w, clock, make } = setup();
    const a = make("A");
    a.add(ev());
    await clock.advance(STALE + 1); // throttled in the background
    const b = make("B");
    b.adopt();
    a.save(); // A wakes up (heartbeat) before B's claim settles
    expect(queues(w)["inlet.k.A"]!.c).toBeUndefined();
    await clock.advance(SETTLE);
    expect(b.items.length).toBe(0);
    expect(a.items.length).toBe(1);
  });

  test("an owner whose queue was adopted drops its copy, so only the adopter sends those events", async () => {
    const { clock, make } = setup();
    const a = make("A");
    a.add(ev());
    a.release();
    const b = make("B");
    b.adopt();
    await clock.advance(SETTLE);
    a.sync(); // A comes back (bfcache restore)
    expect(a.items.length).toBe(0);
    expect(b.items.length).toBe(1);
    a.add(ev()); // and goes on with a queue of its own
    expect(a.items.length).toBe(1);
  });

  test("adopted events are merged oldest first with the adopter's own and the bounds still hold", async () => {
    const { clock, make } = setup({ maxEvents: 3 });
    const a = make("A"),
      b = make("B");
    const e1 = ev("", 1),
      e2 = ev("", 3),
      e3 = ev("", 2),
      e4 = ev("", 4);
    a.add(e1);
    a.add(e2);
    a.release();
    b.add(e3);
    b.add(e4);
    b.adopt();
    await clock.advance(SETTLE);
    // e1 (oldest) dropped to keep 3
    expect(b.items.map((i) => i.e.messageId)).toEqual([e3, e2, e4].map((e) => e.messageId));
  });
});
