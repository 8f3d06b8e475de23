/**
 * Tenants and API keys behave the same on both stores: one body of tests, run against a SQLite
 * file and a fresh PostgreSQL database, through the tenant service (what the API and the CLI use).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { openStorage, tenantStoreOf, type Storage, type StorageSettings } from "../src/db/storage";
import { AmbiguousKeyError, hashKey, NotFoundError, TenantService } from "../src/modules/tenants/service";
import { parseSettings } from "../src/modules/tenants/settings";
import { createTestDatabase, type TestDatabase } from "./helpers/postgres";
import { tempDir } from "./helpers/server";

const settings = (over: Partial<StorageSettings>): StorageSettings => ({
  db: ":memory:",
  synchronous: "NORMAL",
  databaseUrl: "",
  pgPoolSize: 2,
  pgStatementTimeoutMs: 0,
  ...over,
});

interface Store {
  name: string;
  open(): Promise<Storage>;
  cleanup(): Promise<void>;
  /** The stored settings' JSON type as the database sees it ("object" when stored as an object). */
  settingsType(storage: Storage, tenantId: string): Promise<string>;
  /** Every stored column of the key's row, as text. */
  keyRow(storage: Storage, keyId: string): Promise<string>;
}

const sqlite = (): Store => {
  const dir = tempDir();
  const sq = (storage: Storage) => {
    if (storage.kind !== "sqlite") throw new Error("not SQLite");
    return storage.database.sqlite;
  };
  return {
    name: "SQLite",
    open: () => openStorage(settings({ db: join(dir, "inlet.db") })),
    cleanup: async () => rmSync(dir, { recursive: true, force: true }),
    settingsType: async (storage, tenantId) =>
      (sq(storage).query("SELECT json_type(settings) AS t FROM tenants WHERE id = ?").get(tenantId) as { t: string }).t,
    keyRow: async (storage, keyId) => JSON.stringify(sq(storage).query("SELECT * FROM api_keys WHERE id = ?").get(keyId)),
  };
};

const postgres = (): Store => {
  let database: TestDatabase | undefined;
  const pg = (storage: Storage) => {
    if (storage.kind !== "postgres") throw new Error("not PostgreSQL");
    return storage.sql;
  };
  return {
    name: "PostgreSQL",
    open: async () => {
      database ??= await createTestDatabase("tenants");
      return openStorage(settings({ databaseUrl: database.url }));
    },
    cleanup: async () => database?.drop(),
    settingsType: async (storage, tenantId) => (await pg(storage)`SELECT jsonb_typeof(settings) AS t FROM tenants WHERE id = ${tenantId}`)[0].t,
    keyRow: async (storage, keyId) => JSON.stringify((await pg(storage)`SELECT * FROM api_keys WHERE id = ${keyId}`)[0]),
  };
};

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const DEFAULTS = parseSettings(null);

