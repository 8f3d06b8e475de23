/**
 * Erasure, suppression and retention through the real server (docs/privacy.md): real HTTP, the
 * store under test (SQLite files, or PostgreSQL with INLET_TEST_STORE=postgres; the search of the
 * database files' bytes is SQLite's), the real CLI for export.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync, existsSync, rmSync, statSync } from "node:fs";
import { loadConfig } from "../src/config";
import { startServer, type RunningServer } from "../src/server";
import { cli, exportEvents, startTestServer, storeEnv, TEST_STORE, tempDir, testStore, type TestServer } from "./helpers/server";
import { storeRows } from "./helpers/store-rows";

const HOUR = 3_600_000;

type Srv = TestServer;

async function adminKey(server: Srv, tenantId = server.tenantId): Promise<string> {
  return (await server.running.services.tenants.createKey(tenantId, "admin")).key;
}

function api(server: { url: string }, key: string) {
  const call = (method: string, path: string, body?: unknown) =>
    fetch(server.url + path, {
      method,
      headers: { "content-type": "application/json", authorization: `Bearer ${key}` },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  return {
    call,
    async json(method: string, path: string, body?: unknown, status = 200): Promise<any> {
      const response = await call(method, path, body);
      const text = await response.text();
      if (response.status !== status) throw new Error(`${method} ${path}: ${response.status} ${text}`);
      return JSON.parse(text);
    },
  };
}

async function ok(response: Response | Promise<Response>): Promise<any> {
  const r = await response;
  const text = await r.text();
  if (r.status !== 200) throw new Error(`${r.status} ${text}`);
  return JSON.parse(text);
}

const at = (ms: number) => new Date(ms).toISOString();

/**
 * Person A: two leads merged into one (same email), three visitors (one linked by alias), events
 * across four sessions: 9 events. Answers the messageIds sent.
 */
async function sendPersonA(server: Srv, key: string, tag: string, base: number): Promise<string[]> {
  const ids: string[] = [];
  const post = async (path: string, body: Record<string, unknown>) => {
    const messageId = `${tag}-${ids.length}`;
    ids.push(messageId);
    await ok(server.post(path, { messageId, ...body }, { key }));
  };
  // Visitor 1: two sessions (two hours apart), identified as u-a with a@example.com.
  await post("/v1/events/track", { anonymousId: "anon-a1", event: "Viewed", timestamp: at(base), properties: { note: "first" } });
  await post("/v1/events/track", { anonymousId: "anon-a1", event: "Viewed", timestamp: at(base + 60_000) });
  await post("/v1/events/identify", { anonymousId: "anon-a1", userId: "u-a", traits: { email: "A@Example.com", name: "Ada" }, timestamp: at(base + 120_000) });
  await post("/v1/events/track", { anonymousId: "anon-a1", event: "Came back", timestamp: at(base + 2 * HOUR) });
  // Visitor 2: a second lead (u-a2), merged into the first when it gets the same email.
  await post("/v1/events/track", { anonymousId: "anon-a2", event: "Viewed", timestamp: at(base + 10 * 60_000) });
  await post("/v1/events/identify", { anonymousId: "anon-a2", userId: "u-a2", timestamp: at(base + 11 * 60_000) });
  await post("/v1/events/identify", { anonymousId: "anon-a2", userId: "u-a2", traits: { email: "a@example.com" }, timestamp: at(base + 12 * 60_000) });
  // Visitor 3: anonymous, then aliased to u-a.
  await post("/v1/events/page", { anonymousId: "anon-a3", name: "Home", timestamp: at(base + 20 * 60_000) });
  await post("/v1/events/alias", { anonymousId: "anon-a3", userId: "u-a", previousId: "anon-a3", timestamp: at(base + 21 * 60_000) });
  return ids;
}

async function sendPersonB(server: Srv, key: string, tag: string, base: number): Promise<string[]> {
  const ids = [`${tag}-b0`, `${tag}-b1`, `${tag}-b2`];
  await ok(server.post("/v1/events/track", { messageId: ids[0], anonymousId: "anon-b1", event: "Viewed", timestamp: at(base) }, { key }));
  await ok(
    server.post(
      "/v1/events/identify",
      { messageId: ids[1], anonymousId: "anon-b1", userId: "u-b", traits: { email: "b@example.com" }, timestamp: at(base + 60_000) },
      { key },
    ),
  );
  await ok(server.post("/v1/events/track", { messageId: ids[2], anonymousId: "anon-b1", event: "Bought", timestamp: at(base + 120_000) }, { key }));
  return ids;
}

