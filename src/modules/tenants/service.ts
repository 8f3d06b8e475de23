/**
 * Tenants and their API keys. Keys are random (192 bits), shown once, and stored only as a
 * SHA-256 hash beside a short prefix that a person can use to tell keys apart or revoke one.
 */
import type { ChangeFeed } from "../../db/change-feed";
import type { KeyKind, TenantStore } from "../../db/tenant-store";
import { parseSettings, type TenantSettings } from "./settings";

export type { KeyKind };
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

/** Every method returns a promise: the store may be another process (PostgreSQL). */
export class TenantService {
  /**
   * `changes`: where a revoked key or changed settings are told, so that every instance sharing
   * the store drops what it cached (src/db/change-feed.ts); without it, caches expire by their TTL.
   */
  constructor(
    private readonly store: TenantStore,
    private readonly changes?: Pick<ChangeFeed, "publish">,
  ) {}

  /** A tenant and its first write key. */
  async createTenant(name: string): Promise<NewKey & { name: string }> {
    const tenantId = Bun.randomUUIDv7();
    const now = Date.now();
    const { row, key } = keyRow(tenantId, "write", now);
    await this.store.createTenant({ id: tenantId, name, createdAt: now }, row);
    return { name, ...key };
  }

  tenantExists(tenantId: string): Promise<boolean> {
    return this.store.tenantExists(tenantId);
  }

  countTenants(): Promise<number> {
    return this.store.countTenants();
  }

  async listTenants() {
    return (await this.store.listTenants()).map((row) => ({
      tenantId: row.id,
      name: row.name,
      createdAt: iso(row.createdAt),
      settings: parseSettings(row.settings),
    }));
  }

  async createKey(tenantId: string, kind: KeyKind = "write"): Promise<NewKey> {
    if (!(await this.store.tenantExists(tenantId))) throw new NotFoundError(`No tenant with id ${tenantId}.`);
    const { row, key } = keyRow(tenantId, kind, Date.now());
    await this.store.insertKey(row);
    return key;
  }

  async listKeys(tenantId: string) {
    return (await this.store.listKeys(tenantId)).map((row) => ({
      keyId: row.id,
      prefix: row.prefix,
      kind: row.kind,
      createdAt: iso(row.createdAt),
      revokedAt: row.revokedAt === null ? null : iso(row.revokedAt),
    }));
  }

  /**
   * Revokes the key with this id or prefix; a prefix must name exactly one live key. With
   * `tenantId`, only that tenant's keys are looked at (another tenant's key is "no match").
   */
  async revokeKey(idOrPrefix: string, tenantId?: string): Promise<{ tenantId: string; keyId: string; prefix: string; revokedAt: string }> {
    const matches = await this.store.liveKeysMatching(idOrPrefix, tenantId);
    if (matches.length === 0) throw new NotFoundError(`No active key matches ${idOrPrefix}.`);
    if (matches.length > 1)
      throw new AmbiguousKeyError(`${idOrPrefix} matches ${matches.length} keys (${matches.map((m) => m.prefix).join(", ")}); give more of it or the key id.`);
    const match = matches[0]!;
    const now = Date.now();
    await this.store.revokeKey(match.id, now);
    await this.changes?.publish({ topic: "key", tenantId: match.tenantId, id: match.id });
    return { tenantId: match.tenantId, keyId: match.id, prefix: match.prefix, revokedAt: iso(now) };
  }

  /** The live key with this exact value, or null (unknown and revoked look the same). */
  async findKey(key: string): Promise<ResolvedKey | null> {
    const row = await this.store.keyByHash(hashKey(key));
    if (!row || row.revokedAt !== null) return null;
    return { keyId: row.keyId, tenantId: row.tenantId, kind: row.kind, settings: parseSettings(row.settings, row.tenantId) };
  }

  async getSettings(tenantId: string): Promise<TenantSettings> {
    const settings = await this.store.settingsOf(tenantId);
    if (settings === null) throw new NotFoundError(`No tenant with id ${tenantId}.`);
    return parseSettings(settings, tenantId);
  }

  async setSettings(tenantId: string, patch: Partial<TenantSettings>): Promise<TenantSettings> {
    const next = parseSettings(JSON.stringify({ ...(await this.getSettings(tenantId)), ...patch }));
    await this.store.setSettings(tenantId, JSON.stringify(next));
    await this.changes?.publish({ topic: "tenant", tenantId });
    return next;
  }
}

/** A new key: its row (the hash, never the key) and what is shown once. */
function keyRow(tenantId: string, kind: KeyKind, now: number) {
  const key = newKey(kind);
  const keyId = Bun.randomUUIDv7();
  const prefix = key.slice(0, VISIBLE);
  return {
    row: { id: keyId, tenantId, kind, prefix, hash: hashKey(key), createdAt: now },
    key: { tenantId, keyId, key, prefix, kind, createdAt: iso(now) } satisfies NewKey,
  };
}

/** No tenant or key by that id (the API answers 404, the CLI exits 1). */
export class NotFoundError extends Error {}
/** A key prefix that names more than one key. */
export class AmbiguousKeyError extends Error {}
