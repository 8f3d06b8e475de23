/**
 * What the tenant service (src/modules/tenants) needs from the store: tenants and their API keys,
 * one interface implemented for SQLite (./sqlite/tenants.ts) and PostgreSQL (./postgres/tenants.ts).
 * Rows speak the service's terms on both: times in milliseconds since the epoch, settings as the
 * stored JSON text (parsed, with its defaults, by the service).
 */
import { and, eq, isNull, or, sql, type Column, type SQL } from "drizzle-orm";

/**
 * write: public (ships in web pages), ingests; server: secret (a tenant's backend), ingests and
 * may merge two identified leads; admin: secret, reads the tenant's data.
 */
export type KeyKind = "write" | "server" | "admin";

export interface TenantRow {
  id: string;
  name: string;
  /** JSON text. */
  settings: string;
  createdAt: number;
}

export interface KeyRow {
  id: string;
  tenantId: string;
  kind: KeyKind;
  prefix: string;
  /** SHA-256 of the whole key, hex: the key itself is never stored. */
  hash: string;
  createdAt: number;
  revokedAt: number | null;
}

/** A key found by its hash, with its tenant's settings (JSON text): what authentication needs. */
export interface KeyWithSettings {
  keyId: string;
  tenantId: string;
  kind: KeyKind;
  revokedAt: number | null;
  settings: string;
}

export interface TenantStore {
  /** The tenant and its first key, together or not at all. */
  createTenant(tenant: Omit<TenantRow, "settings">, firstKey: Omit<KeyRow, "revokedAt">): Promise<void>;
  tenantExists(tenantId: string): Promise<boolean>;
  countTenants(): Promise<number>;
  listTenants(): Promise<TenantRow[]>;
  insertKey(key: Omit<KeyRow, "revokedAt">): Promise<void>;
  listKeys(tenantId: string): Promise<Omit<KeyRow, "hash">[]>;
  /** Unrevoked keys whose id is `idOrPrefix` or whose prefix starts with it; with `tenantId`, that tenant's only. */
  liveKeysMatching(idOrPrefix: string, tenantId?: string): Promise<Pick<KeyRow, "id" | "prefix" | "tenantId">[]>;
  revokeKey(keyId: string, at: number): Promise<void>;
  /** The key with this hash, revoked or not, or null. */
  keyByHash(hash: string): Promise<KeyWithSettings | null>;
  /** The tenant's settings (JSON text), or null when there is no such tenant. */
  settingsOf(tenantId: string): Promise<string | null>;
  setSettings(tenantId: string, settings: string): Promise<void>;
}

/** The api_keys columns both stores' queries use (their drizzle tables differ in types only). */
interface KeyColumns {
  id: Column;
  tenantId: Column;
  kind: Column;
  prefix: Column;
  createdAt: Column;
  revokedAt: Column;
}

/** What listKeys selects, on either store. */
export function keyListing<T extends KeyColumns>(keys: T): Pick<T, keyof KeyColumns> {
  return { id: keys.id, tenantId: keys.tenantId, kind: keys.kind, prefix: keys.prefix, createdAt: keys.createdAt, revokedAt: keys.revokedAt };
}

/** liveKeysMatching's condition, on either store: unrevoked, of the tenant if given, by id or prefix. */
export function liveKeyMatch(keys: KeyColumns, idOrPrefix: string, tenantId?: string): SQL | undefined {
  return and(
    isNull(keys.revokedAt),
    tenantId === undefined ? undefined : eq(keys.tenantId, tenantId),
    or(eq(keys.id, idOrPrefix), sql`${keys.prefix} LIKE ${escapeLike(idOrPrefix) + "%"} ESCAPE '\\'`),
  );
}

/** `s` for a LIKE pattern with ESCAPE '\': its wildcards match themselves. */
function escapeLike(s: string): string {
  return s.replace(/[%_\\]/g, (c) => `\\${c}`);
}
