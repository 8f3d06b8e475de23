import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { exportEvents, startTestServer, type TestServer } from "./helpers/server";
import { storeRows } from "./helpers/store-rows";

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer({ SESSION_TIMEOUT_MINUTES: "30" });
});
afterAll(() => server.stop());

const MIN = 60_000;
const base = Date.parse("2026-11-20T12:00:00.000Z");
const at = (minutes: number) => new Date(base + minutes * MIN).toISOString();

async function sendAll(key: string, anonymousId: string, minutes: number[], extra: Record<string, unknown> = {}) {
  for (const m of minutes) {
    const res = await server.track({ event: "View", anonymousId, timestamp: at(m), messageId: `${anonymousId}-${m}`, ...extra }, { key });
    expect(res.status).toBe(200);
  }
}

/** The session rows, once the server has written the numbers it holds in memory. */
async function sessionRows(tenantId: string) {
  expect(await server.sessionsWritten()).toBe(true);
  return storeRows(server.dbPath, "SELECT * FROM sessions WHERE tenant_id = ? ORDER BY started_at", tenantId);
}

describe("sessions", () => {
  test("events less than 30 minutes apart share a session; a longer gap starts a new one", async () => {
    const t = await server.tenant("s1");
    await sendAll(t.writeKey, "v1", [0, 10, 39, 70, 71]);
    const events = await exportEvents(server.dbPath, t.tenantId);
    const ids = events.map((e) => e.sessionId);
    expect(ids[0]).toBe(ids[1]);
    expect(ids[1]).toBe(ids[2]); // 29 minutes apart
    expect(ids[3]).not.toBe(ids[2]); // 31 minutes apart
    expect(ids[3]).toBe(ids[4]);
    const rows = await sessionRows(t.tenantId);
    expect(rows).toHaveLength(2);
    expect(rows[0]).toMatchObject({ started_at: base, last_event_at: base + 39 * MIN, event_count: 3 });
    expect(rows[1]).toMatchObject({ started_at: base + 70 * MIN, event_count: 2 });
  });

  test("the timeout is configurable", async () => {
    const short = await startTestServer({ SESSION_TIMEOUT_MINUTES: "5" });
    try {
      for (const m of [0, 4, 10]) {
        await short.track({ event: "View", anonymousId: "v", timestamp: at(m) });
      }
      const events = await exportEvents(short.dbPath, short.tenantId);
      expect(new Set(events.map((e) => e.sessionId)).size).toBe(2);
    } finally {
      await short.stop();
    }
  });

  test("a session records its landing page, referrer and campaign from its first event", async () => {
    const t = await server.tenant("s2");
    await sendAll(t.writeKey, "v2", [0], {
      context: {
        page: { url: "https://shop.example/?utm_source=news", referrer: "https://news.example/a" },
        campaign: { source: "news", medium: "email", name: "winter" },
      },
    });
    await sendAll(t.writeKey, "v2", [1], { context: { page: { url: "https://shop.example/cart" } } });
    const [row] = await sessionRows(t.tenantId);
    expect(row!.landing_page).toBe("https://shop.example/?utm_source=news");
    expect(row!.referrer).toBe("https://news.example/a");
    expect(JSON.parse(row!.campaign)).toEqual({ source: "news", medium: "email", name: "winter" });
    expect(row!.event_count).toBe(2);
  });

  test("concurrent requests of one visitor never create two sessions", async () => {
    const t = await server.tenant("s3");
    const results = await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        server.track({ event: "Burst", anonymousId: "same-visitor", timestamp: at(i % 3), messageId: `burst-${i}` }, { key: t.writeKey }),
      ),
    );
    expect(results.every((r) => r.status === 200)).toBe(true);
    const rows = await sessionRows(t.tenantId);
    expect(rows).toHaveLength(1);
    expect(rows[0]!.event_count).toBe(40);
  });

  test("different visitors get different sessions and visitors", async () => {
    const t = await server.tenant("s4");
    await sendAll(t.writeKey, "va", [0]);
    await sendAll(t.writeKey, "vb", [0]);
    const events = await exportEvents(server.dbPath, t.tenantId);
    expect(events[0]!.sessionId).not.toBe(events[1]!.sessionId);
    expect(events[0]!.visitorId).not.toBe(events[1]!.visitorId);
  });

  test("a late event joins the earlier session it belongs to, or starts its own", async () => {
    const t = await server.tenant("s5");
    // Two sessions: minutes 0-10 and 100-110.
    await sendAll(t.writeKey, "late", [0, 10, 100, 110]);
    // Sent late from an offline queue: minute 20 belongs to the first session (10 + 30 > 20),
    // minute 55 is more than 30 minutes from both, so it gets a session of its own.
    await sendAll(t.writeKey, "late", [20, 55]);
    const events = await exportEvents(server.dbPath, t.tenantId);
    const byMinute = new Map(events.map((e) => [(Date.parse(e.timestamp) - base) / MIN, e.sessionId]));
    expect(byMinute.get(20)).toBe(byMinute.get(0));
    expect(byMinute.get(55)).not.toBe(byMinute.get(0));
    expect(byMinute.get(55)).not.toBe(byMinute.get(100));
    expect(byMinute.get(110)).toBe(byMinute.get(100));
    const rows = await sessionRows(t.tenantId);
    expect(rows).toHaveLength(3);
    expect(rows[0]).toMatchObject({ event_count: 3, last_event_at: base + 20 * MIN });
    // A later event after the late ones still continues the latest session.
    await sendAll(t.writeKey, "late", [115]);
    const again = await exportEvents(server.dbPath, t.tenantId);
    expect(again.at(-1)!.sessionId).toBe(byMinute.get(100));
  });

  test("a visitor without anonymousId is keyed by userId", async () => {
    const t = await server.tenant("s6");
    await server.track({ event: "A", userId: "u-1", timestamp: at(0) }, { key: t.writeKey });
    await server.track({ event: "B", userId: "u-1", timestamp: at(1) }, { key: t.writeKey });
    const events = await exportEvents(server.dbPath, t.tenantId);
    expect(events[0]!.visitorId).toBe(events[1]!.visitorId);
    expect(events[0]!.sessionId).toBe(events[1]!.sessionId);
  });
});
