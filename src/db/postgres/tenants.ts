/** Tenants and API keys in PostgreSQL (the contract: ../tenant-store.ts). */
import type { SQL } from "bun";
import { count, eq, sql } from "drizzle-orm";
import { drizzle, type BunSQLDatabase } from "drizzle-orm/bun-sql";
import { apiKeys, tenants } from "../pg-schema";
import { keyListing, liveKeyMatch, type KeyKind, type KeyRow, type KeyWithSettings, type TenantRow, type TenantStore } from "../tenant-store";

const ms = (at: Date): number => at.getTime();
const msOrNull = (at: Date | null): number | null => (at === null ? null : at.getTime());
/** Settings as the contract has them: JSON text (the column is jsonb, read back as an object). */
const settingsText = (value: unknown): string => JSON.stringify(value ?? {});

export class PostgresTenantStore implements TenantStore {
  private readonly db: BunSQLDatabase;

  constructor(client: SQL) {
    this.db = drizzle({ client });
  }

  async createTenant(tenant: Omit<TenantRow, "settings">, firstKey: Omit<KeyRow, "revokedAt">): Promise<void> {
    await this.db.transaction(async (tx) => {
      await tx.insert(tenants).values({ id: tenant.id, name: tenant.name, createdAt: new Date(tenant.createdAt) });
      await tx.insert(apiKeys).values({ ...firstKey, createdAt: new Date(firstKey.createdAt) });
    });
  }

  async tenantExists(tenantId: string): Promise<boolean> {
    const rows = await this.db.select({ id: tenants.id }).from(tenants).where(eq(tenants.id, tenantId)).limit(1);
    return rows.length > 0;
  }

  async countTenants(): Promise<number> {
    const [row] = await this.db.select({ n: count() }).from(tenants);
    return row!.n;
  }

  async listTenants(): Promise<TenantRow[]> {
    const rows = await this.db
      .select({ id: tenants.id, name: tenants.name, settings: tenants.settings, createdAt: tenants.createdAt })
      .from(tenants)
      .orderBy(tenants.createdAt, tenants.id);
    return rows.map((row) => ({ ...row, settings: settingsText(row.settings), createdAt: ms(row.createdAt) }));
  }

  async insertKey(key: Omit<KeyRow, "revokedAt">): Promise<void> {
    await this.db.insert(apiKeys).values({ ...key, createdAt: new Date(key.createdAt) });
  }

  async listKeys(tenantId: string): Promise<Omit<KeyRow, "hash">[]> {
    const rows = await this.db.select(keyListing(apiKeys)).from(apiKeys).where(eq(apiKeys.tenantId, tenantId)).orderBy(apiKeys.createdAt, apiKeys.id);
    return rows.map((row) => ({ ...row, kind: row.kind as KeyKind, createdAt: ms(row.createdAt), revokedAt: msOrNull(row.revokedAt) }));
  }

  async liveKeysMatching(idOrPrefix: string, tenantId?: string): Promise<Pick<KeyRow, "id" | "prefix" | "tenantId">[]> {
    return this.db
      .select({ id: apiKeys.id, prefix: apiKeys.prefix, tenantId: apiKeys.tenantId })
      .from(apiKeys)
      .where(liveKeyMatch(apiKeys, idOrPrefix, tenantId));
  }

  async revokeKey(keyId: string, at: number): Promise<void> {
    await this.db
      .update(apiKeys)
      .set({ revokedAt: new Date(at) })
      .where(eq(apiKeys.id, keyId));
  }

  async keyByHash(hash: string): Promise<KeyWithSettings | null> {
    const [row] = await this.db
      .select({ keyId: apiKeys.id, tenantId: apiKeys.tenantId, kind: apiKeys.kind, revokedAt: apiKeys.revokedAt, settings: tenants.settings })
      .from(apiKeys)
      .innerJoin(tenants, eq(tenants.id, apiKeys.tenantId))
      .where(eq(apiKeys.hash, hash));
    if (!row) return null;
    return { ...row, kind: row.kind as KeyKind, revokedAt: msOrNull(row.revokedAt), settings: settingsText(row.settings) };
  }

  async settingsOf(tenantId: string): Promise<string | null> {
    const [row] = await this.db.select({ settings: tenants.settings }).from(tenants).where(eq(tenants.id, tenantId));
    return row ? settingsText(row.settings) : null;
  }

  async setSettings(tenantId: string, settings: string): Promise<void> {
    await this.db
      .update(tenants)
      .set({ settings: JSON.parse(settings) })
      .where(eq(tenants.id, tenantId));
  }
}
