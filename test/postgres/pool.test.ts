/**
 * A full connection pool is "busy, retry shortly", not a hang: an instance with a pool of two
 * connections, both held by reads that wait on a table another session has locked and more reads
 * queued behind them. Every request — the read API, a track call whose commit needs a connection,
 * a track call with a key not yet cached (its lookup needs one too) — is answered 503 with
 * Retry-After within the timeout (PG_STATEMENT_TIMEOUT_MS), and the instance serves again once the
 * lock is gone, without a restart. An erasure that cannot finish is a 503 too.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { SQL } from "bun";
import { createTestDatabase, type TestDatabase } from "../helpers/postgres";
import { spawnServer, type ServerProcess } from "../helpers/process";
import { cliJson } from "../helpers/server";

const TIMEOUT_MS = 500;
/** More reads than connections: those queued keep the pool busy for several timeouts after the first answers. */
const READS = 20;

let pg: TestDatabase;
let server: ServerProcess;
const keys = { tenantId: "", write: "", unused: "", admin: "" };

const pgCli = (args: string[]) => cliJson(args, { DATABASE_URL: pg.url });

beforeAll(async () => {
  pg = await createTestDatabase("pool");
  const tenant = await pgCli(["tenant", "create", "pool"]);
  keys.tenantId = tenant.tenantId;
  keys.write = tenant.key;
  keys.unused = (await pgCli(["key", "create", "--tenant", tenant.tenantId])).key;
  keys.admin = (await pgCli(["key", "create", "--tenant", tenant.tenantId, "--admin"])).key;
  server = await spawnServer({ DATABASE_URL: pg.url, INLET_DEMO: "false", PG_POOL_SIZE: "2", PG_STATEMENT_TIMEOUT_MS: String(TIMEOUT_MS) }, 30_000);
}, 60_000);

afterAll(async () => {
  server?.proc.kill();
  await server?.proc.exited;
  await pg?.drop();
});

const track = (key: string, anonymousId: string) =>
  fetch(`${server.url}/v1/track`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${key}` },
    body: JSON.stringify({ event: "Pool", anonymousId }),
    signal: AbortSignal.timeout(10_000),
  });

const readEvents = (anonymousId: string) =>
  fetch(`${server.url}/v1/events?limit=1&anonymousId=${anonymousId}`, {
    headers: { authorization: `Bearer ${keys.admin}` },
    signal: AbortSignal.timeout(10_000),
  });

/** Status, Retry-After and error of an answer. */
async function answer(res: Response) {
  const body = (await res.json()) as { error?: { code: string; message: string } };
  return { status: res.status, retryAfter: res.headers.get("retry-after"), code: body.error?.code, message: body.error?.message };
}

describe("a full connection pool", () => {
  test("reads, commits and key lookups are answered 503 with Retry-After, and the instance serves again when it frees", async () => {
    // The write and admin keys are looked up (and cached) before: the track call below waits for its commit's connection.
    expect((await track(keys.write, "warm")).status).toBe(200);
    expect((await readEvents("warm")).status).toBe(200);

    const blocker = new SQL({ url: pg.url, max: 2 });
    const held = await blocker.reserve();
    try {
      await held`BEGIN`;
      await held`LOCK TABLE events IN ACCESS EXCLUSIVE MODE`;
      const reads = Array.from({ length: READS }, (_, i) => readEvents(`r-${i}`).then(answer));
      // Both of the instance's connections are waiting on the lock (the other reads queue behind them).
      for (let waiting = 0; waiting < 2; ) {
        const [row] =
          await blocker`SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = ${pg.name} AND application_name = 'inlet' AND wait_event_type = 'Lock'`;
        waiting = row.n;
      }
      const [tracked, unknownKey] = await Promise.all([track(keys.write, "blocked").then(answer), track(keys.unused, "blocked-2").then(answer)]);

      expect(tracked).toMatchObject({ status: 503, code: "unavailable" });
      expect(tracked.message).toContain("Waiting for a database connection");
      expect(tracked.retryAfter).not.toBeNull();
      // Its key lookup ran before the body was read: still a 503, not a bad request.
      expect(unknownKey).toMatchObject({ status: 503, code: "unavailable" });
      expect(unknownKey.retryAfter).not.toBeNull();
      for (const read of await Promise.all(reads)) {
        expect(read).toMatchObject({ status: 503, code: "unavailable" });
        expect(read.retryAfter).not.toBeNull();
      }
    } finally {
      await held`ROLLBACK`;
      held.release();
      await blocker.close();
    }

    // Served again by itself: the queued reads drain within their timeouts.
    let status = 0;
    for (const deadline = Date.now() + 20_000; status !== 200 && Date.now() < deadline; ) {
      status = (await track(keys.unused, "after")).status;
      if (status !== 200) await Bun.sleep(100);
    }
    expect(status).toBe(200);
    expect((await readEvents("after")).status).toBe(200);
  }, 60_000);

  test("an erasure that cannot finish within the statement timeout is a 503 with Retry-After, not an internal error", async () => {
    expect((await track(keys.write, "erased-later")).status).toBe(200);
    const blocker = new SQL({ url: pg.url, max: 1 });
    const held = await blocker.reserve();
    try {
      await held`BEGIN`;
      await held`LOCK TABLE events IN ACCESS EXCLUSIVE MODE`;
      const res = await fetch(`${server.url}/v1/privacy/deletions`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${keys.admin}` },
        body: JSON.stringify({ subject: { anonymousId: "erased-later" } }),
        signal: AbortSignal.timeout(20_000),
      });
      expect(await answer(res)).toMatchObject({ status: 503, code: "unavailable", retryAfter: expect.any(String) });
    } finally {
      await held`ROLLBACK`;
      held.release();
      await blocker.close();
    }
  }, 60_000);
});
