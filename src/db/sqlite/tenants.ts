/** Tenants and API keys in SQLite (the contract: ../tenant-store.ts). */
import { count, eq, sql } from "drizzle-orm";
import type { Db } from "../client";
import { apiKeys, tenants } from "../schema";
import { keyListing, liveKeyMatch, type KeyRow, type KeyWithSettings, type TenantRow, type TenantStore } from "../tenant-store";

export class SqliteTenantStore implements TenantStore {
  private readonly keyByHashQuery;

  constructor(private readonly db: Db) {
    // Prepared once: it runs on every key cache miss.
    this.keyByHashQuery = db
      .select({ keyId: apiKeys.id, tenantId: apiKeys.tenantId, kind: apiKeys.kind, revokedAt: apiKeys.revokedAt, settings: tenants.settings })
      .from(apiKeys)
      .innerJoin(tenants, eq(tenants.id, apiKeys.tenantId))
      .where(eq(apiKeys.hash, sql.placeholder("hash")))
      .prepare();
  }

  async createTenant(tenant: Omit<TenantRow, "settings">, firstKey: Omit<KeyRow, "revokedAt">): Promise<void> {
    this.db.transaction((tx) => {
      tx.insert(tenants).values(tenant).run();
      tx.insert(apiKeys).values(firstKey).run();
    });
  }

  async tenantExists(tenantId: string): Promise<boolean> {
    return this.db.select({ id: tenants.id }).from(tenants).where(eq(tenants.id, tenantId)).get() !== undefined;
  }

  async countTenants(): Promise<number> {
    return this.db.select({ n: count() }).from(tenants).get()!.n;
  }

  async listTenants(): Promise<TenantRow[]> {
    return this.db
      .select({ id: tenants.id, name: tenants.name, settings: tenants.settings, createdAt: tenants.createdAt })
      .from(tenants)
      .orderBy(tenants.createdAt, tenants.id)
      .all();
  }

  async insertKey(key: Omit<KeyRow, "revokedAt">): Promise<void> {
    this.db.insert(apiKeys).values(key).run();
  }

  async listKeys(tenantId: string): Promise<Omit<KeyRow, "hash">[]> {
    return this.db.select(keyListing(apiKeys)).from(apiKeys).where(eq(apiKeys.tenantId, tenantId)).orderBy(apiKeys.createdAt, apiKeys.id).all();
  }

  async liveKeysMatching(idOrPrefix: string, tenantId?: string): Promise<Pick<KeyRow, "id" | "prefix" | "tenantId">[]> {
    return this.db
      .select({ id: apiKeys.id, prefix: apiKeys.prefix, tenantId: apiKeys.tenantId })
      .from(apiKeys)
      .where(liveKeyMatch(apiKeys, idOrPrefix, tenantId))
      .all();
  }

  async revokeKey(keyId: string, at: number): Promise<void> {
    this.db.update(apiKeys).set({ revokedAt: at }).where(eq(apiKeys.id, keyId)).run();
  }

  async keyByHash(hash: string): Promise<KeyWithSettings | null> {
    return this.keyByHashQuery.get({ hash }) ?? null;
  }

  async settingsOf(tenantId: string): Promise<string | null> {
    return this.db.select({ settings: tenants.settings }).from(tenants).where(eq(tenants.id, tenantId)).get()?.settings ?? null;
  }

  async setSettings(tenantId: string, settings: string): Promise<void> {
    this.db.update(tenants).set({ settings }).where(eq(tenants.id, tenantId)).run();
  }
}
