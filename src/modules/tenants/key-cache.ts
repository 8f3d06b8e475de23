/**
 * Resolved API keys in a bounded LRU with a TTL, so authentication is a map lookup on the hot
 * path. A key revoked from the CLI (another process) stops working within the TTL.
 * Unknown keys are cached too (as misses), so a flood of bad keys does not become a flood of queries.
 */
import { LRUCache } from "lru-cache";
import type { ResolvedKey, TenantService } from "./service";

const MISS = Symbol("miss");

export class KeyCache {
  private readonly cache: LRUCache<string, ResolvedKey | typeof MISS>;
  hits = 0;
  misses = 0;

  constructor(
    private readonly tenants: TenantService,
    options: { max: number; ttlSeconds: number },
  ) {
    this.cache = new LRUCache({ max: options.max, ttl: Math.max(1, options.ttlSeconds * 1000), ttlAutopurge: false });
  }

  resolve(key: string): ResolvedKey | null {
    const cached = this.cache.get(key);
    if (cached !== undefined) {
      this.hits++;
      return cached === MISS ? null : cached;
    }
    this.misses++;
    const found = this.tenants.findKey(key);
    this.cache.set(key, found ?? MISS);
    return found;
  }

  /**
   * Drops the cached entries of a key id or of a tenant, so that a revocation or a settings change
   * made through this server applies here at once (other processes: within the TTL).
   */
  forget(match: { keyId?: string; tenantId?: string }): void {
    const stale: string[] = [];
    for (const [key, value] of this.cache.entries()) {
      if (value !== MISS && (value.keyId === match.keyId || value.tenantId === match.tenantId)) stale.push(key);
    }
    for (const key of stale) this.cache.delete(key);
  }

  clear(): void {
    this.cache.clear();
  }
}