async function count(server: Srv, table: string, tenantId: string): Promise<number> {
  const [row] = await storeRows(server.dbPath, `SELECT count(*) AS n FROM ${table} WHERE tenant_id = ?`, tenantId);
  return row!.n;
}

/** On SQLite the WAL is emptied after an erasure; PostgreSQL has no log for Inlet to empty (docs/privacy.md). */
const WAL_TRUNCATED = TEST_STORE === "sqlite";

/** The bytes of the database files: SQLite's only (on PostgreSQL, dead tuples stay until VACUUM, docs/privacy.md). */
const SQLITE_FILES_ONLY = TEST_STORE === "postgres";

/** Whether these bytes are anywhere in the database file or its WAL. */
function inDbFiles(server: Srv, needle: string): boolean {
  return [server.dbPath, `${server.dbPath}-wal`].filter(existsSync).some((path) => readFileSync(path).includes(Buffer.from(needle)));
}

/** Erases the subject; the receipt counts `events` with the WAL truncated, and only `kept` of these bytes is left. */
async function eraseLeavingNoBytes(server: Srv, subject: Record<string, string>, expected: { events: number; gone: string[]; kept: string }) {
  const receipt = await api(server, await adminKey(server)).json("POST", "/v1/privacy/deletions", { subject });
  expect(receipt.deleted.events).toBe(expected.events);
  expect(receipt.walTruncated).toBe(true);
  for (const needle of expected.gone) expect(inDbFiles(server, needle)).toBe(false);
  expect(inDbFiles(server, expected.kept)).toBe(true);
}

