/**
 * Reading events by time goes through an index on the second of their timestamp (in row order
 * within a second), so readers sort within each second themselves. These tests compare export
 * and the business counts with a brute-force answer over events that arrived out of order, many
 * within one second and one millisecond, across export pages, and before 1970.
 */
import { afterAll, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { openDatabase } from "../src/db/client";
import { tenants } from "../src/db/schema";
import { SqliteActivity } from "../src/db/sqlite/activity";
import { SqliteEventReads } from "../src/db/sqlite/event-reads";
import { ExportService } from "../src/modules/export/service";
import { BusinessStats } from "../src/observability/business";
import { tempDir } from "./helpers/server";

const dir = tempDir("inlet-export-order-");
const database = openDatabase(join(dir, "inlet.db"));
afterAll(() => {
  database.close();
  rmSync(dir, { recursive: true, force: true });
});

// Deterministic shuffle, so a failure can be reproduced.
let seed = 42;
const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;

const base = Date.parse("2026-05-01T12:00:00.000Z");
const timestamps: number[] = [];
for (let i = 0; i < 1800; i++) timestamps.push(base + Math.floor(random() * 4000)); // 4 seconds, many per ms
for (let i = 0; i < 300; i++) timestamps.push(base + 1234); // one millisecond, across a page boundary
for (let i = 0; i < 50; i++) timestamps.push(-2500 + Math.floor(random() * 5000)); // around 1970, negative ones too
timestamps.sort(() => random() - 0.5);

database.db
  .insert(tenants)
  .values([
    { id: "t1", name: "one", createdAt: 0 },
    { id: "t2", name: "two", createdAt: 0 },
  ])
  .run();
const stored = timestamps.map((timestamp, i) => {
  const row = {
    tenantId: i % 10 === 0 ? "t2" : "t1",
    messageId: `m${i}`,
    type: i % 7 === 0 ? "page" : "track",
    visitorId: "v",
    sessionId: "s",
    timestamp,
    receivedAt: base,
  };
  const { lastInsertRowid } = database.sqlite
    .query("INSERT INTO events (tenant_id, message_id, type, visitor_id, session_id, timestamp, received_at) VALUES (?, ?, ?, ?, ?, ?, ?)")
    .run(row.tenantId, row.messageId, row.type, row.visitorId, row.sessionId, row.timestamp, row.receivedAt);
  return { ...row, id: Number(lastInsertRowid) };
});

function expected(filter: { tenantId: string; since?: number; until?: number; type?: string }): string[] {
  return stored
    .filter(
      (e) =>
        e.tenantId === filter.tenantId &&
        (filter.since === undefined || e.timestamp >= filter.since) &&
        (filter.until === undefined || e.timestamp < filter.until) &&
        (filter.type === undefined || e.type === filter.type),
    )
    .sort((a, b) => a.timestamp - b.timestamp || a.id - b.id)
    .map((e) => e.messageId);
}

const exports = new ExportService(new SqliteEventReads(database.db));
const exported = async (filter: { tenantId: string; since?: number; until?: number; type?: string }) =>
  (await Array.fromAsync(exports.exportEvents(filter))).map((e) => e.messageId as string);

test("export is oldest first by timestamp, then by arrival, across pages of 1,000 and many events per millisecond", async () => {
  const all = await exported({ tenantId: "t1" });
  expect(all.length).toBeGreaterThan(1000 * 1.5);
  expect(all).toEqual(expected({ tenantId: "t1" }));
  expect(await exported({ tenantId: "t2" })).toEqual(expected({ tenantId: "t2" }));
});

test("export windows cut at the exact millisecond (since included, until excluded), also inside a second and before 1970", async () => {
  const windows = [
    { since: base + 1234, until: base + 1235 },
    { since: base + 999, until: base + 3001 },
    { since: base + 1500 },
    { until: base + 1234 },
    { since: -1700, until: 1300 },
    { since: -1, until: 1 },
    { since: base + 2000, until: base + 2000 },
  ];
  for (const window of windows) {
    const filter = { tenantId: "t1", ...window };
    expect({ window, ids: await exported(filter) }).toEqual({ window, ids: expected(filter) });
  }
  expect(await exported({ tenantId: "t1", since: base + 500, type: "page" })).toEqual(expected({ tenantId: "t1", since: base + 500, type: "page" }));
});

test("the business metrics count exactly the events whose timestamp is in the window, edges included", async () => {
  const stats = new BusinessStats(new SqliteActivity(database.db));
  const windows: [number, number][] = [
    [base, base + 3999],
    [base + 1234, base + 1234],
    [base + 999, base + 1000],
    [base + 1, base + 2998],
    [-2500, 2500],
    [-999, -1],
  ];
  for (const [from, to] of windows) {
    const count = stored.filter((e) => e.tenantId === "t1" && e.timestamp >= from && e.timestamp <= to).length;
    expect({ from, to, events: (await stats.activity("t1", from, to)).events }).toEqual({ from, to, events: count });
  }
});
