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
/** Every kind of key, as the API and the CLI name them. */
export const KEY_KINDS = Object.keys(KEY_PREFIX) as [KeyKind, ...KeyKind[]];
/** Characters of the key kept in clear: the kind marker and 8 random characters. */
const VISIBLE = 11;

export interface ResolvedKey {
  keyId: string;
  tenantId: string;
  kind: KeyKind;
  settings: TenantSettings;
}

/**
 * A new key as the CLI prints it and the API answers it (the same field names, ISO times): the
 * key itself is shown only here.
 */
export interface NewKey {
  tenantId: string;
  keyId: string;
  key: string;
  prefix: string;
  kind: KeyKind;
  createdAt: string;
}

const iso = (ms: number): string => new Date(ms).toISOString();

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

  /** A tenant and its first write key. */
  createTenant(name: string): NewKey & { name: string } {
    const tenantId = Bun.randomUUIDv7();
    return this.db.transaction((tx) => {
      const now = Date.now();
      tx.insert(tenants).values({ id: tenantId, name, createdAt: now }).run();
      return { name, ...insertKey(tx as unknown as Db, tenantId, "write", now) };
    });
  }

  tenantExists(tenantId: string): boolean {
    return this.db.select({ id: tenants.id }).from(tenants).where(eq(tenants.id, tenantId)).get() !== undefined;
  }

  countTenants(): number {
    return this.db.select({ n: count() }).from(tenants).get()!.n;
  }

  listTenants() {
    return this.db
      .select({ tenantId: tenants.id, name: tenants.name, createdAt: tenants.createdAt, settings: tenants.settings })
      .from(tenants)
      .all()
      .map((row) => ({ ...row, createdAt: iso(row.createdAt), settings: parseSettings(row.settings) }));
  }

  createKey(tenantId: string, kind: KeyKind = "write"): NewKey {
    if (!this.tenantExists(tenantId)) throw new NotFoundError(`No tenant with id ${tenantId}.`);
    return insertKey(this.db, tenantId, kind, Date.now());
  }

  listKeys(tenantId: string) {
    return this.db
      .select({ keyId: apiKeys.id, prefix: apiKeys.prefix, kind: apiKeys.kind, createdAt: apiKeys.createdAt, revokedAt: apiKeys.revokedAt })
      .from(apiKeys)
      .where(eq(apiKeys.tenantId, tenantId))
      .all()
      .map((row) => ({ ...row, createdAt: iso(row.createdAt), revokedAt: row.revokedAt === null ? null : iso(row.revokedAt) }));
  }

  /**
   * Revokes the key with this id or prefix; a prefix must name exactly one live key. With
   * `tenantId`, only that tenant's keys are looked at (another tenant's key is "no match").
   */
  revokeKey(idOrPrefix: string, tenantId?: string): { tenantId: string; keyId: string; prefix: string; revokedAt: string } {
    const matches = this.db
      .select({ id: apiKeys.id, prefix: apiKeys.prefix, tenantId: apiKeys.tenantId })
      .from(apiKeys)
      .where(
        and(
          isNull(apiKeys.revokedAt),
          tenantId === undefined ? undefined : eq(apiKeys.tenantId, tenantId),
          or(eq(apiKeys.id, idOrPrefix), sql`${apiKeys.prefix} LIKE ${escapeLike(idOrPrefix) + "%"} ESCAPE '\\'`),
        ),
      )
      .all();
    if (matches.length === 0) throw new NotFoundError(`No active key matches ${idOrPrefix}.`);
    if (matches.length > 1)
      throw new AmbiguousKeyError(`${idOrPrefix} matches ${matches.length} keys (${matches.map((m) => m.prefix).join(", ")}); give more of it or the key id.`);
    const match = matches[0]!;
    const now = Date.now();
    this.db.update(apiKeys).set({ revokedAt: now }).where(eq(apiKeys.id, match.id)).run();
    return { tenantId: match.tenantId, keyId: match.id, prefix: match.prefix, revokedAt: iso(now) };
  }

  /** The live key with this exact value, or null (unknown and revoked look the same). */
  findKey(key: string): ResolvedKey | null {
    const row = this.findKeyQuery.get({ hash: hashKey(key) });
    if (!row || row.revokedAt !== null) return null;
    return { keyId: row.keyId, tenantId: row.tenantId, kind: row.kind, settings: parseSettings(row.settings, row.tenantId) };
  }

  getSettings(tenantId: string): TenantSettings {
    const row = this.db.select({ settings: tenants.settings }).from(tenants).where(eq(tenants.id, tenantId)).get();
    if (!row) throw new NotFoundError(`No tenant with id ${tenantId}.`);
    return parseSettings(row.settings, tenantId);
  }

  setSettings(tenantId: string, patch: Partial<TenantSettings>): TenantSettings {
    const next = parseSettings(JSON.stringify({ ...this.getSettings(tenantId), ...patch }));
    this.db
      .update(tenants)
      .set({ settings: JSON.stringify(next) })
      .where(eq(tenants.id, tenantId))
      .run();
    return next;
  }
}

function insertKey(db: Db, tenantId: string, kind: KeyKind, now: number): NewKey {
  const key = newKey(kind);
  const keyId = Bun.randomUUIDv7();
  const prefix = key.slice(0, VISIBLE);
  db.insert(apiKeys)
    .values({ id: keyId, tenantId, kind, prefix, hash: hashKey(key), createdAt: now })
    .run();
  return { tenantId, keyId, key, prefix, kind, createdAt: iso(now) };
}

/** No tenant or key by that id (the API answers 404, the CLI exits 1). */
export class NotFoundError extends Error {}
/** A key prefix that names more than one key. */
export class AmbiguousKeyError extends Error {}

function escapeLike(s: string): string {
  return s.replace(/[%_\\]/g, (c) => `\\${c}`);
}
