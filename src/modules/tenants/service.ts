/**
 * Tenants and their API keys. Keys are random (192 bits), shown once, and stored only as a
 * SHA-256 hash beside a short prefix that a person can use to tell keys apart or revoke one.
 */
import { and, count, eq, isNull, or, sql } from "drizzle-orm";
import type { Db } from "../../db/client";
import { apiKeys, tenants } from "../../db/schema";
import { parseSettings, type TenantSettings } from "./settings";

/**
 * write: public (ships in web pages), ingests; server: secret (a tenant's backend), ingests and
 * may merge two identified leads; admin: secret, reads the tenant's data.
 */
export type KeyKind = "write" | "server" | "admin";
const KEY_PREFIX: Record<KeyKind, string> = { write: "wk_", server: "sk_", admin: "ak_" };
/** Characters of the key kept in clear: the kind marker and 8 random characters. */
const VISIBLE = 11;

export interface ResolvedKey {
  keyId: string;
  tenantId: string;
  kind: KeyKind;
  settings: TenantSettings;
}

export function hashKey(key: string): string {
  return new Bun.CryptoHasher("sha256").update(key).digest("hex");
}

function newKey(kind: KeyKind): string {
  return KEY_PREFIX[kind] + Buffer.from(crypto.getRandomValues(new Uint8Array(24))).toString("base64url");
}

export class TenantService {
  private readonly findKeyQuery;

  constructor(private readonly db: Db) {
    this.findKeyQuery = db
      .select({ keyId: apiKeys.id, tenantId: apiKeys.tenantId, kind: apiKeys.kind, revokedAt: apiKeys.revokedAt, settings: tenants.settings })
      .from(apiKeys)
      .innerJoin(tenants, eq(tenants.id, apiKeys.tenantId))
      .where(eq(apiKeys.hash, sql.placeholder("hash")))
      .prepare();
  }

  createTenant(name: string): { tenantId: string; name: string; keyId: string; writeKey: string } {
    const tenantId = Bun.randomUUIDv7();
    return this.db.transaction((tx) => {
      tx.insert(tenants).values({ id: tenantId, name, createdAt: Date.now() }).run();
      const { keyId, key } = insertKey(tx as unknown as Db, tenantId, "write");
      return { tenantId, name, keyId, writeKey: key };
    });
  }

  tenantExists(tenantId: string): boolean {
    return this.db.select({ id: tenants.id }).from(tenants).where(eq(tenants.id, tenantId)).get() !== undefined;
  }

  countTenants(): number {
    return this.db.select({ n: count() }).from(tenants).get()!.n;
  }

  listTenants() {
    return this.db.select({ id: tenants.id, name: tenants.name, createdAt: tenants.createdAt }).from(tenants).all();
  }

  createKey(tenantId: string, kind: KeyKind = "write"): { keyId: string; key: string; prefix: string; kind: KeyKind } {
    if (!this.tenantExists(tenantId)) throw new Error(`No tenant with id ${tenantId}.`);
    const { keyId, key } = insertKey(this.db, tenantId, kind);
    return { keyId, key, prefix: key.slice(0, VISIBLE), kind };
  }

  listKeys(tenantId: string) {
    return this.db
      .select({ id: apiKeys.id, prefix: apiKeys.prefix, kind: apiKeys.kind, createdAt: apiKeys.createdAt, revokedAt: apiKeys.revokedAt })
      .from(apiKeys)
      .where(eq(apiKeys.tenantId, tenantId))
      .all();
  }

  /** Revokes the key with this id or prefix; a prefix must name exactly one live key. */
  revokeKey(idOrPrefix: string): { keyId: string; prefix: string } {
    const matches = this.db
      .select({ id: apiKeys.id, prefix: apiKeys.prefix })
      .from(apiKeys)
      .where(and(isNull(apiKeys.revokedAt), or(eq(apiKeys.id, idOrPrefix), sql`${apiKeys.prefix} LIKE ${escapeLike(idOrPrefix) + "%"} ESCAPE '\\'`)))
      .all();
    if (matches.length === 0) throw new Error(`No active key matches ${idOrPrefix}.`);
    if (matches.length > 1) throw new Error(`${idOrPrefix} matches ${matches.length} keys (${matches.map((m) => m.prefix).join(", ")}); give more of it or the key id.`);
    const match = matches[0]!;
    this.db.update(apiKeys).set({ revokedAt: Date.now() }).where(eq(apiKeys.id, match.id)).run();
    return { keyId: match.id, prefix: match.prefix };
  }

  /** The live key with this exact value, or null (unknown and revoked look the same). */
  findKey(key: string): ResolvedKey | null {
    const row = this.findKeyQuery.get({ hash: hashKey(key) });
    if (!row || row.revokedAt !== null) return null;
    return { keyId: row.keyId, tenantId: row.tenantId, kind: row.kind, settings: parseSettings(row.settings, row.tenantId) };
  }

  getSettings(tenantId: string): TenantSettings {
    const row = this.db.select({ settings: tenants.settings }).from(tenants).where(eq(tenants.id, tenantId)).get();
    if (!row) throw new Error(`No tenant with id ${tenantId}.`);
    return parseSettings(row.settings, tenantId);
  }

  setSettings(tenantId: string, patch: Partial<TenantSettings>): TenantSettings {
    const next = parseSettings(JSON.stringify({ ...this.getSettings(tenantId), ...patch }));
    this.db.update(tenants).set({ settings: JSON.stringify(next) }).where(eq(tenants.id, tenantId)).run();
    return next;
  }
}

function insertKey(db: Db, tenantId: string, kind: KeyKind): { keyId: string; key: string } {
  const key = newKey(kind);
  const keyId = Bun.randomUUIDv7();
  db.insert(apiKeys).values({ id: keyId, tenantId, kind, prefix: key.slice(0, VISIBLE), hash: hashKey(key), createdAt: Date.now() }).run();
  return { keyId, key };
}

function escapeLike(s: string): string {
  return s.replace(/[%_\\]/g, (c) => `\\${c}`);
}
