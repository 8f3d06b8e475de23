import { afterAll, describe, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { cli, exportEvents, tempDir } from "./helpers/server";
import { spawnServer } from "./helpers/process";

const dirs: string[] = [];
const newDb = () => {
  const dir = tempDir();
  dirs.push(dir);
  return join(dir, "nested", "inlet.db");
};
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe("starting the server", () => {
  test("first start on an empty database applies migrations, uses WAL, and prints a demo key once", async () => {
    const db = newDb();
    const first = await spawnServer({ INLET_DB: db });
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

    const sqlite = new Database(db, { readonly: true });
    expect((sqlite.query("PRAGMA journal_mode").get() as { journal_mode: string }).journal_mode).toBe("wal");
    expect((sqlite.query("SELECT count(*) AS n FROM events").get() as { n: number }).n).toBe(1);
    sqlite.close();

    const second = await spawnServer({ INLET_DB: db });
    second.proc.kill("SIGTERM");
    await second.proc.exited;
    expect(second.output()).not.toContain("write key:");
  });

  test("a bad setting stops it with a clear message", async () => {
    const result = await cli(["serve"], { PORT: "abc", INLET_DB: newDb() });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('PORT = "abc"');
    expect(result.stderr).toContain("whole number");
    const flag = await cli(["serve", "--session-timeout", "0"], { INLET_DB: newDb() });
    expect(flag.code).toBe(2);
    expect(flag.stderr).toContain("--session-timeout");
  });

  test("a port already in use is a clear error, not a second server sharing it", async () => {
    const first = await spawnServer({ INLET_DB: newDb() });
    try {
      const port = new URL(first.url).port;
      const db = newDb();
      const second = await cli(["serve", "--port", port, "--host", "127.0.0.1"], { INLET_DB: db });
      expect(second.code).toBe(1);
      expect(second.stderr).toContain("port is in use");
      // Nothing half-started: no demo tenant in the database nobody serves.
      const sqlite = new Database(db, { readonly: true });
      expect((sqlite.query("SELECT count(*) AS n FROM tenants").get() as { n: number }).n).toBe(0);
      sqlite.close();
    } finally {
      first.proc.kill("SIGTERM");
      await first.proc.exited;
    }
  });

  test("flags override the environment", async () => {
    // PORT and INLET_DB are unusable here, but the flags replace them, so the server starts.
    const server = await spawnServer({ PORT: "abc", INLET_DB: "", INLET_DEMO: "false" }, 10_000, ["--port", "0", "--db", newDb()]);
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
    const db = newDb();
    const env = { INLET_DB: db };
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
    const sqlite = new Database(db, { readonly: true });
    const stored = JSON.stringify(sqlite.query("SELECT * FROM api_keys").all());
    sqlite.close();
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
    const server = await spawnServer({ INLET_DB: db });
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

  test("unknown commands and missing arguments explain themselves", async () => {
    const env = { INLET_DB: newDb() };
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
    const db = newDb();
    const server = await spawnServer({ INLET_DB: db, INLET_DEMO: "false" });
    const tenant = JSON.parse((await cli(["tenant", "create", "x"], { INLET_DB: db })).stdout);
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
    const bad = await cli(["export", "--tenant", tenant.tenantId, "--since", "soon"], { INLET_DB: db });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("--since");
    // A wrong value or a failure is one line, not the usage.
    const bogus = await cli(["export", "--tenant", tenant.tenantId, "--type", "bogus"], { INLET_DB: db });
    expect({ code: bogus.code, stdout: bogus.stdout, stderr: bogus.stderr }).toEqual({
      code: 2,
      stdout: "",
      stderr: 'inlet: --type must be one of track, identify, page, screen, group, alias, got "bogus".\n',
    });
    const nope = await cli(["export", "--tenant", "nope"], { INLET_DB: db });
    expect({ code: nope.code, stderr: nope.stderr }).toEqual({ code: 1, stderr: "inlet: No tenant with id nope.\n" });
  });
});
