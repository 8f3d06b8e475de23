/**
 * The batched recorder on PostgreSQL against the serial one on SQLite, below HTTP: one stream of
 * calls (many visitors, sessions crossing the timeout, late events, identify, alias, merges,
 * duplicate messageIds) recorded once by SQLite's single writer and once by three recorders, each
 * with its own connection pool as three instances would have, taking the calls round robin and
 * concurrently. The stored results must be the same, ids aside. Concurrent duplicates and
 * concurrent identifies of one user across the three: one row, one lead.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { SQL } from "bun";
import { openDatabase, type DatabaseHandle } from "../../src/db/client";
import { connectPostgres, migratePostgres } from "../../src/db/postgres/connect";
import { lockAll, PostgresBatchStore } from "../../src/db/postgres/ingest";
import { EventStore } from "../../src/db/sqlite/events";
import { SqliteIdentityRows } from "../../src/db/sqlite/identity";
import { SqliteSessions } from "../../src/db/sqlite/sessions";
import { VisitorStore } from "../../src/db/sqlite/visitors";
import { GroupCommitWriter } from "../../src/db/sqlite/writer";
import { TenantService } from "../../src/modules/tenants/service";
import { BatchRecorder } from "../../src/pipeline/batch-record";
import { IdentityResolver } from "../../src/pipeline/identity";
import type { CanonicalEvent, Outcome, TenantAuth } from "../../src/pipeline/model";
import { type Recorder, SerialRecorder } from "../../src/pipeline/record";
import { SessionTracker } from "../../src/pipeline/sessions";
import { createTestDatabase, type TestDatabase } from "../helpers/postgres";

const MIN = 60_000;
const TIMEOUT = 30 * MIN;
const T0 = Date.parse("2026-11-20T12:00:00.000Z");
const TENANT = "tenant-eq";
const BATCH_TENANT = "tenant-batches";

let pg: TestDatabase;
const pools: SQL[] = [];
let sqlite: DatabaseHandle;
let serial: { recorder: SerialRecorder; writer: GroupCommitWriter };
let instances: BatchRecorder[];

beforeAll(async () => {
  pg = await createTestDatabase("batch_recorder");
  for (let i = 0; i < 3; i++) pools.push(connectPostgres(pg.url, { poolSize: 4, statementTimeoutMs: 10_000 }));
  await migratePostgres(pools[0]!);
  await pools[0]!`INSERT INTO tenants (id, name, created_at) VALUES (${TENANT}, 'eq', now()), (${BATCH_TENANT}, 'batches', now())`;
  instances = pools.map(
    (sql) => new BatchRecorder(new PostgresBatchStore(sql, 5_000), { maxQueuedEvents: 100_000, maxTenantEvents: 100_000, sessionTimeoutMs: TIMEOUT }),
  );

  sqlite = openDatabase(":memory:");
  sqlite.sqlite.run(`INSERT INTO tenants (id, name, created_at) VALUES ('${TENANT}', 'eq', 0), ('${BATCH_TENANT}', 'batches', 0)`);
  const { db } = sqlite;
  const sessions = new SessionTracker(new SqliteSessions(db), { timeoutMs: TIMEOUT, cacheSize: 1000 });
  const visitors = new VisitorStore(db, 1000);
  const writer = new GroupCommitWriter(sqlite.sqlite, { maxQueuedWeight: 100_000, hooks: sessions.hooks([visitors]) });
  const identity = new IdentityResolver(new SqliteIdentityRows(db), () => visitors.clear());
  serial = { writer, recorder: new SerialRecorder({ writer, events: new EventStore(db), visitors, sessions, identity }) };
  void TenantService;
});

afterAll(async () => {
  for (const pool of pools) await pool.close();
  await pg?.drop();
  sqlite?.close();
});

const AUTH: TenantAuth = { tenantId: TENANT, serverSide: false } as TenantAuth;
const SERVER: TenantAuth = { tenantId: TENANT, serverSide: true } as TenantAuth;

interface Call {
  event: CanonicalEvent;
  auth: TenantAuth;
}

/** The stream: 40 visitors over 3 hours, with gaps past the timeout, late events, duplicates and identity calls. */
function stream(): Call[] {
  const calls: Call[] = [];
  let n = 0;
  const at = (minutes: number) => T0 + minutes * MIN;
  const track = (anonymousId: string, minutes: number, extra: Partial<CanonicalEvent> = {}, messageId = `m-${++n}`) =>
    calls.push({
      auth: AUTH,
      event: {
        type: "track",
        event: "Viewed",
        messageId,
        anonymousId,
        context: { page: { url: `https://shop.example/${anonymousId}/${minutes}` } },
        properties: { minutes },
        timestamp: at(minutes),
        receivedAt: at(minutes) + 500,
        ...extra,
      },
    });
  const identify = (anonymousId: string, userId: string | undefined, minutes: number, traits: Record<string, unknown>, auth = AUTH) =>
    calls.push({
      auth,
      event: { type: "identify", messageId: `m-${++n}`, anonymousId, userId, traits, context: {}, timestamp: at(minutes), receivedAt: at(minutes) + 500 },
    });
  const alias = (anonymousId: string, previousId: string, userId: string, minutes: number, auth = SERVER) =>
    calls.push({
      auth,
      event: {
        type: "alias",
        messageId: `m-${++n}`,
        anonymousId,
        userId,
        extra: { previousId },
        context: {},
        timestamp: at(minutes),
        receivedAt: at(minutes) + 500,
      },
    });

  for (let minute = 0; minute < 180; minute += 7) {
    for (let v = 0; v < 40; v++) {
      // Every visitor pauses past the timeout once (minutes 60-100 for the even ones).
      if (v % 2 === 0 && minute > 60 && minute < 100) continue;
      track(`anon-${v}`, minute + (v % 5));
    }
    if (minute === 21) for (let v = 0; v < 10; v++) identify(`anon-${v}`, `user-${v}`, minute + 6, { plan: "free", email: `User${v}@Example.com` });
    if (minute === 42) for (let v = 10; v < 14; v++) identify(`anon-${v}`, undefined, minute + 6, { email: `user${v - 10}@example.com`, name: `n${v}` });
    if (minute === 63) alias("anon-20", "anon-21", "user-20", minute + 6);
    if (minute === 84) alias("anon-1", "user-2", "user-1", minute + 6);
    if (minute === 105) identify("anon-30", "user-3", minute + 6, { plan: "pro" }, SERVER);
  }
  // Late events (an offline queue): before the visitor's latest session, into the older one or one of their own.
  for (let v = 0; v < 40; v += 3) track(`anon-${v}`, 20.5, { event: "Late" });
  for (let v = 1; v < 40; v += 7) track(`anon-${v}`, -120, { event: "Very late" });
  // Duplicates of stored messageIds.
  for (let k = 1; k <= 30; k += 3) track("anon-dup", 500, {}, `m-${k}`);
  return calls;
}

