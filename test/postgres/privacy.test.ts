/**
 * Erasure and suppression on PostgreSQL (docs/privacy.md) across instances: two spawned instances
 * share one database; a person whose events went through both is erased through one, with
 * everything identity resolution links to them, nobody else touched, and the receipt reads back on
 * the other; a suppression made through one instance or the command line is honoured by the others
 * (the change feed), for single calls and batches. What one server does on either store (erasure by
 * each kind of subject, suppression, retention, the command line) is test/privacy.test.ts's.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { SQL } from "bun";
import { spawnServer, type ServerProcess } from "../helpers/process";
import { createTestDatabase, type TestDatabase } from "../helpers/postgres";
import { cli, cliJson, ndjson } from "../helpers/server";

const HOUR = 3_600_000;
const at = (ms: number) => new Date(ms).toISOString();

let pg: TestDatabase;
let sql: SQL;
let a: ServerProcess;
let b: ServerProcess;

const pgCli = (args: string[]) => cliJson(args, { DATABASE_URL: pg.url });

interface Tenant {
  tenantId: string;
  write: string;
  server: string;
  admin: string;
}

async function tenant(name: string): Promise<Tenant> {
  const created = await pgCli(["tenant", "create", name]);
  const key = async (kind: string) => (await pgCli(["key", "create", "--tenant", created.tenantId, `--${kind}`])).key as string;
  return { tenantId: created.tenantId, write: created.key, server: await key("server"), admin: await key("admin") };
}

async function call(instance: ServerProcess, key: string, method: string, path: string, body?: unknown): Promise<any> {
  const response = await fetch(instance.url + path, {
    method,
    headers: { "content-type": "application/json", authorization: `Bearer ${key}` },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  if (response.status !== 200) throw new Error(`${method} ${path}: ${response.status} ${text}`);
  return JSON.parse(text);
}

/**
 * Person A: two leads merged into one (same email), three visitors (one linked by alias), events
 * across four sessions: 9 events, sent to both instances in turn. Answers the messageIds.
 */
async function sendPersonA(key: string, tag: string, base: number): Promise<string[]> {
  const ids: string[] = [];
  const post = async (path: string, body: Record<string, unknown>) => {
    const messageId = `${tag}-${ids.length}`;
    ids.push(messageId);
    await call(ids.length % 2 === 0 ? a : b, key, "POST", path, { messageId, ...body });
  };
  await post("/v1/track", { anonymousId: "anon-a1", event: "Viewed", timestamp: at(base), properties: { note: "first" } });
  await post("/v1/track", { anonymousId: "anon-a1", event: "Viewed", timestamp: at(base + 60_000) });
  await post("/v1/identify", { anonymousId: "anon-a1", userId: "u-a", traits: { email: "A@Example.com", name: "Ada" }, timestamp: at(base + 120_000) });
  await post("/v1/track", { anonymousId: "anon-a1", event: "Came back", timestamp: at(base + 2 * HOUR) });
  await post("/v1/track", { anonymousId: "anon-a2", event: "Viewed", timestamp: at(base + 10 * 60_000) });
  await post("/v1/identify", { anonymousId: "anon-a2", userId: "u-a2", timestamp: at(base + 11 * 60_000) });
  await post("/v1/identify", { anonymousId: "anon-a2", userId: "u-a2", traits: { email: "a@example.com" }, timestamp: at(base + 12 * 60_000) });
  await post("/v1/page", { anonymousId: "anon-a3", name: "Home", timestamp: at(base + 20 * 60_000) });
  await post("/v1/alias", { anonymousId: "anon-a3", userId: "u-a", previousId: "anon-a3", timestamp: at(base + 21 * 60_000) });
  return ids;
}

async function sendPersonB(key: string, tag: string, base: number): Promise<string[]> {
  const ids = [`${tag}-b0`, `${tag}-b1`, `${tag}-b2`];
  await call(a, key, "POST", "/v1/track", { messageId: ids[0], anonymousId: "anon-b1", event: "Viewed", timestamp: at(base) });
  await call(b, key, "POST", "/v1/identify", {
    messageId: ids[1],
    anonymousId: "anon-b1",
    userId: "u-b",
    traits: { email: "b@example.com" },
    timestamp: at(base + 60_000),
  });
  await call(a, key, "POST", "/v1/track", { messageId: ids[2], anonymousId: "anon-b1", event: "Bought", timestamp: at(base + 120_000) });
  return ids;
}

