/**
 * Session assignment on its own (no HTTP): the tracker over a real SQLite database in memory, fed
 * events the way the pipeline's writer feeds them. Fast checks of the rules that sessions.test.ts
 * exercises through a server.
 */
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { SqliteSessions } from "../src/db/sqlite/sessions";
import type { CanonicalEvent } from "../src/pipeline/model";
import type { SessionRepository } from "../src/pipeline/ports";
import { SessionTracker } from "../src/pipeline/sessions";
import type { SessionSpan } from "../src/pipeline/sessions/assignment";
import { SessionWriteBehind } from "../src/pipeline/sessions/write-behind";
import { memoryStore, T0, type MemoryStore } from "./helpers/memory-store";

const MIN = 60_000;
const TIMEOUT = 30 * MIN;

let store: MemoryStore;
let tracker: SessionTracker;
let eventId = 0;

beforeEach(async () => {
  store = await memoryStore();
  tracker = new SessionTracker(new SqliteSessions(store.database.db), { timeoutMs: TIMEOUT, cacheSize: 100 });
});
afterEach(() => store.database.close());

/** Writes every span's numbers now, as the writer's idle run does. */
const writeAll = () => tracker.hooks().deferred.after("closing");

/** Assigns and counts one event of `anonymousId` at `minutes` past T0; returns its session id. */
function at(minutes: number, anonymousId = "v"): string {
  const timestamp = T0 + minutes * MIN;
  const event: CanonicalEvent = { type: "track", messageId: `m-${++eventId}`, event: "E", anonymousId, context: {}, timestamp, receivedAt: timestamp };
  const { visitor, created } = store.visitors.touch(store.tenantId, event);
  const span = tracker.assign(store.tenantId, visitor.id, event, created);
  tracker.recorded({ tenantId: store.tenantId, visitorId: visitor.id, span, event, eventId, anonymous: true, leadId: null });
  return span.id;
}

describe("session assignment", () => {
  test("events less than the timeout apart share a session; a gap of the timeout starts a new one", () => {
    const first = at(0);
    expect(at(10)).toBe(first);
    expect(at(39)).toBe(first); // 29 minutes after the previous event
    const second = at(69); // exactly 30 minutes later
    expect(second).not.toBe(first);
    expect(at(70)).toBe(second);
  });

  test("each visitor has its own sessions", () => {
    expect(at(0, "a")).not.toBe(at(0, "b"));
  });

  test("a late event joins the older session it falls near; one near none gets its own", () => {
    const morning = at(0);
    at(20);
    const afternoon = at(300);
    expect(at(45)).toBe(morning); // 25 minutes after the morning's last event
    expect(at(-20)).toBe(morning); // before it started, within the timeout: widens its start
    const alone = at(150);
    expect([morning, afternoon]).not.toContain(alone);
    // The late event's own session did not replace the latest one.
    expect(at(310)).toBe(afternoon);
  });

  test("a visitor's session is found in the database once its cache is gone", () => {
    const first = at(0);
    writeAll();
    tracker.clear();
    expect(at(5)).toBe(first);
    writeAll();
    const row = store.database.sqlite.query("SELECT event_count, started_at, last_event_at FROM sessions WHERE id = ?").get(first) as Record<string, number>;
    expect(row).toEqual({ event_count: 2, started_at: T0, last_event_at: T0 + 5 * MIN });
  });
});

describe("session numbers written behind", () => {
  /** A write-behind over a repository that records the rows it is asked to update; every read of the budget clock takes 1 ms. */
  function writeBehind() {
    const updated: string[] = [];
    const rows: SessionRepository = {
      latest: () => undefined,
      covering: () => undefined,
      insert: () => {},
      update: (row) => void updated.push(row.id),
      watermark: () => 0,
      setWatermark: () => {},
      recount: () => 0,
    };
    let wall = 0;
    let budgetClock = 0;
    const behind = new SessionWriteBehind(
      rows,
      5_000,
      () => wall,
      () => budgetClock++,
    );
    const spans = Array.from({ length: 300 }, (_, i): SessionSpan => {
      const span: SessionSpan = {
        id: `s${i}`,
        startedAt: T0,
        lastEventAt: T0,
        eventCount: 1,
        anonymousEvents: 1,
        countedThrough: i,
        stored: true,
        cached: true,
        dirtySince: 0,
        firstUnwritten: 0,
      };
      const event: CanonicalEvent = {
        type: "track",
        messageId: `w-${i}`,
        event: "E",
        anonymousId: `v${i}`,
        context: {},
        timestamp: T0 + MIN,
        receivedAt: T0 + MIN,
      };
      behind.record({ tenantId: "t", visitorId: `v${i}`, span, event, eventId: 1_000 + i, anonymous: true, leadId: null });
      return span;
    });
    return { behind, updated, spans, later: (ms: number) => (wall += ms) };
  }

  test("under load only the due spans, for a bounded time per commit; when idle more; at close every one, each once", () => {
    const { behind, updated, later } = writeBehind();
    behind.writeDue("busy");
    expect(updated).toEqual([]); // none unwritten for 5 s yet
    later(5_001);
    behind.writeDue("busy");
    const busy = updated.length;
    expect(busy).toBeGreaterThan(0);
    expect(busy).toBeLessThan(300); // the budget stopped it, the rest waits for the next commit
    behind.writeDue("idle");
    expect(updated.length).toBeGreaterThan(busy);
    expect(updated.length).toBeLessThan(300);
    expect(behind.pending).toBe(true); // another idle run follows
    behind.writeDue("closing");
    expect(behind.pending).toBe(false);
    expect(updated).toHaveLength(300);
    expect(new Set(updated).size).toBe(300);
  });
});
