/**
 * The read side answers the same on both stores: one tenant's data is made through a real server
 * on SQLite (identify, merges, sessions, campaigns, events at equal timestamps), copied row by row
 * into a fresh PostgreSQL database, and every read (lead show, visitor show, export pages with a
 * cursor and filters, one event, stats) is asked of both stores' services and compared with the
 * answer of the SQLite server's HTTP API.
 *
 * Then, on PostgreSQL only, what SQLite cannot have: transactions committing out of order, where a
 * cursor must not skip an event committed late with a lower id.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { SQL } from "bun";
import { getTableConfig, PgTable } from "drizzle-orm/pg-core";
import { is } from "drizzle-orm";
import * as pgSchema from "../../src/db/pg-schema";
import { connectPostgres, migratePostgres } from "../../src/db/postgres/connect";
import { PostgresEventReads } from "../../src/db/postgres/event-reads";
import { ExportService, type ExportFilter } from "../../src/modules/export/service";
import { tenantStats } from "../../src/modules/stats/service";
import { createTestDatabase, readServices, settledPage, type TestDatabase } from "../helpers/postgres";
import { startTestServer, type TestServer } from "../helpers/server";

let server: TestServer;
let pg: TestDatabase;
let sql: SQL;
let adminKey: string;

type Reads = ReturnType<typeof readServices>;
const stores: Record<"sqlite" | "postgres", Reads> = {} as never;

const T = Date.parse("2026-03-01T10:00:00.000Z");
const at = (seconds: number) => new Date(T + seconds * 1000).toISOString();

const get = async (path: string) => {
  const res = await fetch(server.url + path, { headers: { authorization: `Bearer ${adminKey}` } });
  expect(res.status).toBe(200);
  return res.json();
};

/** The tables the reads use. */
const READ_TABLES = ["visitors", "sessions", "leads", "identity_links", "lead_merges", "events"];

/** Copies every row of the tables the reads use from the server's SQLite file to PostgreSQL, in id order. */
async function copyToPostgres(): Promise<void> {
  const { sqlite } = server.running.services.sqlite!.database;
  const tables = (Object.values(pgSchema).filter((value) => is(value, PgTable)) as PgTable[]).map((table) => getTableConfig(table));
  for (const config of tables.filter((table) => READ_TABLES.includes(table.name))) {
    // Not the ids PostgreSQL hands out itself, nor the transaction of each event.
    const kept = config.columns.filter((column) => !(column.name === "id" && column.columnType === "PgBigInt53") && column.name !== "tx");
    for (const row of sqlite.query(`SELECT * FROM ${config.name} ORDER BY rowid`).all() as Record<string, unknown>[]) {
      const values: Record<string, unknown> = {};
      for (const column of kept) {
        const value = row[column.name];
        if (value === null || value === undefined) values[column.name] = null;
        else if (column.getSQLType().startsWith("timestamp")) values[column.name] = new Date(value as number);
        else if (column.getSQLType() === "jsonb") values[column.name] = JSON.parse(value as string);
        else if (column.getSQLType() === "boolean") values[column.name] = Boolean(value);
        else values[column.name] = value;
      }
      await sql`INSERT INTO ${sql(config.name)} ${sql(values)}`;
    }
  }
}

