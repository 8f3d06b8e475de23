/**
 * Several instances on one PostgreSQL, through HTTP as clients meet them:
 * - the equivalence test: one stream of calls (many visitors, sessions crossing the timeout, late
 *   events, identify, alias, merges, duplicate messageIds, batches) sent once to one SQLite
 *   instance and once to three PostgreSQL instances, round robin and concurrently; the exports
 *   and the leads are the same, ids aside;
 * - a key revoked from the command line is refused by every instance.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawnServer, type ServerProcess } from "../helpers/process";
import { createTestDatabase, type TestDatabase } from "../helpers/postgres";
import { cli, cliJson, exportEvents, ndjson, startTestServer, type TestServer } from "../helpers/server";

const MIN = 60_000;
const T0 = Date.parse("2026-11-20T12:00:00.000Z");

let pg: TestDatabase;
let sqlite: TestServer;
let instances: ServerProcess[] = [];
const keys = { sqlite: { write: "", server: "", tenantId: "" }, postgres: { write: "", server: "", tenantId: "" } };

const pgCli = (args: string[]) => cliJson(args, { DATABASE_URL: pg.url });

beforeAll(async () => {
  pg = await createTestDatabase("instances");
  const tenant = await pgCli(["tenant", "create", "instances"]);
  keys.postgres = { tenantId: tenant.tenantId, write: tenant.key, server: (await pgCli(["key", "create", "--tenant", tenant.tenantId, "--server"])).key };
  instances = await Promise.all([0, 1, 2].map(() => spawnServer({ DATABASE_URL: pg.url, INLET_DEMO: "false" }, 30_000)));
  sqlite = await startTestServer();
  keys.sqlite = {
    tenantId: sqlite.tenantId,
    write: sqlite.writeKey,
    server: (await sqlite.running.services.tenants.createKey(sqlite.tenantId, "server")).key,
  };
}, 90_000);

afterAll(async () => {
  for (const instance of instances) instance.proc.kill();
  await Promise.all(instances.map((i) => i.proc.exited));
  await sqlite?.stop();
  await pg?.drop();
});

interface Call {
  path: string;
  body: Record<string, unknown>;
  server?: boolean;
  /** The visitor whose calls must keep their order (null: an identity call, sent alone). */
  visitor: string | null;
}

function stream(): Call[] {
  const calls: Call[] = [];
  let n = 0;
  const iso = (minutes: number) => new Date(T0 + minutes * MIN).toISOString();
  const track = (anonymousId: string, minutes: number, extra: Record<string, unknown> = {}, messageId = `m-${++n}`) =>
    calls.push({
      path: "/v1/track",
      visitor: anonymousId,
      body: {
        event: "Viewed",
        anonymousId,
        messageId,
        timestamp: iso(minutes),
        properties: { minutes },
        context: { page: { url: `https://shop.example/${minutes}` } },
        ...extra,
      },
    });
  const identify = (anonymousId: string, userId: string | undefined, minutes: number, traits: Record<string, unknown>, server = false) =>
    calls.push({ path: "/v1/identify", visitor: null, server, body: { anonymousId, userId, traits, messageId: `m-${++n}`, timestamp: iso(minutes) } });
  const alias = (anonymousId: string, previousId: string, userId: string, minutes: number) =>
    calls.push({ path: "/v1/alias", visitor: null, server: true, body: { anonymousId, previousId, userId, messageId: `m-${++n}`, timestamp: iso(minutes) } });

  for (let minute = 0; minute < 150; minute += 9) {
    for (let v = 0; v < 24; v++) {
      if (v % 2 === 0 && minute > 50 && minute < 90) continue; // past the session timeout
      track(`anon-${v}`, minute + (v % 4));
    }
    if (minute === 18) for (let v = 0; v < 8; v++) identify(`anon-${v}`, `user-${v}`, minute + 5, { plan: "free", email: `User${v}@Example.com` });
    if (minute === 36) for (let v = 8; v < 11; v++) identify(`anon-${v}`, undefined, minute + 5, { email: `user${v - 8}@example.com` });
    if (minute === 54) alias("anon-12", "anon-13", "user-12", minute + 5);
    if (minute === 72) alias("anon-1", "user-2", "user-1", minute + 5);
    if (minute === 90) identify("anon-20", "user-3", minute + 5, { plan: "pro" }, true);
  }
  for (let v = 0; v < 24; v += 3) track(`anon-${v}`, 20.5, { event: "Late" });
  for (let v = 1; v < 24; v += 5) track(`anon-${v}`, -100, { event: "Very late" });
  for (let k = 1; k <= 20; k += 4) track("anon-dup", 400, {}, `m-${k}`);
  // A batch: a new visitor's first events and its identify in one request.
  calls.push({
    path: "/v1/batch",
    visitor: null,
    body: {
      batch: [
        { type: "track", event: "First", anonymousId: "batch-anon", messageId: "b-1", timestamp: iso(10) },
        { type: "identify", anonymousId: "batch-anon", userId: "batch-user", traits: { email: "batch@example.com" }, messageId: "b-2", timestamp: iso(11) },
        { type: "track", event: "After", anonymousId: "batch-anon", messageId: "b-3", timestamp: iso(12) },
        { type: "track", event: "Dup", anonymousId: "batch-anon", messageId: "m-1", timestamp: iso(13) },
      ],
    },
  });
  return calls;
}