async function count(table: string, tenantId: string): Promise<number> {
  const [row] = await sql`SELECT count(*)::int AS n FROM ${sql(table)} WHERE tenant_id = ${tenantId}`;
  return row.n;
}

async function exported(tenantId: string): Promise<string[]> {
  const out = await cli(["export", "--tenant", tenantId], { DATABASE_URL: pg.url });
  if (out.code !== 0) throw new Error(`export: ${out.stderr}`);
  return ndjson(out.stdout)
    .map((e) => e.messageId as string)
    .sort();
}

beforeAll(async () => {
  pg = await createTestDatabase("privacy");
  await pgCli(["migrate"]);
  sql = new SQL({ url: pg.url, max: 2 });
  [a, b] = await Promise.all([0, 1].map(() => spawnServer({ DATABASE_URL: pg.url, INLET_DEMO: "false" }, 30_000)));
}, 60_000);

afterAll(async () => {
  // An instance that stopped on its own says why.
  for (const instance of [a, b]) if (instance?.proc.exitCode !== null) console.error(instance?.output());
  for (const instance of [a, b]) instance?.proc.kill();
  await Promise.all([a, b].map((i) => i?.proc.exited));
  await sql?.close();
  await pg?.drop();
});

describe("erasing a person on PostgreSQL", () => {
  test("sent through two instances, erased through one: the lead, the lead merged into it, three visitors and their events across sessions; nobody else", async () => {
    const subject = { email: "a@EXAMPLE.com" };
    const mine = await tenant("mine");
    const other = await tenant("other");
    const base = Date.now() - 5 * HOUR;
    const aIds = await sendPersonA(mine.server, "t1", base);
    const bIds = await sendPersonB(mine.write, "t1", base);
    // The other tenant: the very same ids and people.
    await sendPersonA(other.server, "t2", base);
    await sendPersonB(other.write, "t2", base);
    expect(await count("leads", mine.tenantId)).toBe(3);
    const otherBefore = await exported(other.tenantId);
    expect(otherBefore).toHaveLength(aIds.length + bIds.length);

    const receipt = await call(b, mine.admin, "POST", "/v1/privacy/deletions", { subject });
    expect(receipt).toMatchObject({ status: "completed", nothingLeft: false, suppressionId: null, walTruncated: false });
    expect(receipt.deleted).toEqual({ events: aIds.length, sessions: 4, visitors: 3, leads: 2 });
    expect(JSON.stringify(receipt)).not.toContain("example.com");

    // Only B is left in this tenant; the other tenant is untouched.
    expect(await exported(mine.tenantId)).toEqual([...bIds].sort());
    expect(await exported(other.tenantId)).toEqual(otherBefore);
    expect(await count("visitors", mine.tenantId)).toBe(1);
    expect(await count("sessions", mine.tenantId)).toBe(1);
    expect(await count("leads", mine.tenantId)).toBe(1);
    expect(await count("identity_links", mine.tenantId)).toBe(1);
    expect(await count("lead_merges", mine.tenantId)).toBe(0);
    expect(await count("leads", other.tenantId)).toBe(3);

    // The receipt reads back on either instance; a repeat there is harmless and finds nothing left.
    expect(await call(a, mine.admin, "GET", `/v1/privacy/deletions/${receipt.deletionId}`)).toEqual(receipt);
    const again = await call(a, mine.admin, "POST", "/v1/privacy/deletions", { subject });
    expect(again).toMatchObject({ nothingLeft: true, deleted: { events: 0, sessions: 0, visitors: 0, leads: 0 } });

    // The person's data can be sent again afterwards, through the other instance (nothing half left blocks it), and is stored.
    await call(a, mine.write, "POST", "/v1/track", { messageId: "t1-later", anonymousId: "anon-a1", event: "Back" });
    expect(await exported(mine.tenantId)).toEqual([...bIds, "t1-later"].sort());
  }, 60_000);
});