/**
 * Sends the stream: calls of different visitors concurrently, a visitor's calls in order (as one
 * browser sends them), identity calls as barriers (they may involve several visitors).
 */
async function send(calls: Call[], pick: (i: number) => Recorder): Promise<Outcome[]> {
  const outcomes: Outcome[] = new Array(calls.length);
  const chains = new Map<string, Promise<void>>();
  for (let i = 0; i < calls.length; i++) {
    const { event, auth } = calls[i]!;
    const record = async () => {
      [outcomes[i]] = await pick(i).record(auth, [event], null, undefined);
    };
    if (event.type !== "track") {
      await Promise.all(chains.values());
      chains.clear();
      await record();
      continue;
    }
    const key = event.anonymousId!;
    chains.set(key, (chains.get(key) ?? Promise.resolve()).then(record));
    if (i % 25 === 0) await Promise.all(chains.values());
  }
  await Promise.all(chains.values());
  return outcomes;
}

/** Batches mixing a visitor's first events with identify and alias calls, so that one commit holds both. */
async function batches(recorder: Recorder): Promise<void> {
  const auth = { tenantId: BATCH_TENANT, serverSide: true } as TenantAuth;
  let n = 0;
  const event = (type: CanonicalEvent["type"], anonymousId: string, minutes: number, fields: Partial<CanonicalEvent> = {}): CanonicalEvent => ({
    type,
    messageId: `b-${++n}`,
    anonymousId,
    context: { page: { url: `https://b.example/${minutes}` } },
    timestamp: T0 + minutes * MIN,
    receivedAt: T0 + minutes * MIN,
    ...fields,
  });
  for (let b = 0; b < 6; b++) {
    const events = [
      event("track", `b-anon-${b}`, 0, { event: "First" }),
      event("page", `b-anon-${b}`, 1),
      event("identify", `b-anon-${b}`, 2, { userId: `b-user-${b}`, traits: { email: `b${b % 3}@example.com`, n: b } }),
      event("track", `b-anon-${b}`, 3, { event: "After", userId: `b-user-${b}` }),
      event("track", `b-other-${b}`, 4, { event: "Other" }),
      event("alias", `b-other-${b}`, 5, { userId: `b-user-${b}`, extra: { previousId: `b-other-${b}` } }),
      event("track", `b-other-${b}`, 50, { event: "Later" }),
    ];
    await recorder.record(auth, events, null, undefined);
  }
}

