/**
 * PostgreSQL faults under load, on a server of the test's own (test/helpers/private-postgres.ts):
 * - PostgreSQL restarted while calls arrive: calls get 503 with Retry-After while it is away,
 *   Inlet serves again without a restart, and every acknowledged event is stored;
 * - an instance killed with SIGKILL while calls arrive: every event it acknowledged is stored;
 * - a statement that cannot finish (a table locked by someone else) is a 503 after the
 *   statement timeout, not a hang.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { SQL } from "bun";
import { privatePostgresUnavailable, startPrivatePostgres, type PrivatePostgres } from "../helpers/private-postgres";
import { spawnServer, type ServerProcess } from "../helpers/process";
import { cli } from "../helpers/server";

const unavailable = privatePostgresUnavailable();
if (unavailable) console.warn(`skipping PostgreSQL fault tests: ${unavailable}`);

let pg: PrivatePostgres;
let databaseUrl: string;
let writeKey: string;

beforeAll(async () => {
  if (unavailable) return;
  pg = await startPrivatePostgres();
  const admin = new SQL({ url: pg.url, max: 1 });
  await admin`CREATE DATABASE inlet`;
  await admin.close();
  databaseUrl = pg.url.replace(/\/postgres$/, "/inlet");
  const created = await cli(["tenant", "create", "faults"], { DATABASE_URL: databaseUrl });
  expect(created.code).toBe(0);
  writeKey = JSON.parse(created.stdout).key;
}, 60_000);

afterAll(async () => {
  await pg?.destroy();
});

const serve = (env: Record<string, string> = {}) =>
  spawnServer({ DATABASE_URL: databaseUrl, INLET_DEMO: "false", PG_STATEMENT_TIMEOUT_MS: "2000", ...env }, 30_000);

interface Sent {
  acknowledged: string[];
  statuses: Map<number, number>;
  /** 503 answers without a Retry-After header. */
  withoutRetryAfter: number;
}

/** Sends track calls from `senders` loops until `until` resolves; every call's status is kept, and the messageIds answered 200. */
async function sendUntil(url: () => string, until: Promise<unknown>, prefix: string, senders = 8): Promise<Sent> {
  const sent: Sent = { acknowledged: [], statuses: new Map(), withoutRetryAfter: 0 };
  let done = false;
  void until.then(() => {
    done = true;
  });
  let n = 0;
  const loop = async () => {
    while (!done) {
      const messageId = `${prefix}-${n++}`;
      let status = 0;
      try {
        const res = await fetch(`${url()}/v1/track`, {
          method: "POST",
          headers: { "content-type": "application/json", authorization: `Bearer ${writeKey}` },
          body: JSON.stringify({ event: "Under fault", anonymousId: `v-${n % 50}`, messageId }),
          signal: AbortSignal.timeout(20_000),
        });
        status = res.status;
        if (status === 503 && !res.headers.get("retry-after")) sent.withoutRetryAfter++;
        await res.arrayBuffer();
      } catch {
        status = -1; // connection refused or reset (a killed instance)
      }
      sent.statuses.set(status, (sent.statuses.get(status) ?? 0) + 1);
      if (status === 200) sent.acknowledged.push(messageId);
      else await Bun.sleep(20);
    }
  };
  await Promise.all(Array.from({ length: senders }, loop));
  return sent;
}

async function storedIds(prefix: string): Promise<Set<string>> {
  const sql = new SQL({ url: databaseUrl, max: 1 });
  try {
    const rows = await sql`SELECT message_id FROM events WHERE message_id LIKE ${`${prefix}-%`}`;
    return new Set(rows.map((r: { message_id: string }) => r.message_id));
  } finally {
    await sql.close();
  }
}

/** Resolves once a track call is answered 200 again (at most `ms`). */
async function servingAgain(url: string, ms = 60_000): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const res = await fetch(`${url}/v1/track`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${writeKey}` },
      body: JSON.stringify({ event: "Probe", anonymousId: "probe" }),
    }).catch(() => null);
    if (res?.status === 200) return true;
    await Bun.sleep(100);
  }
  return false;
}

describe.skipIf(unavailable !== null)("PostgreSQL faults", () => {
  test("PostgreSQL restarted under load: 503 with Retry-After meanwhile, served again without a restart, nothing acknowledged lost", async () => {
    const server = await serve();
    try {
      const fault = (async () => {
        await Bun.sleep(500);
        await pg.stop("fast");
        await Bun.sleep(1_500);
        await pg.start();
        expect(await servingAgain(server.url)).toBe(true);
        await Bun.sleep(500);
      })();
      const sent = await sendUntil(() => server.url, fault, "restart");
      expect(sent.statuses.get(503) ?? 0).toBeGreaterThan(0);
      expect(sent.withoutRetryAfter).toBe(0);
      expect([...sent.statuses.keys()].sort()).toEqual([200, 503]);
      const stored = await storedIds("restart");
      expect(sent.acknowledged.filter((id) => !stored.has(id))).toEqual([]);
      // The instance answers /ready again by itself.
      expect((await fetch(`${server.url}/ready`)).status).toBe(200);
    } finally {
      server.proc.kill();
      await server.proc.exited;
    }
  }, 120_000);

  test("an instance killed with SIGKILL under load: everything it acknowledged is stored", async () => {
    const servers: ServerProcess[] = [await serve(), await serve()];
    try {
      let calls = 0;
      const kill = (async () => {
        await Bun.sleep(1_000);
        servers[0]!.proc.kill("SIGKILL");
        await servers[0]!.proc.exited;
        await Bun.sleep(500);
      })();
      // Round robin over both; the killed one's calls fail from then on.
      const sent = await sendUntil(() => servers[calls++ % 2]!.url, kill, "sigkill");
      expect(sent.acknowledged.length).toBeGreaterThan(0);
      const stored = await storedIds("sigkill");
      expect(sent.acknowledged.filter((id) => !stored.has(id))).toEqual([]);
    } finally {
      for (const s of servers) s.proc.kill();
      await Promise.all(servers.map((s) => s.proc.exited));
    }
  }, 120_000);

  test("a statement that cannot finish is answered 503 with Retry-After after the statement timeout, not left hanging", async () => {
    const server = await serve({ PG_STATEMENT_TIMEOUT_MS: "300" });
    const blocker = new SQL({ url: databaseUrl, max: 1 });
    try {
      const held = await blocker.reserve();
      await held`BEGIN`;
      await held`LOCK TABLE events IN ACCESS EXCLUSIVE MODE`;
      const res = await fetch(`${server.url}/v1/track`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${writeKey}` },
        body: JSON.stringify({ event: "Blocked", anonymousId: "blocked" }),
        signal: AbortSignal.timeout(10_000),
      });
      expect(res.status).toBe(503);
      expect(res.headers.get("retry-after")).not.toBeNull();
      expect((await res.json()).error.code).toBe("unavailable");
      await held`ROLLBACK`;
      held.release();
      expect(await servingAgain(server.url, 10_000)).toBe(true);
    } finally {
      await blocker.close();
      server.proc.kill();
      await server.proc.exited;
    }
  }, 60_000);
});