beforeAll(async () => {
  server = await startTestServer();
  const { tenants } = server.running.services;
  adminKey = (await tenants.createKey(server.tenantId, "admin")).key;
  const backend = (await tenants.createKey(server.tenantId, "server")).key;
  const post = (path: string, body: unknown, key?: string) => server.post(path, body, { key });
  const calls: [string, unknown, string?][] = [
    [
      "/v1/events/page",
      { anonymousId: "a-1", name: "Home", timestamp: at(0), context: { page: { url: "https://shop.example/?utm_source=news&utm_medium=email" } } },
    ],
    ["/v1/events/track", { event: "Viewed", anonymousId: "a-1", properties: { sku: "x", price: 1.5, tags: ["a", "b"] }, timestamp: at(1) }],
    // Three events at one millisecond: their order is arrival, across page boundaries.
    ["/v1/events/track", { event: "Same-1", anonymousId: "a-1", timestamp: at(2) }],
    ["/v1/events/track", { event: "Same-2", anonymousId: "a-1", timestamp: at(2) }],
    ["/v1/events/track", { event: "Same-3", anonymousId: "a-1", timestamp: at(2) }],
    ["/v1/events/identify", { userId: "u-1", anonymousId: "a-1", traits: { email: "ada@example.com", name: "Ada" }, timestamp: at(3) }],
    ["/v1/events/track", { event: "Phone", anonymousId: "a-2", timestamp: at(4) }],
    ["/v1/events/identify", { userId: "u-2", anonymousId: "a-2", traits: { name: "Ada on phone", plan: "pro" }, timestamp: at(5) }],
    // The backend learns both are one person: u-2's lead is merged into u-1's.
    ["/v1/events/identify", { userId: "u-2", anonymousId: "a-2", traits: { email: "ADA@example.com" }, timestamp: at(6) }, backend],
    ["/v1/events/group", { userId: "u-1", groupId: "acme", traits: { name: "Acme" }, timestamp: at(7) }],
    // A second session of a-1, after the 30-minute timeout.
    ["/v1/events/track", { event: "Back", anonymousId: "a-1", timestamp: at(3600) }],
    ["/v1/events/screen", { anonymousId: "a-3", name: "Splash", timestamp: at(3601) }],
    ["/v1/events/alias", { previousId: "a-3", userId: "u-3", timestamp: at(3602) }],
    // Received now (no timestamp): counted by the stats' window.
    ["/v1/events/track", { event: "Now", anonymousId: "a-4" }],
  ];
  for (const [path, body, key] of calls) {
    const res = await post(path, body, key);
    expect(res.status, `${path} ${await res.clone().text()}`).toBe(200);
  }
  expect(await server.sessionsWritten()).toBe(true);

  pg = await createTestDatabase("reads");
  sql = connectPostgres(pg.url, { poolSize: 4 });
  await migratePostgres(sql);
  await copyToPostgres();

  stores.sqlite = readServices({ database: server.running.services.sqlite!.database });
  stores.postgres = readServices({ sql });
});

afterAll(async () => {
  await sql?.close();
  await pg?.drop();
  await server?.stop();
});

/** As the API writes it: what JSON.stringify makes of a service's answer. */
const json = (value: unknown) => JSON.parse(JSON.stringify(value));

/** Pages of `limit` through a store's service, as GET /v1/events does (one more row tells hasMore). */
async function walk(exports: ExportService, filter: ExportFilter, limit: number) {
  const pages: { events: unknown[]; hasMore: boolean }[] = [];
  let after = filter.after;
  for (let i = 0; i < 50; i++) {
    const page = await settledPage(exports, { ...filter, after }, limit + 1);
    const events = page.events.slice(0, limit);
    const hasMore = page.events.length > limit || page.heldBack;
    pages.push({ events: json(events), hasMore });
    // A cursor round-trips through its text, as a client sends it back.
    const last = page.positions[events.length - 1];
    if (last) after = exports.decodeCursor(exports.encodeCursor(last)) ?? undefined;
    if (!hasMore) break;
  }
  return pages;
}

async function walkHttp(query: string, limit: number) {
  const pages: { events: unknown[]; hasMore: boolean }[] = [];
  let cursor = "";
  for (let i = 0; i < 50; i++) {
    const body = await get(`/v1/events?limit=${limit}${query}${cursor ? `&cursor=${cursor}` : ""}`);
    pages.push({ events: body.events, hasMore: body.hasMore });
    cursor = body.nextCursor;
    if (!body.hasMore) break;
  }
  return pages;
}