type Row = Record<string, unknown>;

const sortedKeys = (value: Row) => Object.fromEntries(Object.entries(value).sort(([a], [b]) => (a < b ? -1 : 1)));

/** What was stored, with ids replaced by what they stand for (visitor key, person, session start). */
function describeStore(rows: { events: Row[]; sessions: Row[]; visitors: Row[]; leads: Row[]; links: Row[]; merges: Row[] }) {
  const visitorKey = new Map(rows.visitors.map((v) => [v.id as string, v.key as string]));
  const leadsById = new Map(rows.leads.map((l) => [l.id as string, l]));
  const person = (id: unknown): string | null => {
    if (id === null || id === undefined) return null;
    const lead = leadsById.get(id as string);
    return lead ? String(lead.user_id ?? `email:${lead.email}`) : `missing:${id}`;
  };
  const sessionKey = new Map(rows.sessions.map((s) => [s.id as string, `${visitorKey.get(s.visitor_id as string)}@${Number(s.started_at)}`]));
  const sort = <T>(items: T[]) => items.map((x) => JSON.stringify(x)).sort();
  return {
    events: sort(
      rows.events.map((e) => [e.message_id, e.type, visitorKey.get(e.visitor_id as string), sessionKey.get(e.session_id as string), person(e.lead_id)]),
    ),
    sessions: sort(
      rows.sessions.map((s) => [
        sessionKey.get(s.id as string),
        Number(s.last_event_at),
        Number(s.event_count),
        Number(s.anonymous_events),
        person(s.lead_id),
        s.landing_page,
      ]),
    ),
    visitors: sort(rows.visitors.map((v) => [v.key, person(v.lead_id), v.user_id])),
    // jsonb keeps an object's keys in its own order: compared sorted.
    leads: sort(
      rows.leads.map((l) => [
        person(l.id),
        l.email,
        sortedKeys(typeof l.traits === "string" ? JSON.parse(l.traits) : l.traits),
        person(l.merged_into),
        l.group_id,
      ]),
    ),
    links: sort(
      rows.links.map((k) => [
        visitorKey.get(k.visitor_id as string),
        person(k.lead_id),
        k.message_id,
        Number(k.linked_at),
        k.unlinked_at === null ? null : Number(k.unlinked_at),
      ]),
    ),
    merges: sort(rows.merges.map((m) => [person(m.from_lead_id), person(m.into_lead_id), m.reason, m.message_id])),
  };
}

async function postgresRows(sql: SQL, tenant = TENANT) {
  const ms = (rows: Row[], ...columns: string[]) =>
    rows.map((r) => ({ ...r, ...Object.fromEntries(columns.map((c) => [c, r[c] === null ? null : (r[c] as Date).getTime()])) }));
  return {
    events: await sql`SELECT * FROM events WHERE tenant_id = ${tenant}`,
    sessions: ms(await sql`SELECT * FROM sessions WHERE tenant_id = ${tenant}`, "started_at", "last_event_at"),
    visitors: await sql`SELECT * FROM visitors WHERE tenant_id = ${tenant}`,
    leads: await sql`SELECT * FROM leads WHERE tenant_id = ${tenant}`,
    links: ms(await sql`SELECT * FROM identity_links WHERE tenant_id = ${tenant}`, "linked_at", "unlinked_at"),
    merges: await sql`SELECT * FROM lead_merges WHERE tenant_id = ${tenant}`,
  };
}

function sqliteRows(tenant = TENANT) {
  const all = (table: string) => sqlite.sqlite.query(`SELECT * FROM ${table} WHERE tenant_id = ?`).all(tenant) as Row[];
  return {
    events: all("events"),
    sessions: all("sessions"),
    visitors: all("visitors"),
    leads: all("leads"),
    links: all("identity_links"),
    merges: all("lead_merges"),
  };
}