/** Sends the stream: a visitor's calls in order, different visitors' concurrently, identity calls alone. */
async function send(calls: Call[], url: (i: number) => string, store: "sqlite" | "postgres"): Promise<number[]> {
  const statuses: number[] = new Array(calls.length);
  const chains = new Map<string, Promise<void>>();
  const post = async (i: number) => {
    const call = calls[i]!;
    const key = call.server ? keys[store].server : keys[store].write;
    const res = await fetch(url(i) + call.path, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${key}` },
      body: JSON.stringify(call.body),
    });
    statuses[i] = res.status;
    await res.arrayBuffer();
  };
  for (let i = 0; i < calls.length; i++) {
    const { visitor } = calls[i]!;
    if (visitor === null) {
      await Promise.all(chains.values());
      chains.clear();
      await post(i);
      continue;
    }
    chains.set(
      visitor,
      (chains.get(visitor) ?? Promise.resolve()).then(() => post(i)),
    );
    if (i % 20 === 0) await Promise.all(chains.values());
  }
  await Promise.all(chains.values());
  return statuses;
}

type Row = Record<string, any>;

/** An export with ids replaced by what they stand for: each id by the first messageId of its events. */
function comparable(events: Row[]) {
  const label = (field: string) => {
    const first = new Map<string, string>();
    for (const e of events) {
      const id = e[field];
      if (id && (!first.has(id) || e.messageId < first.get(id)!)) first.set(id, e.messageId);
    }
    return (id: string | null) => (id ? first.get(id)! : null);
  };
  const visitor = label("visitorId");
  const session = label("sessionId");
  const lead = label("leadId");
  return events
    .map((e) => JSON.stringify([e.messageId, e.type, e.event ?? null, e.timestamp, visitor(e.visitorId), session(e.sessionId), lead(e.leadId)]))
    .sort();
}

/** A lead as `inlet lead show` prints it, without ids and times of writing. */
function person(lead: Row) {
  const traits = Object.fromEntries(Object.entries(lead.traits).sort(([a], [b]) => (a < b ? -1 : 1)));
  return {
    userId: lead.userId,
    email: lead.email,
    traits,
    eventCount: lead.eventCount,
    sessionCount: lead.sessionCount,
    visitors: lead.visitors.map((v: Row) => [v.anonymousId, v.linkedAt, v.unlinkedAt, v.messageId]).sort(),
    mergedFrom: lead.mergedFrom.map((m: Row) => [m.reason, m.messageId]).sort(),
  };
}

describe("several instances on one PostgreSQL", () => {
  test("one stream to one SQLite instance or to three PostgreSQL instances: the same exports and leads", async () => {
    const calls = stream();
    const one = await send(calls, () => sqlite.url, "sqlite");
    const three = await send(calls, (i) => instances[i % 3]!.url, "postgres");
    expect(three).toEqual(one);
    expect(one.every((status) => status === 200)).toBe(true);

    const expected = await exportEvents(sqlite.dbPath, keys.sqlite.tenantId);
    const actualOut = await cli(["export", "--tenant", keys.postgres.tenantId], { DATABASE_URL: pg.url });
    const actual = ndjson(actualOut.stdout);
    expect(actual.length).toBe(expected.length);
    expect(comparable(actual)).toEqual(comparable(expected));

    for (const who of ["user-0", "user-1", "user-2", "user-3", "user-12", "user1@example.com", "batch-user"]) {
      const onSqlite = await cli(["lead", "show", "--tenant", keys.sqlite.tenantId, who], { INLET_DB: sqlite.dbPath });
      const onPostgres = await cli(["lead", "show", "--tenant", keys.postgres.tenantId, who], { DATABASE_URL: pg.url });
      expect(onPostgres.code).toBe(onSqlite.code);
      if (onSqlite.code === 0) expect(person(JSON.parse(onPostgres.stdout))).toEqual(person(JSON.parse(onSqlite.stdout)));
    }
  }, 120_000);

  test("a key revoked from the command line is refused by every instance", async () => {
    const created = await pgCli(["key", "create", "--tenant", keys.postgres.tenantId]);
    const track = (url: string) =>
      fetch(`${url}/v1/track`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${created.key}` },
        body: JSON.stringify({ event: "Revoked soon", anonymousId: "r" }),
      }).then((res) => res.status);
    // Every instance has the key cached.
    expect(await Promise.all(instances.map((i) => track(i.url)))).toEqual([200, 200, 200]);
    await pgCli(["key", "revoke", created.keyId]);
    // The change is heard, not waited out (the key cache's TTL is 30 s here): each instance refuses
    // the key well before that; the bound below only keeps a broken feed from hanging the test.
    const refused = await Promise.all(
      instances.map(async (i) => {
        const deadline = Date.now() + 10_000;
        while (Date.now() < deadline) {
          if ((await track(i.url)) === 401) return true;
          await Bun.sleep(20);
        }
        return false;
      }),
    );
    expect(refused).toEqual([true, true, true]);
  }, 60_000);
});
