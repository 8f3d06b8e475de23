/**
 * Reading events by time goes through an index on the timestamp; on SQLite it is an index on the
 * second of the timestamp (in row order within a second), so readers sort within each second
 * themselves; on PostgreSQL the order is (timestamp, transaction, id) (src/db/postgres/event-reads.ts).
 * These tests compare export and the business counts with a brute-force answer over events that
 * arrived out of order, many within one second and one millisecond, across export pages, and before
 * 1970, on the store under test (test/helpers/server.ts `TEST_STORE`).
 */
import { afterAll, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { openDatabase } from "../src/db/client";
import { connectPostgres, migratePostgres } from "../src/db/postgres/connect";
import { createTestDatabase, readServices } from "./helpers/postgres";
import { TEST_STORE, tempDir } from "./helpers/server";

const dir = tempDir("inlet-export-order-");
const pg = TEST_STORE === "postgres" ? await createTestDatabase("export_order") : null;
const sql = pg ? connectPostgres(pg.url, { poolSize: 2 }) : null;
const database = sql ? null : openDatabase(join(dir, "inlet.db"));
if (sql) await migratePostgres(sql);
afterAll(async () => {
  database?.close();
  await sql?.close();
  await pg?.drop();
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

interface Row {
  tenantId: string;
  messageId: string;
  type: string;
  visitorId: string;
  sessionId: string;
  timestamp: number;
  receivedAt: number;
}
const rows: Row[] = timestamps.map((timestamp, i) => ({
  tenantId: i % 10 === 0 ? "t2" : "t1",
  messageId: `m${i}`,
  type: i % 7 === 0 ? "page" : "track",
  visitorId: "v",
  sessionId: "s",
  timestamp,
  receivedAt: base,
}));

/** Stores the rows in this order (on PostgreSQL 100 to a statement, each its own transaction); the id of each, by messageId. */
async function insert(): Promise<Map<string, number>> {
  const ids = new Map<string, number>();
  if (database) {
    database.sqlite.run("INSERT INTO tenants (id, name, created_at) VALUES ('t1', 'one', 0), ('t2', 'two', 0)");
    const statement = database.sqlite.query(
      "INSERT INTO events (tenant_id, message_id, type, visitor_id, session_id, timestamp, received_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
    );
    for (const row of rows) {
      const { lastInsertRowid } = statement.run(row.tenantId, row.messageId, row.type, row.visitorId, row.sessionId, row.timestamp, row.receivedAt);
      ids.set(row.messageId, Number(lastInsertRowid));
    }
    return ids;
  }
  const pgSql = sql!;
  await pgSql`INSERT INTO tenants (id, name, created_at) VALUES ('t1', 'one', to_timestamp(0)), ('t2', 'two', to_timestamp(0))`;
  for (let from = 0; from < rows.length; from += 100) {
    const values = rows.slice(from, from + 100).map((row) => ({
      tenant_id: row.tenantId,
      message_id: row.messageId,
      type: row.type,
      visitor_id: row.visitorId,
      session_id: row.sessionId,
      timestamp: new Date(row.timestamp),
      received_at: new Date(row.receivedAt),
    }));
    for (const { id, message_id } of await pgSql`INSERT INTO events ${pgSql(values)} RETURNING id, message_id`) ids.set(message_id, Number(id));
  }
  return ids;
}
const ids = await insert();
// Arrival is id order; on PostgreSQL also transaction order, each statement having begun after the one before committed.
const stored = rows.map((row) => ({ ...row, id: ids.get(row.messageId)! }));

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

const reads = readServices(sql ? { sql } : { database: database! });
const exports = reads.exports;
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
  const stats = reads.business;
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