for (const store of [sqlite(), postgres()]) {
  describe(`tenants and keys on ${store.name}`, () => {
    let storage: Storage;
    let tenants: TenantService;
    beforeAll(async () => {
      storage = await store.open();
      tenants = new TenantService(tenantStoreOf(storage));
    });
    afterAll(async () => {
      await storage?.close();
      await store.cleanup();
    });

    test("a tenant is created with its first write key, shown once and stored as a hash", async () => {
      const before = Date.now();
      const created = await tenants.createTenant("acme");
      expect(Object.keys(created)).toEqual(["name", "tenantId", "keyId", "key", "prefix", "kind", "createdAt"]);
      expect(created.name).toBe("acme");
      expect(created.kind).toBe("write");
      expect(created.key).toMatch(/^wk_[\w-]{32}$/);
      expect(created.prefix).toBe(created.key.slice(0, 11));
      expect(created.createdAt).toMatch(ISO);
      expect(Date.parse(created.createdAt)).toBeGreaterThanOrEqual(before);
      expect(await tenants.tenantExists(created.tenantId)).toBe(true);
      expect(await tenants.tenantExists("no-such-tenant")).toBe(false);

      const row = await store.keyRow(storage, created.keyId);
      expect(row).toContain(hashKey(created.key));
      expect(row).not.toContain(created.key);

      expect(await tenants.findKey(created.key)).toEqual({ keyId: created.keyId, tenantId: created.tenantId, kind: "write", settings: DEFAULTS });
    });

    test("keys of each kind: their marker, found by value, listed by prefix; none for an unknown tenant", async () => {
      const { tenantId, keyId: firstKeyId } = await tenants.createTenant("kinds");
      const made = [];
      for (const [kind, marker] of [
        ["write", "wk_"],
        ["server", "sk_"],
        ["admin", "ak_"],
      ] as const) {
        const key = await tenants.createKey(tenantId, kind);
        expect(Object.keys(key)).toEqual(["tenantId", "keyId", "key", "prefix", "kind", "createdAt"]);
        expect(key.key.startsWith(marker)).toBe(true);
        expect(key).toMatchObject({ tenantId, kind, prefix: key.key.slice(0, 11) });
        expect(await tenants.findKey(key.key)).toEqual({ keyId: key.keyId, tenantId, kind, settings: DEFAULTS });
        made.push(key);
      }
      expect(await tenants.createKey(tenantId)).toMatchObject({ kind: "write" });

      const listed = await tenants.listKeys(tenantId);
      expect(listed).toHaveLength(5);
      // Oldest first, each with the same fields; never the key itself.
      expect(listed[0]!.keyId).toBe(firstKeyId);
      expect(listed.slice(1, 4)).toEqual(made.map((k) => ({ keyId: k.keyId, prefix: k.prefix, kind: k.kind, createdAt: k.createdAt, revokedAt: null })));
      expect(JSON.stringify(listed)).not.toContain(made[0]!.key);
      expect(await tenants.listKeys("no-such-tenant")).toEqual([]);

      await expect(tenants.createKey("no-such-tenant")).rejects.toThrow(NotFoundError);
      expect(await tenants.findKey("wk_not-a-key")).toBeNull();
      expect(await tenants.findKey("")).toBeNull();
    });

    test("revoking by prefix or id: the key stops resolving, once; another tenant's key is no match", async () => {
      const a = await tenants.createTenant("revoke-a");
      const b = await tenants.createTenant("revoke-b");
      const server = await tenants.createKey(a.tenantId, "server");

      await expect(tenants.revokeKey(a.prefix, b.tenantId)).rejects.toThrow(NotFoundError);
      expect(await tenants.findKey(a.key)).not.toBeNull();

      const before = Date.now();
      const byPrefix = await tenants.revokeKey(a.prefix, a.tenantId);
      expect(byPrefix).toEqual({ tenantId: a.tenantId, keyId: a.keyId, prefix: a.prefix, revokedAt: byPrefix.revokedAt });
      expect(Date.parse(byPrefix.revokedAt)).toBeGreaterThanOrEqual(before);
      expect(await tenants.findKey(a.key)).toBeNull();
      const listed = await tenants.listKeys(a.tenantId);
      expect(listed.find((k) => k.keyId === a.keyId)?.revokedAt).toBe(byPrefix.revokedAt);
      await expect(tenants.revokeKey(a.prefix)).rejects.toThrow(`No active key matches ${a.prefix}.`);

      expect((await tenants.revokeKey(server.keyId)).keyId).toBe(server.keyId);
      expect(await tenants.findKey(server.key)).toBeNull();
      await expect(tenants.revokeKey(server.keyId)).rejects.toThrow(NotFoundError);
      // The other tenant's key was never touched.
      expect(await tenants.findKey(b.key)).toMatchObject({ tenantId: b.tenantId });
    });

    test("a prefix naming several live keys is ambiguous; LIKE wildcards match only themselves", async () => {
      const { tenantId } = await tenants.createTenant("ambiguous");
      await tenants.createKey(tenantId, "write");
      const error = await tenants.revokeKey("wk_", tenantId).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(AmbiguousKeyError);
      expect((error as Error).message).toMatch(/^wk_ matches 2 keys \(wk_\S{8}, wk_\S{8}\); give more of it or the key id\.$/);
      for (const pattern of ["%", "_", "wk%", "w_"]) await expect(tenants.revokeKey(pattern, tenantId)).rejects.toThrow(NotFoundError);
      expect((await tenants.listKeys(tenantId)).every((k) => k.revokedAt === null)).toBe(true);
    });

    test("settings: defaults, a patch merged and validated, seen with the key, stored as a JSON object", async () => {
      const t = await tenants.createTenant("settings");
      expect(await tenants.getSettings(t.tenantId)).toEqual(DEFAULTS);
      const next = await tenants.setSettings(t.tenantId, { ipPolicy: "anonymize", rateLimitRps: 5, corsOrigins: ["https://a.example"] });
      expect(next).toEqual({ ...DEFAULTS, ipPolicy: "anonymize", rateLimitRps: 5, corsOrigins: ["https://a.example"] });
      expect(await tenants.setSettings(t.tenantId, { bots: "drop", rateLimitRps: undefined })).toEqual({
        ...DEFAULTS,
        ipPolicy: "anonymize",
        bots: "drop",
        corsOrigins: ["https://a.example"],
      });
      expect(await tenants.getSettings(t.tenantId)).toMatchObject({ ipPolicy: "anonymize", bots: "drop" });
      expect((await tenants.findKey(t.key))?.settings).toEqual(await tenants.getSettings(t.tenantId));
      expect(await store.settingsType(storage, t.tenantId)).toBe("object");

      await expect(tenants.getSettings("no-such-tenant")).rejects.toThrow("No tenant with id no-such-tenant.");
      await expect(tenants.setSettings("no-such-tenant", { bots: "keep" })).rejects.toThrow(NotFoundError);
    });

    test("tenants are listed oldest first with their settings and counted", async () => {
      const listed = await tenants.listTenants();
      expect(listed.map((t) => t.name)).toEqual(["acme", "kinds", "revoke-a", "revoke-b", "ambiguous", "settings"]);
      for (const t of listed) {
        expect(Object.keys(t)).toEqual(["tenantId", "name", "createdAt", "settings"]);
        expect(t.createdAt).toMatch(ISO);
      }
      expect(listed.find((t) => t.name === "settings")?.settings).toMatchObject({ ipPolicy: "anonymize", bots: "drop" });
      expect(await tenants.countTenants()).toBe(listed.length);
    });
  });
}