describe("erasing a person", () => {
  for (const subject of [{ userId: "u-a" }, { email: "a@EXAMPLE.com" }, { anonymousId: "anon-a2" }] as const) {
    test(`by ${Object.keys(subject)[0]}: the lead, the lead merged into it, three visitors and their events across sessions; nobody else`, async () => {
      const server = await startTestServer();
      try {
        const other = await server.tenant("other");
        const base = Date.now() - 5 * HOUR;
        // Server keys: only a server-side caller may merge two identified leads (see identity).
        const serverKey = async (tenantId: string) => (await server.running.services.tenants.createKey(tenantId, "server")).key;
        const aIds = await sendPersonA(server, await serverKey(server.tenantId), "t1", base);
        const bIds = await sendPersonB(server, server.writeKey, "t1", base);
        // The other tenant: the very same ids and people.
        await sendPersonA(server, await serverKey(other.tenantId), "t2", base);
        await sendPersonB(server, other.writeKey, "t2", base);
        expect(await server.sessionsWritten()).toBe(true);
        expect(await count(server, "leads", server.tenantId)).toBe(3);
        const otherBefore = (await exportEvents(server.dbPath, other.tenantId)).length;
        expect(otherBefore).toBe(aIds.length + bIds.length);

        const admin = api(server, await adminKey(server));
        const receipt = await admin.json("POST", "/v1/privacy/deletions", { subject });
        expect(receipt).toMatchObject({ status: "completed", nothingLeft: false, suppressionId: null, walTruncated: WAL_TRUNCATED });
        expect(receipt.deleted).toEqual({ events: aIds.length, sessions: 4, visitors: 3, leads: 2 });
        expect(JSON.stringify(receipt)).not.toContain("example.com");

        // Only B is left in this tenant; the other tenant is untouched.
        const left = await exportEvents(server.dbPath, server.tenantId);
        expect(left.map((e) => e.messageId).sort()).toEqual([...bIds].sort());
        expect((await exportEvents(server.dbPath, other.tenantId)).length).toBe(otherBefore);
        expect(await count(server, "visitors", server.tenantId)).toBe(1);
        expect(await count(server, "sessions", server.tenantId)).toBe(1);
        expect(await count(server, "leads", server.tenantId)).toBe(1);
        expect(await count(server, "identity_links", server.tenantId)).toBe(1);
        expect(await count(server, "lead_merges", server.tenantId)).toBe(0);
        expect(await count(server, "leads", other.tenantId)).toBe(3);
        const lead = await cli(["lead", "show", "--tenant", server.tenantId, "u-a"], storeEnv(server.dbPath));
        expect(lead.code).toBe(1);

        // The receipt reads back; a repeat is harmless and finds nothing left.
        expect(await admin.json("GET", `/v1/privacy/deletions/${receipt.deletionId}`)).toEqual(receipt);
        const again = await admin.json("POST", "/v1/privacy/deletions", { subject });
        expect(again).toMatchObject({ nothingLeft: true, deleted: { events: 0, sessions: 0, visitors: 0, leads: 0 } });
        expect(again.deletionId).not.toBe(receipt.deletionId);
        const audit = JSON.parse((await cli(["privacy", "deletions", "--tenant", server.tenantId], storeEnv(server.dbPath))).stdout);
        expect(audit.map((d: { deletionId: string }) => d.deletionId)).toEqual([again.deletionId, receipt.deletionId]);
        expect(audit[1]).toMatchObject({ subjectKinds: Object.keys(subject)[0], deleted: receipt.deleted });

        // The person's next event starts afresh: nothing cached comes back.
        await ok(server.track({ messageId: "t1-after", anonymousId: "anon-a1", event: "New start", timestamp: at(Date.now()) }));
        expect(await server.sessionsWritten()).toBe(true);
        const [fresh] = await storeRows(
          server.dbPath,
          "SELECT v.id AS visitor, e.session_id AS session, e.lead_id AS lead FROM events e JOIN visitors v ON v.id = e.visitor_id WHERE e.message_id = 't1-after'",
        );
        expect(fresh).toBeDefined();
        expect(fresh!.lead).toBeNull();
        expect(await storeRows(server.dbPath, "SELECT event_count AS n FROM sessions WHERE id = ?", fresh!.session)).toEqual([{ n: 1 }]);
      } finally {
        await server.stop();
      }
    });
  }

  test("the server's caches forget what was erased: the same device right after gets a new visitor and session, counted from one", async () => {
    const server = await startTestServer();
    try {
      const base = Date.now() - HOUR;
      for (const [i, offset] of [0, 10_000].entries()) {
        await ok(server.track({ messageId: `cache-${i}`, anonymousId: "anon-c1", event: "Viewed", timestamp: at(base + offset) }));
      }
      const [before] = await storeRows(server.dbPath, 'SELECT visitor_id AS "visitorId", session_id AS "sessionId" FROM events WHERE message_id = \'cache-1\'');
      const receipt = await api(server, await adminKey(server)).json("POST", "/v1/privacy/deletions", { subject: { anonymousId: "anon-c1" } });
      expect(receipt.deleted).toEqual({ events: 2, sessions: 1, visitors: 1, leads: 0 });
      // Within a minute of the erased events: a cached visitor or session would be taken as is.
      await ok(server.track({ messageId: "cache-2", anonymousId: "anon-c1", event: "Viewed", timestamp: at(base + 20_000) }));
      expect(await server.sessionsWritten()).toBe(true);
      const after = await storeRows(
        server.dbPath,
        'SELECT visitor_id AS "visitorId", session_id AS "sessionId" FROM events WHERE tenant_id = ?',
        server.tenantId,
      );
      expect(after).toHaveLength(1);
      expect(after[0]!.visitorId).not.toBe(before!.visitorId);
      expect(after[0]!.sessionId).not.toBe(before!.sessionId);
      expect(await storeRows(server.dbPath, "SELECT id FROM visitors WHERE tenant_id = ?", server.tenantId)).toEqual([{ id: after[0]!.visitorId }]);
      expect(await storeRows(server.dbPath, "SELECT id, event_count AS events FROM sessions WHERE tenant_id = ?", server.tenantId)).toEqual([
        { id: after[0]!.sessionId, events: 1 },
      ]);
    } finally {
      await server.stop();
    }
  });

  test("a shared device: the erased person's session is forgotten by the session cache while the device, now someone else's, stays", async () => {
    const server = await startTestServer();
    try {
      const base = Date.now() - HOUR;
      await ok(server.track({ messageId: "shared-0", anonymousId: "shared", event: "Viewed", timestamp: at(base) }));
      await ok(server.post("/v1/events/identify", { messageId: "shared-1", anonymousId: "shared", userId: "u-a", timestamp: at(base + 10_000) }));
      await ok(server.post("/v1/events/identify", { messageId: "shared-2", anonymousId: "shared", userId: "u-b", timestamp: at(base + 20_000) }));
      const [erased] = await storeRows(server.dbPath, "SELECT session_id AS id FROM events WHERE message_id = 'shared-0'");
      const receipt = await api(server, await adminKey(server)).json("POST", "/v1/privacy/deletions", { subject: { userId: "u-a" } });
      expect(receipt.deleted.sessions).toBe(1);
      expect(receipt.deleted.visitors).toBe(0); // the device is u-b's now
      await ok(server.track({ messageId: "shared-3", anonymousId: "shared", event: "Viewed", timestamp: at(base + 30_000) }));
      expect(await server.sessionsWritten()).toBe(true);
      const [next] = await storeRows(server.dbPath, "SELECT session_id AS id FROM events WHERE message_id = 'shared-3'");
      expect(next!.id).not.toBe(erased!.id);
      expect(await storeRows(server.dbPath, "SELECT count(*) AS n FROM sessions WHERE id = ?", next!.id)).toEqual([{ n: 1 }]);
    } finally {
      await server.stop();
    }
  });

  test("only an admin key of the tenant: write keys get 403, another tenant's admin key sees no receipt", async () => {
    const server = await startTestServer();
    try {
      const other = await server.tenant("other");
      await sendPersonB(server, server.writeKey, "w", Date.now() - HOUR);
      const byWriteKey = await api(server, server.writeKey).call("POST", "/v1/privacy/deletions", { subject: { userId: "u-b" } });
      expect(byWriteKey.status).toBe(403);
      expect((await byWriteKey.json()).error.code).toBe("forbidden");
      expect((await api(server, "ak_nope").call("GET", "/v1/privacy/suppressions")).status).toBe(401);
      const admin = api(server, await adminKey(server));
      const receipt = await admin.json("POST", "/v1/privacy/deletions", { subject: { userId: "u-b" } });
      expect(receipt.deleted.events).toBe(3);
      expect(receipt.requestedBy.keyPrefix).toStartWith("ak_");
      const foreign = api(server, await adminKey(server, other.tenantId));
      expect((await foreign.call("GET", `/v1/privacy/deletions/${receipt.deletionId}`)).status).toBe(404);
      const bad = await admin.call("POST", "/v1/privacy/deletions", { subject: {} });
      expect(bad.status).toBe(400);
      expect((await bad.json()).error.code).toBe("invalid_request");
      // The audit keeps the key and a hash, never the subject.
      const audit = await storeRows(server.dbPath, "SELECT * FROM privacy_deletions");
      expect(audit).toHaveLength(1);
      expect(audit[0]!.subject_hash).toMatch(/^[0-9a-f]{64}$/);
      expect(JSON.stringify(audit)).not.toContain("u-b");
    } finally {
      await server.stop();
    }
  });

  test.skipIf(SQLITE_FILES_ONLY)("nothing is left in the files: the bytes of the email and userId appear nowhere in the db and -wal files", async () => {
    const server = await startTestServer();
    try {
      const email = "zq.erase-me-7781@example.org";
      const userId = "uid-zq-erase-7781";
      const base = Date.now() - 3 * HOUR;
      for (let i = 0; i < 30; i++) {
        await ok(
          server.track({
            messageId: `o-${i}`,
            anonymousId: `other-${i % 5}`,
            event: "Viewed",
            timestamp: at(base + i * 1000),
            properties: { padding: "x".repeat(200) },
          }),
        );
      }
      await ok(server.post("/v1/events/identify", { anonymousId: "anon-zq", userId, traits: { email, name: "Zed" }, timestamp: at(base) }));
      for (let i = 0; i < 40; i++) {
        await ok(
          server.track({
            anonymousId: "anon-zq",
            userId,
            event: "Viewed",
            timestamp: at(base + i * 60_000),
            context: { traits: { email } },
            properties: { who: userId },
          }),
        );
      }
      await ok(
        server.post("/v1/events/batch", { batch: Array.from({ length: 20 }, (_, i) => ({ type: "track", event: "Batch", userId, timestamp: at(base + i) })) }),
      );
      expect(await server.sessionsWritten()).toBe(true);
      expect(inDbFiles(server, userId)).toBe(true); // the test can fail: the bytes are there before
      await eraseLeavingNoBytes(server, { email }, { events: 61, gone: [email, userId, "anon-zq"], kept: "other-3" });
    } finally {
      await server.stop();
    }
  });

  test.skipIf(SQLITE_FILES_ONLY)(
    "a WAL file of many megabytes, the person's events at its end: cut in steps, then to zero; their bytes appear nowhere",
    async () => {
      const server = await startTestServer();
      try {
        const email = "zq.tail-8842@example.org";
        const userId = "uid-zq-tail-8842";
        const base = Date.now() - 3 * HOUR;
        // Other people's events first: megabytes of WAL ahead of the person's frames.
        for (let b = 0; b < 30; b++) {
          const batch = Array.from({ length: 100 }, (_, i) => ({
            type: "track",
            event: "Viewed",
            anonymousId: `pad-${i % 20}`,
            timestamp: at(base + (b * 100 + i) * 1000),
            properties: { padding: "x".repeat(3000) },
          }));
          await ok(server.post("/v1/events/batch", { batch }));
        }
        await ok(server.post("/v1/events/identify", { anonymousId: "anon-zq-tail", userId, traits: { email }, timestamp: at(base) }));
        await ok(
          server.post("/v1/events/batch", {
            batch: Array.from({ length: 50 }, (_, i) => ({ type: "track", event: "Viewed", userId, context: { traits: { email } }, timestamp: at(base + i) })),
          }),
        );
        const wal = `${server.dbPath}-wal`;
        // More than two truncation steps (4 MiB each) of WAL: the steps are what is tested.
        expect(statSync(wal).size).toBeGreaterThan(8 * 2 ** 20);
        expect(inDbFiles(server, userId)).toBe(true);
        await eraseLeavingNoBytes(server, { userId }, { events: 51, gone: [email, userId, "anon-zq-tail"], kept: "pad-7" });
      } finally {
        await server.stop();
      }
    },
  );

  test("a deletion while ingestion runs loses no acknowledged event of anyone else", async () => {
    const server = await startTestServer();
    try {
      const base = Date.now() - 10 * HOUR;
      // The person: 8,000 events (more than one scan step), over one visitor.
      for (let b = 0; b < 4; b++) {
        const batch = Array.from({ length: 2000 }, (_, i) => ({
          type: "track",
          event: "Viewed",
          anonymousId: "busy-person",
          userId: "u-busy",
          timestamp: at(base + (b * 2000 + i) * 1000),
        }));
        const result = await ok(server.post("/v1/events/batch", { batch }));
        expect(result.results.every((r: { status: string }) => r.status === "accepted")).toBe(true);
      }
      let stop = false;
      const acknowledged: string[] = [];
      const writers = Array.from({ length: 8 }, async (_, w) => {
        for (let n = 0; !stop; n++) {
          const batch = Array.from({ length: 20 }, (_, i) => ({
            type: "track",
            event: "Live",
            anonymousId: `live-${w}-${i % 4}`,
            messageId: `live-${w}-${n}-${i}`,
            timestamp: at(Date.now() - 1000),
          }));
          const response = await server.post("/v1/events/batch", { batch });
          if (response.status === 200) {
            const body = await response.json();
            for (const result of body.results as { status: string; messageId: string }[]) if (result.status === "accepted") acknowledged.push(result.messageId);
          } else await response.text();
        }
      });
      // Ingestion is running before the deletion starts.
      while (acknowledged.length < 200) await Bun.sleep(5);
      const receipt = await api(server, await adminKey(server)).json("POST", "/v1/privacy/deletions", { subject: { userId: "u-busy" } });
      stop = true;
      await Promise.all(writers);
      expect(receipt.deleted).toEqual({ events: 8000, sessions: expect.any(Number), visitors: 1, leads: 0 });
      const stored = new Set((await storeRows(server.dbPath, "SELECT message_id AS id FROM events WHERE message_id LIKE 'live-%'")).map((r) => r.id));
      expect(acknowledged.length).toBeGreaterThan(200);
      expect(acknowledged.filter((id) => !stored.has(id))).toEqual([]);
      expect(await storeRows(server.dbPath, "SELECT count(*) AS n FROM events WHERE user_id = 'u-busy' OR anonymous_id = 'busy-person'")).toEqual([{ n: 0 }]);
    } finally {
      await server.stop();
    }
  });
});