describe("one stream, one SQLite writer or three PostgreSQL instances", () => {
  test("the stored events, sessions, visitors, leads, links and merges are the same", async () => {
    const calls = stream();
    const one = await send(calls, () => serial.recorder);
    await batches(serial.recorder);
    await serial.writer.close();
    const three = await send(calls, (i) => instances[i % 3]!);
    expect(three.map((o) => o.status)).toEqual(one.map((o) => o.status));
    expect(one.filter((o) => o.status === "duplicate").length).toBe(10);

    const expected = describeStore(sqliteRows());
    const actual = describeStore(await postgresRows(pools[0]!));
    expect(actual.events.length).toBe(calls.length - 10);
    expect(actual.events).toEqual(expected.events);
    expect(actual.sessions).toEqual(expected.sessions);
    expect(actual.visitors).toEqual(expected.visitors);
    expect(actual.leads).toEqual(expected.leads);
    expect(actual.links).toEqual(expected.links);
    expect(actual.merges).toEqual(expected.merges);

    // Batches: identity calls in the same commit as the visitors' first events and sessions.
    await batches(instances[1]!);
    const batchExpected = describeStore(sqliteRows(BATCH_TENANT));
    const batchActual = describeStore(await postgresRows(pools[0]!, BATCH_TENANT));
    expect(batchExpected.links.length).toBeGreaterThan(5);
    expect(batchActual).toEqual(batchExpected);
  }, 60_000);

  test("one messageId sent to three instances at once is stored once", async () => {
    const event = (i: number): CanonicalEvent => ({
      type: "track",
      event: "Once",
      messageId: "same-message",
      anonymousId: `racer-${i}`,
      context: {},
      timestamp: T0,
      receivedAt: T0,
    });
    const outcomes = await Promise.all(instances.map((instance, i) => instance.record(AUTH, [event(i)], null, undefined)));
    expect(outcomes.map(([o]) => o!.status).sort()).toEqual(["accepted", "duplicate", "duplicate"]);
    const [{ n }] = await pools[0]!`SELECT count(*)::int AS n FROM events WHERE tenant_id = ${TENANT} AND message_id = 'same-message'`;
    expect(n).toBe(1);
  });

  test("one user identified on three instances at once makes one lead", async () => {
    const identify = (i: number): CanonicalEvent => ({
      type: "identify",
      messageId: `race-identify-${i}`,
      anonymousId: `racing-device-${i}`,
      userId: "racing-user",
      traits: { email: "racer@example.com", [`from${i}`]: true },
      context: {},
      timestamp: T0 + i,
      receivedAt: T0 + i,
    });
    const outcomes = await Promise.all(instances.map((instance, i) => instance.record(AUTH, [identify(i)], null, undefined)));
    const leadIds = new Set(outcomes.map(([o]) => o!.leadId));
    expect(leadIds.size).toBe(1);
    expect(outcomes.filter(([o]) => o!.created).length).toBe(1);
    const leads = await pools[0]!`SELECT traits FROM leads WHERE tenant_id = ${TENANT} AND (user_id = 'racing-user' OR email = 'racer@example.com')`;
    expect(leads.length).toBe(1);
    expect(leads[0].traits).toEqual({ email: "racer@example.com", from0: true, from1: true, from2: true });
  });

  test("a commit waiting for another instance's locks holds back no one else: the next visitor's call commits meanwhile", async () => {
    const track = (anonymousId: string): CanonicalEvent => ({
      type: "track",
      event: "Held",
      messageId: `held-${anonymousId}`,
      anonymousId,
      context: {},
      timestamp: T0,
      receivedAt: T0,
    });
    // Another instance's transaction holds the lock of visitor "held-a" (as a long commit or an erasure would).
    const other = await pools[2]!.reserve();
    let stuck: Promise<Outcome[]> | undefined;
    try {
      await other`BEGIN`;
      await lockAll(other as unknown as SQL, [{ tenantId: TENANT, kind: "visitor", value: "held-a" }]);
      stuck = instances[0]!.record(AUTH, [track("held-a")], null, undefined);
      let stuckSettled = false;
      void stuck.finally(() => {
        stuckSettled = true;
      });
      // Its commit has started and waits for the lock (the call below must not share that commit).
      for (let waiting = 0; waiting === 0; ) {
        const [row] = await pools[2]!`SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = ${pg.name} AND wait_event_type = 'Lock'`;
        waiting = row.n;
      }
      // One call, far fewer events than make a further commit worth it by size: it goes once it has waited a while.
      const [next] = await instances[0]!.record(AUTH, [track("held-b")], null, undefined);
      expect(next!.status).toBe("accepted");
      expect(stuckSettled).toBe(false);
    } finally {
      await other`COMMIT`;
      other.release();
    }
    const [held] = await stuck!;
    expect(held!.status).toBe("accepted");
  });
});
