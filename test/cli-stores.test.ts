/**
 * The real CLI on either store: `inlet migrate`, tenants and keys against a SQLite file and against
 * a fresh PostgreSQL database (DATABASE_URL), with the same commands and the same answers.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { SQL } from "bun";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { embeddedMigrations, embeddedPgMigrations } from "../src/db/migrations.generated";
import { createTestDatabase, type TestDatabase } from "./helpers/postgres";
import { cli, tempDir } from "./helpers/server";

let dir: string;
let pg: TestDatabase;
beforeAll(async () => {
  dir = tempDir("inlet-cli-stores-");
  pg = await createTestDatabase("cli");
});
afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  await pg?.drop();
});

interface Store {
  name: string;
  env(): Record<string, string>;
  tags: string[];
  database(): string;
}

const stores: Store[] = [
  {
    name: "SQLite",
    // DATABASE_URL empty: whatever the environment running the tests has, the file is used.
    env: () => ({ INLET_DB: join(dir, "inlet.db"), DATABASE_URL: "" }),
    tags: embeddedMigrations.map((m) => m.tag),
    database: () => join(dir, "inlet.db"),
  },
  {
    name: "PostgreSQL",
    env: () => ({ DATABASE_URL: pg.url, INLET_DB: join(dir, "unused.db") }),
    tags: embeddedPgMigrations.map((m) => m.tag),
    database: () => pg.url,
  },
];

const json = async (args: string[], env: Record<string, string>) => {
  const result = await cli(args, env);
  if (result.code !== 0) throw new Error(`inlet ${args.join(" ")} exited ${result.code}: ${result.stderr}`);
  return JSON.parse(result.stdout);
};

for (const store of stores) {
  describe(`the CLI on ${store.name}`, () => {
    test("migrate applies what the database lacks and prints it; again, nothing", async () => {
      const env = store.env();
      expect(await json(["migrate"], env)).toEqual({ store: store.name === "SQLite" ? "sqlite" : "postgres", database: store.database(), applied: store.tags });
      expect((await json(["migrate"], env)).applied).toEqual([]);
    });

    test("tenant create/list/set, key create/list/revoke", async () => {
      const env = store.env();
      const tenant = await json(["tenant", "create", "Acme"], env);
      expect(Object.keys(tenant)).toEqual(["name", "tenantId", "keyId", "key", "prefix", "kind", "createdAt"]);
      expect(tenant).toMatchObject({ name: "Acme", kind: "write", prefix: tenant.key.slice(0, 11) });
      expect(tenant.key).toMatch(/^wk_[\w-]{32}$/);

      const set = await json(["tenant", "set", tenant.tenantId, "--ip-policy", "anonymize", "--rate-rps", "7"], env);
      expect(set).toEqual({ tenantId: tenant.tenantId, settings: expect.objectContaining({ ipPolicy: "anonymize", rateLimitRps: 7 }) });
      expect(await json(["tenant", "list"], env)).toEqual([{ tenantId: tenant.tenantId, name: "Acme", createdAt: tenant.createdAt, settings: set.settings }]);

      const admin = await json(["key", "create", "--tenant", tenant.tenantId, "--admin"], env);
      expect(admin).toMatchObject({ tenantId: tenant.tenantId, kind: "admin", prefix: admin.key.slice(0, 11) });
      expect(admin.key).toMatch(/^ak_/);
      const listed = await json(["key", "list", "--tenant", tenant.tenantId], env);
      expect(listed.map((k: { keyId: string }) => k.keyId)).toEqual([tenant.keyId, admin.keyId]);
      expect(JSON.stringify(listed)).not.toContain(admin.key);

      const revoked = await json(["key", "revoke", admin.prefix], env);
      expect(revoked.revoked).toMatchObject({ tenantId: tenant.tenantId, keyId: admin.keyId, prefix: admin.prefix });
      const after = await json(["key", "list", "--tenant", tenant.tenantId], env);
      expect(after.find((k: { keyId: string }) => k.keyId === admin.keyId).revokedAt).toBe(revoked.revoked.revokedAt);

      // Failures as before: an unknown tenant exits 1, an ambiguous prefix too.
      const unknown = await cli(["key", "create", "--tenant", "no-such-tenant"], env);
      expect(unknown.code).toBe(1);
      expect(unknown.stderr).toBe("inlet: No tenant with id no-such-tenant.\n");
      await json(["key", "create", "--tenant", tenant.tenantId], env);
      const ambiguous = await cli(["key", "revoke", "wk_"], env);
      expect(ambiguous.code).toBe(1);
      expect(ambiguous.stderr).toContain("matches 2 keys");
    });
  });
}

describe("the CLI with DATABASE_URL", () => {
  test("the settings it writes are JSON objects in PostgreSQL", async () => {
    const tenant = await json(["tenant", "create", "Typed"], stores[1]!.env());
    await json(["tenant", "set", tenant.tenantId, "--bots", "drop"], stores[1]!.env());
    const client = new SQL({ url: pg.url, max: 1 });
    try {
      const [row] = await client`SELECT jsonb_typeof(settings) AS type, settings->>'bots' AS bots FROM tenants WHERE id = ${tenant.tenantId}`;
      expect(row).toEqual({ type: "object", bots: "drop" });
    } finally {
      await client.close();
    }
  });

  test("migrate against an unreachable database fails with one line, without the password", async () => {
    const result = await cli(["migrate"], { DATABASE_URL: "postgres://postgres:s3cret@127.0.0.1:1/inlet" });
    expect(result.code).toBe(1);
    expect(result.stdout).toBe("");
    expect(result.stderr).toStartWith("inlet: migrate failed (postgres://postgres:***@127.0.0.1:1/inlet): ");
    expect(result.stderr).not.toContain("s3cret");
    expect(result.stderr.trimEnd().split("\n")).toHaveLength(1);
  });

  test("serve against an unreachable database exits 1 with one line naming it, without the password or a stack", async () => {
    const result = await cli(["serve"], { DATABASE_URL: "postgres://postgres:s3cret@127.0.0.1:1/inlet", PORT: "0" });
    expect(result.code).toBe(1);
    expect(result.stderr).toStartWith("inlet: cannot open the database (postgres://postgres:***@127.0.0.1:1/inlet): ");
    expect(result.stderr).not.toContain("s3cret");
    expect(result.stderr.trimEnd().split("\n")).toHaveLength(1);
  });

  test("backup points to pg_dump (exit 2); the SQLite-only command says so (exit 1); export and lead show work", async () => {
    const env = stores[1]!.env();
    const backup = await cli(["backup", join(dir, "copy.db")], env);
    expect(backup.code).toBe(2);
    expect(backup.stderr).toContain("pg_dump");
    expect(backup.stderr).not.toContain(pg.url);
    const vacuum = await cli(["privacy", "vacuum"], env);
    expect(vacuum.code).toBe(1);
    expect(vacuum.stderr).toBe("inlet: privacy vacuum works on the SQLite store only, not with DATABASE_URL (PostgreSQL).\n");
    // Read from PostgreSQL: an unknown tenant and an unknown lead are answered as on SQLite.
    expect(await cli(["export", "--tenant", "t"], env)).toMatchObject({ code: 1, stderr: "inlet: No tenant with id t.\n" });
    expect(await cli(["lead", "show", "--tenant", "t", "u"], env)).toMatchObject({ code: 1, stderr: "inlet: no lead u in tenant t.\n" });
    const unknown = await cli(["frobnicate"], env);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("Unknown command");
  });
});