describe("suppression", () => {
  let dir: string;
  let store: Awaited<ReturnType<typeof testStore>>;
  let running: RunningServer;
  let url: string;
  let tenantId: string;
  let writeKey: string;
  let admin: ReturnType<typeof api>;
  const start = async () => {
    running = await startServer(loadConfig({ PORT: "0", HOST: "127.0.0.1", ...store.env, INLET_DEMO: "false", LOG_LEVEL: "silent" }));
    url = `http://127.0.0.1:${running.port}`;
  };
  const post = (path: string, body: unknown) =>
    fetch(url + path, { method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${writeKey}` }, body: JSON.stringify(body) });
  const events = async () => (await storeRows(store.path, "SELECT count(*) AS n FROM events"))[0]!.n as number;

  beforeAll(async () => {
    dir = tempDir("inlet-suppress-");
    store = await testStore(dir, "suppress");
    await start();
    ({ tenantId, key: writeKey } = await running.services.tenants.createTenant("s"));
    admin = api(
      {
        get url() {
          return url;
        },
      },
      (await running.services.tenants.createKey(tenantId, "admin")).key,
    );
    await ok(post("/v1/events/identify", { anonymousId: "anon-s1", userId: "u-s", traits: { email: "s@example.com" } }));
    await ok(post("/v1/events/identify", { anonymousId: "anon-s2", userId: "u-s" }));
  });
  afterAll(async () => {
    await running.stop();
    await store.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  test("after a deletion with suppress, every endpoint answers `suppressed` and stores nothing; it survives a restart; lifting it stores again", async () => {
    const receipt = await admin.json("POST", "/v1/privacy/deletions", { subject: { userId: "u-s" }, suppress: true });
    expect(receipt.deleted.events).toBe(2);
    expect(receipt.suppressionId).toBeString();
    expect(await events()).toBe(0);

    const check = async () => {
      const singles: [string, Record<string, unknown>][] = [];
      for (const prefix of ["/v1/events", "/v1"]) {
        singles.push(
          [`${prefix}/track`, { userId: "u-s", event: "E" }],
          [`${prefix}/track`, { anonymousId: "anon-s2", event: "E" }],
          [`${prefix}/page`, { anonymousId: "anon-s1" }],
          [`${prefix}/screen`, { userId: "u-s" }],
          [`${prefix}/identify`, { anonymousId: "someone-new", traits: { email: "S@example.com" } }],
          [`${prefix}/group`, { userId: "u-s", groupId: "g" }],
          [`${prefix}/alias`, { userId: "u-new", previousId: "anon-s1" }],
        );
      }
      singles.push(
        ["/t", { userId: "u-s", event: "E" }],
        ["/i", { userId: "u-s" }],
        ["/p", { anonymousId: "anon-s1" }],
        ["/s", { anonymousId: "anon-s1" }],
        ["/g", { userId: "u-s", groupId: "g" }],
        ["/a", { userId: "u-s", previousId: "x" }],
      );
      for (const [path, body] of singles) {
        const answer = await ok(post(path, body));
        expect({ path, status: answer.status }).toEqual({ path, status: "suppressed" });
      }
      for (const path of ["/v1/events/batch", "/v1/batch", "/v1/import", "/b"]) {
        const answer = await ok(
          post(path, {
            batch: [
              { type: "track", event: "E", userId: "u-s" },
              { type: "track", event: "E", anonymousId: "someone-else" },
              { type: "identify", anonymousId: "x2", traits: { email: "s@example.com" } },
            ],
          }),
        );
        expect(answer.results.map((r: { status: string }) => r.status)).toEqual(["suppressed", "accepted", "suppressed"]);
      }
      expect(
        await storeRows(store.path, "SELECT count(*) AS n FROM events WHERE user_id = 'u-s' OR anonymous_id IN ('anon-s1', 'anon-s2', 'x2', 'someone-new')"),
      ).toEqual([{ n: 0 }]);
      expect(await storeRows(store.path, "SELECT count(*) AS n FROM visitors WHERE key IN ('anon-s1', 'anon-s2', 'user:u-s', 'x2', 'someone-new')")).toEqual([
        { n: 0 },
      ]);
      expect(await storeRows(store.path, "SELECT count(*) AS n FROM leads")).toEqual([{ n: 0 }]);
    };
    await check();
    // Kept in the database and loaded at start.
    await running.stop();
    await start();
    await check();
    const listed = await admin.json("GET", "/v1/privacy/suppressions");
    expect(listed.suppressions).toHaveLength(1);
    expect(listed.suppressions[0]).toMatchObject({ suppressionId: receipt.suppressionId, identifiers: expect.any(Number) });
    expect(JSON.stringify(listed)).not.toContain("u-s");
    expect((await admin.call("DELETE", "/v1/privacy/suppressions/nope")).status).toBe(404);
    expect(await admin.json("DELETE", `/v1/privacy/suppressions/${receipt.suppressionId}`)).toEqual({ lifted: true, suppressionId: receipt.suppressionId });
    expect((await ok(post("/v1/events/track", { userId: "u-s", event: "Back" }))).status).toBe("accepted");
    expect((await admin.json("GET", "/v1/privacy/suppressions")).suppressions).toEqual([]);
  });

  test("suppress without deleting: the person's stored events stay, new ones are refused", async () => {
    await ok(post("/v1/events/identify", { anonymousId: "anon-k", userId: "u-keep", traits: { email: "k@example.com" } }));
    const before = await events();
    const suppression = await admin.json("POST", "/v1/privacy/suppressions", { subject: { email: "k@example.com" } });
    expect(suppression.identifiers).toBe(3); // email, userId, anonymousId
    expect((await ok(post("/v1/events/track", { anonymousId: "anon-k", event: "E" }))).status).toBe("suppressed");
    expect(await events()).toBe(before);
  });
});

describe("retention", () => {
  test("events older than the tenant's retention go, with the sessions, visitors and leads left without events; space is given back (SQLite)", async () => {
    const server = await startTestServer();
    try {
      const other = await server.tenant("forever");
      const now = Date.now();
      const old = now - 10 * 24 * HOUR;
      const importOld = (key: string, tag: string) =>
        ok(
          server.post(
            "/v1/import",
            {
              batch: [
                ...Array.from({ length: 300 }, (_, i) => ({
                  type: "track",
                  event: "Old",
                  anonymousId: `old-${i % 10}`,
                  messageId: `${tag}-o${i}`,
                  timestamp: at(old + i * 1000),
                  properties: { pad: "p".repeat(500) },
                })),
                { type: "identify", anonymousId: "old-1", userId: "u-old", messageId: `${tag}-oi`, timestamp: at(old + 400_000) },
                { type: "track", event: "Recent", anonymousId: "new-1", messageId: `${tag}-n1`, timestamp: at(now - HOUR) },
                { type: "identify", anonymousId: "new-1", userId: "u-new", messageId: `${tag}-ni`, timestamp: at(now - HOUR) },
              ],
            },
            { key },
          ),
        );
      await importOld(server.writeKey, "r");
      await importOld(other.writeKey, "f");
      expect(await server.sessionsWritten()).toBe(true);
      // 30 days: nothing is old enough today ...
      const env = storeEnv(server.dbPath);
      const setRetention = await cli(["tenant", "set", server.tenantId, "--retention-days", "30"], env);
      expect(setRetention.code).toBe(0);
      expect(JSON.parse(setRetention.stdout).settings.retentionDays).toBe(30);
      const { retention } = server.running.services;
      const today = await retention.run(now);
      expect(today.tenants).toEqual([expect.objectContaining({ tenantId: server.tenantId, deleted: { events: 0, sessions: 0, visitors: 0, leads: 0 } })]);
      // ... 25 days from now (an injected clock), the 10-day-old events are 35 days old.
      const later = await retention.run(now + 25 * 24 * HOUR);
      expect(later.tenants[0]!.deleted).toEqual({ events: 301, sessions: 10, visitors: 10, leads: 1 });
      // The file's freed pages are given back (on PostgreSQL, VACUUM's work: docs/privacy.md).
      if (TEST_STORE === "sqlite") {
        expect(later.pagesFreed).toBeGreaterThan(0);
        expect(server.running.services.sqlite!.database.sqlite.query("PRAGMA freelist_count").get()).toEqual({ freelist_count: 0 });
      }
      const left = await exportEvents(server.dbPath, server.tenantId);
      expect(left.map((e) => e.messageId).sort()).toEqual(["r-n1", "r-ni"]);
      expect((await exportEvents(server.dbPath, other.tenantId)).length).toBe(303);
      expect(await storeRows(server.dbPath, "SELECT user_id AS u FROM leads WHERE tenant_id = ?", server.tenantId)).toEqual([{ u: "u-new" }]);
      expect(await count(server, "visitors", server.tenantId)).toBe(1);
      const metrics = await (await fetch(`${server.url}/metrics`)).text();
      expect(metrics).toContain(`inlet_retention_deleted_total{tenant="${server.tenantId}",kind="events"} 301`);
      // Run again from the command line: nothing left to delete.
      const again = await cli(["privacy", "retention"], env);
      expect(again.code).toBe(0);
      expect(JSON.parse(again.stdout).tenants).toEqual([
        expect.objectContaining({ tenantId: server.tenantId, retentionDays: 30, deleted: { events: 0, sessions: 0, visitors: 0, leads: 0 } }),
      ]);
      const forever = await cli(["tenant", "set", server.tenantId, "--retention-days", "forever"], env);
      expect(JSON.parse(forever.stdout).settings.retentionDays).toBeUndefined();
      const zero = await cli(["tenant", "set", server.tenantId, "--retention-days", "0"], env);
      expect(zero.code).toBe(1);
      expect(zero.stderr).toContain("--retention-days");
    } finally {
      await server.stop();
    }
  });
});

describe("the command line", () => {
  test("privacy delete, suppress, suppressions, lift, deletions, apply-ip-policy (of the tenant only); export of a deleted person returns nothing", async () => {
    const server = await startTestServer({ TRUST_PROXY: "127.0.0.1/32" });
    const env = storeEnv(server.dbPath);
    try {
      const other = await server.tenant("other");
      await sendPersonB(server, server.writeKey, "c", Date.now() - HOUR);
      for (const key of [server.writeKey, other.writeKey]) {
        await ok(server.track({ anonymousId: "ip-person", event: "E" }, { key, headers: { "x-forwarded-for": "203.0.113.77" } }));
      }
      await server.running.stop();
      const deleted = await cli(["privacy", "delete", "--tenant", server.tenantId, "--suppress", "b@example.com"], env);
      expect(deleted.code).toBe(0);
      const receipt = JSON.parse(deleted.stdout);
      expect(receipt).toMatchObject({ deleted: { events: 3, sessions: 1, visitors: 1, leads: 1 }, requestedBy: { keyId: null } });
      expect(receipt.suppressionId).toBeString();
      const exported = await exportEvents(server.dbPath, server.tenantId);
      expect(exported.map((e) => e.anonymousId)).toEqual(["ip-person"]);
      const list = await cli(["privacy", "suppressions", "--tenant", server.tenantId], env);
      const suppressions = JSON.parse(list.stdout);
      expect(suppressions.map((s: { suppressionId: string }) => s.suppressionId)).toEqual([receipt.suppressionId]);
      const audit = JSON.parse((await cli(["privacy", "deletions", "--tenant", server.tenantId], env)).stdout);
      expect(audit).toHaveLength(1);
      expect(audit[0].subjectHash).toMatch(/^[0-9a-f]{64}$/);
      const lift = await cli(["privacy", "lift", "--tenant", server.tenantId, receipt.suppressionId], env);
      expect({ code: lift.code, answer: JSON.parse(lift.stdout) }).toEqual({ code: 0, answer: { lifted: true, suppressionId: receipt.suppressionId } });
      expect(JSON.parse((await cli(["privacy", "suppressions", "--tenant", server.tenantId], env)).stdout)).toEqual([]);
      expect((await cli(["privacy", "suppress", "--tenant", server.tenantId, "u-b"], env)).code).toBe(0);

      expect(exported[0]!.context.ip).toBe("203.0.113.77");
      expect((await cli(["tenant", "set", server.tenantId, "--ip-policy", "anonymize"], env)).code).toBe(0);
      const applied = await cli(["privacy", "apply-ip-policy", "--tenant", server.tenantId], env);
      expect(JSON.parse(applied.stdout)).toEqual({ tenantId: server.tenantId, policy: "anonymize", events: 1 });
      expect((await exportEvents(server.dbPath, server.tenantId))[0]!.context.ip).toBe("203.0.113.0");
      expect((await cli(["tenant", "set", server.tenantId, "--ip-policy", "drop"], env)).code).toBe(0);
      const dropped = await cli(["privacy", "apply-ip-policy", "--tenant", server.tenantId], env);
      expect(JSON.parse(dropped.stdout)).toEqual({ tenantId: server.tenantId, policy: "drop", events: 1 });
      expect((await exportEvents(server.dbPath, server.tenantId))[0]!.context.ip).toBeUndefined();
      expect((await exportEvents(server.dbPath, other.tenantId)).map((e) => e.context.ip)).toEqual(["203.0.113.77"]);
      const help = await cli(["--help"], env);
      expect(help.stdout).toContain("inlet privacy delete");
    } finally {
      await server.stop();
    }
  });
});