describe.each(["sqlite", "postgres"] as const)("reads on %s", (kind) => {
  const reads = () => stores[kind];

  test("lead show: by userId, by email, and a merged lead's userId, as GET /v1/leads answers", async () => {
    for (const id of ["u-1", "ada@example.com", "u-2", "u-3"]) {
      const expected = await get(`/v1/leads/${encodeURIComponent(id)}`);
      expect(json(await reads().leads.showLead(server.tenantId, id))).toEqual(expected);
    }
    const lead = await get("/v1/leads/u-2");
    // The data is what it should be (so that the comparison compares something).
    expect(lead).toMatchObject({
      userId: "u-1",
      email: "ada@example.com",
      groupId: "acme",
      traits: { name: "Ada on phone", plan: "pro", email: "ADA@example.com" },
    });
    expect(lead.mergedFrom).toMatchObject([{ reason: "same_email" }]);
    // The anonymous visitors identified as the person (the group call's visitor, by userId, has no link).
    expect(lead.visitors.map((v: { anonymousId: string }) => v.anonymousId)).toEqual(["a-1", "a-2"]);
    // a-1: 7 events in two sessions; a-2: 3 in one; the group call: 1 in one.
    expect(lead.eventCount).toBe(11);
    expect(lead.sessionCount).toBe(4);
    expect(await reads().leads.showLead(server.tenantId, "nobody")).toBeNull();
    expect(await reads().leads.showLead("another-tenant", "u-1")).toBeNull();
  });

  test("visitor show: sessions newest first with campaign, and the lead, as GET /v1/visitors answers", async () => {
    for (const id of ["a-1", "a-2", "a-3", "a-4"]) {
      const expected = await get(`/v1/visitors/${id}`);
      expect(json(await reads().leads.showVisitor(server.tenantId, id))).toEqual(expected);
    }
    const visitor = await get("/v1/visitors/a-1");
    expect(visitor.sessions).toHaveLength(2);
    expect(visitor.sessions[1].campaign).toEqual({ source: "news", medium: "email" });
    expect(await reads().leads.showVisitor(server.tenantId, "nobody")).toBeNull();
  });

  test("export pages with a cursor, a type filter and a time range, as GET /v1/events answers", async () => {
    const all = await walk(reads().exports, { tenantId: server.tenantId }, 2);
    expect(all).toEqual(await walkHttp("", 2));
    expect(all.flatMap((page) => page.events)).toHaveLength(14);
    expect(await walk(reads().exports, { tenantId: server.tenantId, type: "track" }, 1)).toEqual(await walkHttp("&type=track", 1));
    const range = { since: T + 1000, until: T + 3601_000 };
    expect(await walk(reads().exports, { tenantId: server.tenantId, ...range }, 3)).toEqual(
      await walkHttp(`&since=${new Date(range.since).toISOString()}&until=${new Date(range.until).toISOString()}`, 3),
    );
    expect(await walk(reads().exports, { tenantId: server.tenantId, anonymousId: "a-2" }, 5)).toEqual(await walkHttp("&anonymousId=a-2", 5));
    expect(await walk(reads().exports, { tenantId: server.tenantId, userId: "u-1" }, 5)).toEqual(await walkHttp("&userId=u-1", 5));
  });

  test("the whole range (inlet export, NDJSON) and one event by messageId", async () => {
    const res = await fetch(`${server.url}/v1/events`, { headers: { authorization: `Bearer ${adminKey}`, accept: "application/x-ndjson" } });
    const lines = (await res.text())
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line));
    const exported = json(await Array.fromAsync(reads().exports.exportEvents({ tenantId: server.tenantId }, { pageSize: 4 })));
    expect(exported).toEqual(lines);
    for (const event of lines) expect(json(await reads().exports.findEvent(server.tenantId, event.messageId))).toEqual(event);
    expect(await reads().exports.findEvent(server.tenantId, "no-such-message")).toBeNull();
  });

  test("a cursor of the other store's shape is not a cursor", () => {
    const other = kind === "sqlite" ? stores.postgres.exports : stores.sqlite.exports;
    const cursor = other.encodeCursor(kind === "sqlite" ? [T, 1, 1] : [T, 1]);
    expect(reads().exports.decodeCursor(cursor)).toBeNull();
  });

  test("stats over a window, as GET /v1/stats answers, and per tenant", async () => {
    const now = Date.now();
    for (const window of ["1h", "31d"]) {
      const { from, to, ...expected } = await get(`/v1/stats?window=${window}`);
      const answer = (await tenantStats(reads().business, server.tenantId, window, now))!;
      expect({ ...answer, from: undefined, to: undefined }).toEqual({ ...expected, from: undefined, to: undefined });
    }
    const [one, none] = await reads().business.allTenants([server.tenantId, "no-such-tenant"], now - 3_600_000, now);
    // Made now: a-1 (two sessions), a-2, u-1's, a-3 and u-3's (the alias), a-4; all but a-4 and one of the alias's identified.
    // By timestamp, only the event sent without one is in the last hour.
    expect(one!.activity).toMatchObject({ events: 1, newVisitors: 6, identifiedVisitors: 4, sessions: 7 });
    expect(none!.activity).toEqual({ events: 0, eventsPerMinute: 0, newVisitors: 0, identifiedVisitors: 0, identifyConversion: 0, sessions: 0 });
  });
});