describe("suppression on PostgreSQL", () => {
  /** Polls until the instance answers `suppressed` for the call (the change feed delivers it; the bound only keeps a broken feed from hanging). */
  async function untilSuppressed(instance: ServerProcess, key: string, body: Record<string, unknown>): Promise<string> {
    const deadline = Date.now() + 10_000;
    let status = "";
    while (Date.now() < deadline) {
      status = (await call(instance, key, "POST", "/v1/track", { ...body, messageId: crypto.randomUUID() })).status;
      if (status === "suppressed") break;
    }
    return status;
  }

  test("made through one instance, honoured by the other for single calls and batches; nothing stored; lifted through the other", async () => {
    const mine = await tenant("suppress");
    // Known to both instances before: the write key is cached everywhere.
    await call(a, mine.write, "POST", "/v1/identify", { anonymousId: "anon-s1", userId: "u-s", traits: { email: "s@example.com" } });
    await call(b, mine.write, "POST", "/v1/track", { anonymousId: "anon-s1", event: "Before" });

    const suppression = await call(a, mine.admin, "POST", "/v1/privacy/suppressions", { subject: { userId: "u-s" } });
    expect(suppression.identifiers).toBe(3); // userId, email, anonymousId
    expect(await untilSuppressed(b, mine.write, { userId: "u-s", event: "E" })).toBe("suppressed");
    const before = await count("events", mine.tenantId);
    for (const instance of [a, b]) {
      for (const [path, body] of [
        ["/v1/track", { anonymousId: "anon-s1", event: "E" }],
        ["/v1/page", { anonymousId: "anon-s1" }],
        ["/v1/identify", { anonymousId: "someone-new", traits: { email: "S@example.com" } }],
        ["/v1/alias", { userId: "u-new", previousId: "anon-s1" }],
      ] as const) {
        expect({ path, status: (await call(instance, mine.write, "POST", path, body)).status }).toEqual({ path, status: "suppressed" });
      }
      const batch = await call(instance, mine.write, "POST", "/v1/batch", {
        batch: [
          { type: "track", event: "E", userId: "u-s" },
          { type: "track", event: "E", anonymousId: "someone-else" },
          { type: "identify", anonymousId: "x2", traits: { email: "s@example.com" } },
        ],
      });
      expect(batch.results.map((r: { status: string }) => r.status)).toEqual(["suppressed", "accepted", "suppressed"]);
    }
    // Nothing of the suppressed calls was stored: only the two accepted batch events.
    expect(await count("events", mine.tenantId)).toBe(before + 2);
    const [stored] = await sql`SELECT count(*)::int AS n FROM visitors WHERE tenant_id = ${mine.tenantId} AND key IN ('someone-new', 'x2', 'user:u-new')`;
    expect(stored.n).toBe(0);

    // Listed on either instance; lifted through B, A stores again.
    const listed = await call(b, mine.admin, "GET", "/v1/privacy/suppressions");
    expect(listed.suppressions.map((s: { suppressionId: string }) => s.suppressionId)).toEqual([suppression.suppressionId]);
    expect(await call(b, mine.admin, "DELETE", `/v1/privacy/suppressions/${suppression.suppressionId}`)).toEqual({
      lifted: true,
      suppressionId: suppression.suppressionId,
    });
    const deadline = Date.now() + 10_000;
    let status = "";
    while (Date.now() < deadline && status !== "accepted") {
      status = (await call(a, mine.write, "POST", "/v1/track", { userId: "u-s", event: "After", messageId: crypto.randomUUID() })).status;
    }
    expect(status).toBe("accepted");
  }, 60_000);

  test("made from the command line, heard by both running instances", async () => {
    const mine = await tenant("suppress-cli");
    await call(a, mine.write, "POST", "/v1/track", { userId: "u-c", event: "Before" });
    await call(b, mine.write, "POST", "/v1/track", { userId: "u-c", event: "Before" });
    await pgCli(["privacy", "suppress", "--tenant", mine.tenantId, "u-c"]);
    expect(await untilSuppressed(a, mine.write, { userId: "u-c", event: "E" })).toBe("suppressed");
    expect(await untilSuppressed(b, mine.write, { userId: "u-c", event: "E" })).toBe("suppressed");
  }, 60_000);
});
