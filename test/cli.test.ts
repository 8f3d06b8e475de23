/**
 * The real CLI and `inlet serve` as a user runs them, on the store of the run: a SQLite file in a
 * folder that does not exist yet, or with INLET_TEST_STORE=postgres a fresh PostgreSQL database
 * (DATABASE_URL). test/cli-stores.test.ts runs `migrate`, tenants and keys on both stores side by side.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { cli, exportEvents, TEST_STORE, tempDir, testStore } from "./helpers/server";
import { spawnServer } from "./helpers/process";
import { storeRows } from "./helpers/store-rows";

const dirs: string[] = [];
const drops: (() => Promise<void>)[] = [];
/** A new store: `path` (a file in a folder still to be made, or a PostgreSQL URL) and the environment naming it. */
const newStore = async () => {
  const dir = tempDir();
  dirs.push(dir);
  const store = await testStore(join(dir, "nested"), "cli");
  drops.push(store.drop);
  return store;
};
afterAll(async () => {
  for (const drop of drops) await drop();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe("starting the server", () => {
  test("first start on an empty database applies migrations, uses WAL (SQLite), and prints a demo key once", async () => {
    const store = await newStore();
    const first = await spawnServer(store.env);
    try {
      const ready = await fetch(`${first.url}/ready`);
      expect(ready.status).toBe(200);
      expect((await ready.json()).ready).toBe(true);
      const health = await fetch(`${first.url}/health`);
      expect(await health.json()).toEqual({ status: "ok" });
      const key = (await first.waitFor(/write key: (wk_[\w-]+)/))[1];
      expect(key).toBeDefined();
      const res = await fetch(`${first.url}/v1/events/track`, {
        method: "POST",
        headers: { authorization: `Bearer ${key}` },
        body: JSON.stringify({ event: "Hello", anonymousId: "a" }),
      });
      expect(res.status).toBe(200);
    } finally {
      first.proc.kill("SIGTERM");
      await first.proc.exited;
    }
    expect(first.proc.exitCode).toBe(0);

    if (TEST_STORE === "sqlite") {
      const sqlite = new Database(store.path, { readonly: true });
      expect((sqlite.query("PRAGMA journal_mode").get() as { journal_mode: string }).journal_mode).toBe("wal");
      sqlite.close();
    }
    expect(await storeRows(store.path, "SELECT count(*) AS n FROM events")).toEqual([{ n: 1 }]);

    const second = await spawnServer(store.env);
    second.proc.kill("SIGTERM");
    await second.proc.exited;
    expect(second.output()).not.toContain("write key:");
  });

  test("a bad setting stops it with a clear message", async () => {
    const { env } = await newStore();
    const result = await cli(["serve"], { PORT: "abc", ...env });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('PORT = "abc"');
    expect(result.stderr).toContain("whole number");
    const flag = await cli(["serve", "--session-timeout", "0"], env);
    expect(flag.code).toBe(2);
    expect(flag.stderr).toContain("--session-timeout");
  });

  test("a port already in use is a clear error, not a second server sharing it", async () => {
    const first = await spawnServer((await newStore()).env);
    try {
      const port = new URL(first.url).port;
      const store = await newStore();
      const second = await cli(["serve", "--port", port, "--host", "127.0.0.1"], store.env);
      expect(second.code).toBe(1);
      expect(second.stderr).toContain("port is in use");
      // Nothing half-started: no demo tenant in the database nobody serves.
      expect(await storeRows(store.path, "SELECT count(*) AS n FROM tenants")).toEqual([{ n: 0 }]);
    } finally {
      first.proc.kill("SIGTERM");
      await first.proc.exited;
    }
  });

  test("flags override the environment", async () => {
    // PORT and the store's setting are unusable here, but the flags replace them, so the server starts.
    const { path } = await newStore();
    const [unusable, flag] =
      TEST_STORE === "postgres" ? [{ DATABASE_URL: "postgres://nobody@127.0.0.1:1/none" }, ["--database-url", path]] : [{ INLET_DB: "" }, ["--db", path]];
    const server = await spawnServer({ PORT: "abc", ...unusable, INLET_DEMO: "false" }, 10_000, ["--port", "0", ...flag]);
    try {
      expect((await fetch(`${server.url}/health`)).status).toBe(200);
    } finally {
      server.proc.kill("SIGTERM");
      await server.proc.exited;
    }
  });
});

describe("tenants and keys from the CLI", () => {
  test("tenant create, key create/list/revoke", async () => {
    const store = await newStore();
    const { env } = store;
    const created = await cli(["tenant", "create", "Acme"], env);
    expect(created.code).toBe(0);
    const tenant = JSON.parse(created.stdout);
    expect(tenant.name).toBe("Acme");
    // The same field names and ISO times as the admin API (docs/api.md).
    expect(tenant.key).toMatch(/^wk_[\w-]{32}$/);
    expect(tenant).toMatchObject({ kind: "write", prefix: tenant.key.slice(0, 11) });
    expect(new Date(tenant.createdAt).toISOString()).toBe(tenant.createdAt);
    expect(tenant.writeKey).toBeUndefined();
    const tenantList = JSON.parse((await cli(["tenant", "list"], env)).stdout);
    expect(tenantList).toEqual([{ tenantId: tenant.tenantId, name: "Acme", createdAt: tenant.createdAt, settings: expect.any(Object) }]);

    const key = JSON.parse((await cli(["key", "create", "--tenant", tenant.tenantId], env)).stdout);
    expect(key.key).toMatch(/^wk_/);
    expect(key.key).not.toBe(tenant.key);
    expect(key).toMatchObject({ tenantId: tenant.tenantId, kind: "write", prefix: key.key.slice(0, 11) });

    const listed = JSON.parse((await cli(["key", "list", "--tenant", tenant.tenantId], env)).stdout);
    expect(listed).toHaveLength(2);
    // Listings show prefixes only, never keys.
    const listing = JSON.stringify(listed);
    expect(listing).not.toContain(tenant.key);
    expect(listing).not.toContain(key.key);
    expect(listed.map((k: { prefix: string }) => k.prefix)).toContain(key.key.slice(0, 11));

    // Keys are stored as SHA-256 hashes only.
    const stored = JSON.stringify(await storeRows(store.path, "SELECT * FROM api_keys"));
    expect(stored).not.toContain(key.key);
    expect(stored).toContain(new Bun.CryptoHasher("sha256").update(key.key).digest("hex"));

    const revoked = await cli(["key", "revoke", key.key.slice(0, 11)], env);
    expect(revoked.code).toBe(0);
    const after = JSON.parse((await cli(["key", "list", "--tenant", tenant.tenantId], env)).stdout);
    const revokedKey = after.find((k: { keyId: string }) => k.keyId === key.keyId);
    expect(new Date(revokedKey.revokedAt).toISOString()).toBe(revokedKey.revokedAt);
    expect(new Date(revokedKey.createdAt).toISOString()).toBe(revokedKey.createdAt);
    expect(after.find((k: { keyId: string }) => k.keyId !== key.keyId).revokedAt).toBeNull();

    // The revoked key no longer authenticates a (freshly started) server.
    const server = await spawnServer(env);
    try {
      const send = (k: string) =>
        fetch(`${server.url}/v1/events/track`, {
          method: "POST",
          headers: { authorization: `Bearer ${k}` },
          body: JSON.stringify({ event: "E", anonymousId: "a" }),
        });
      expect((await send(key.key)).status).toBe(401);
      expect((await send(tenant.key)).status).toBe(200);
    } finally {
      server.proc.kill("SIGTERM");
      await server.proc.exited;
    }
  });

  // Argument checks, before any store is read; test/cli-stores.test.ts has the unknown command and the ambiguous prefix on PostgreSQL.
  test.skipIf(TEST_STORE === "postgres")("unknown commands and missing arguments explain themselves", async () => {
    const env = (await newStore()).env;
    const unknown = await cli(["frobnicate"], env);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("Unknown command");
    const missing = await cli(["key", "list"], env);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain("--tenant");
    const ambiguous = await cli(["key", "revoke", "wk_"], env);
    expect(ambiguous.code).not.toBe(0);
  });
});

describe("export", () => {
  test("writes NDJSON oldest first, filtered by time and type", async () => {
    const { path: db, env } = await newStore();
    const server = await spawnServer({ ...env, INLET_DEMO: "false" });
    const tenant = JSON.parse((await cli(["tenant", "create", "x"], env)).stdout);
    try {
      const times = ["2026-03-01T00:00:00.000Z", "2026-01-01T00:00:00.000Z", "2026-02-01T00:00:00.000Z"];
      for (const [i, timestamp] of times.entries()) {
        const res = await fetch(`${server.url}/v1/events/track`, {
          method: "POST",
          headers: { authorization: `Bearer ${tenant.key}` },
          body: JSON.stringify({ event: `E${i}`, anonymousId: "a", timestamp }),
        });
        expect(res.status).toBe(200);
      }
    } finally {
      server.proc.kill("SIGTERM");
      await server.proc.exited;
    }
    const all = await exportEvents(db, tenant.tenantId);
    expect(all.map((e) => e.event)).toEqual(["E1", "E2", "E0"]);
    const window = await exportEvents(db, tenant.tenantId, ["--since", "2026-01-15", "--until", "2026-03-01"]);
    expect(window.map((e) => e.event)).toEqual(["E2"]);
    expect(await exportEvents(db, tenant.tenantId, ["--type", "identify"])).toEqual([]);
    expect((await exportEvents(db, tenant.tenantId, ["--type", "track"])).length).toBe(3);
    const bad = await cli(["export", "--tenant", tenant.tenantId, "--since", "soon"], env);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("--since");
    // A wrong value or a failure is one line, not the usage.
    const bogus = await cli(["export", "--tenant", tenant.tenantId, "--type", "bogus"], env);
    expect({ code: bogus.code, stdout: bogus.stdout, stderr: bogus.stderr }).toEqual({
      code: 2,
      stdout: "",
      stderr: 'inlet: --type must be one of track, identify, page, screen, group, alias, got "bogus".\n',
    });
    const nope = await cli(["export", "--tenant", "nope"], env);
    expect({ code: nope.code, stderr: nope.stderr }).toEqual({ code: 1, stderr: "inlet: No tenant with id nope.\n" });
  });
});