describe("PostgreSQL: a cursor never skips an event committed late", () => {
  const TENANT = "late";
  const when = new Date(Date.UTC(2026, 5, 1, 12));
  const exports = () => stores.postgres.exports;
  const names = (events: Record<string, unknown>[]) => events.map((e) => e.messageId);

  /** One event in its own statement on `client` (the pool: committed at once; a reserved connection: in its transaction). */
  const addTo =
    (tenantId: string) =>
    (client: SQL, messageId: string, timestamp = when) =>
      client`INSERT INTO events (tenant_id, message_id, type, visitor_id, session_id, timestamp, received_at, context)
           VALUES (${tenantId}, ${messageId}, 'track', 'v', 's', ${timestamp}, ${timestamp}, ${{ n: messageId }})`;
  const insert = addTo(TENANT);

  test("an event of a transaction in flight holds back later ones, whatever their id; then comes first", async () => {
    await insert(sql, "before", new Date(when.getTime() - 1));
    // Once settled, always: later transactions have greater transaction ids.
    expect(names((await settledPage(exports(), { tenantId: TENANT }, 10)).events)).toEqual(["before"]);
    // `slow` takes its transaction id first, then `fast` stores an event and commits, then `slow`
    // stores one at the same millisecond (a greater id, but the older transaction).
    const slow = await sql.reserve();
    try {
      await slow`BEGIN`;
      await slow`SELECT pg_current_xact_id()`;
      await insert(sql, "fast");
      await insert(slow, "slow");

      const first = await exports().readEvents({ tenantId: TENANT }, 10);
      // `fast` is committed but held back: an older transaction may still commit before it.
      expect(names(first.events)).toEqual(["before"]);
      expect(first.heldBack).toBe(true);
      const again = await exports().readEvents({ tenantId: TENANT, after: first.positions[0] }, 10);
      expect(again).toEqual({ events: [], positions: [], heldBack: true });

      await slow`COMMIT`;
      const next = await settledPage(exports(), { tenantId: TENANT, after: first.positions[0] }, 10);
      // Order by transaction at an equal timestamp: `slow` first, though its id is greater.
      expect(names(next.events)).toEqual(["slow", "fast"]);
      expect(next.heldBack).toBe(false);
      const ids = await sql`SELECT message_id, id FROM events WHERE tenant_id = ${TENANT} AND message_id IN ('slow', 'fast') ORDER BY id`;
      expect(ids.map((row: { message_id: string }) => row.message_id)).toEqual(["fast", "slow"]);

      // A later transaction at the same millisecond comes after the cursor, not before it.
      await insert(sql, "later");
      const last = await settledPage(exports(), { tenantId: TENANT, after: next.positions[1] }, 10);
      expect(names(last.events)).toEqual(["later"]);
    } finally {
      await slow`ROLLBACK`.catch(() => {});
      slow.release();
    }
  });

  test("a committed event with a lower id than a page's last is not skipped (the case paging by id alone misses)", async () => {
    const tenant = "late-2";
    const add = addTo(tenant);
    const early = await sql.reserve();
    try {
      // `early` takes the lower id and stays open; `quick` takes a greater id and commits.
      await early`BEGIN`;
      await add(early, "early");
      await add(sql, "quick");
      const page = await exports().readEvents({ tenantId: tenant }, 10);
      expect(page.events).toEqual([]);
      expect(page.heldBack).toBe(true);
      await early`COMMIT`;
      expect(names((await settledPage(exports(), { tenantId: tenant }, 10)).events)).toEqual(["early", "quick"]);
    } finally {
      await early`ROLLBACK`.catch(() => {});
      early.release();
    }
  });

  test("a whole-range export waits for the transaction in flight and misses nothing", async () => {
    const tenant = "late-3";
    const add = addTo(tenant);
    const open = await sql.reserve();
    try {
      await open`BEGIN`;
      await add(open, "open");
      await add(sql, "done");
      // The export's wait commits the open transaction (instead of time passing).
      let committed = false;
      const exporter = new ExportService(new PostgresEventReads(sql), async (ms) => {
        if (committed) return Bun.sleep(ms); // another session's transaction on the shared server
        committed = true;
        await open`COMMIT`;
      });
      expect(names(await Array.fromAsync(exporter.exportEvents({ tenantId: tenant })))).toEqual(["open", "done"]);
      expect(committed).toBe(true);
    } finally {
      await open`ROLLBACK`.catch(() => {});
      open.release();
    }
  });
});
