/**
 * Resolved API keys in a bounded LRU with a TTL, so authentication is a map lookup on the hot
 * path. A key revoked from the CLI (another process) stops working within the TTL.
 * Unknown keys are cached too (as misses), so a flood of bad keys does not become a flood of queries.
 *
 * A hit answers synchronously (no promise, no turn of the event loop); a miss answers a promise,
 * and concurrent misses of one key share one query. Callers: `const r = keys.resolve(key);
 * const resolved = r instanceof Promise ? await r : r;`.
 */
import { LRUCache } from "lru-cache";
import type { ResolvedKey, TenantService } from "./service";

const MISS = Symbol("miss");

export class KeyCache {
  private readonly cache: LRUCache<string, ResolvedKey | typeof MISS>;
  /** Lookups under way, by key: a second miss of the same key waits for the first. */
  private readonly pending = new Map<string, Promise<ResolvedKey | null>>();
  /**
   * Moved by forget() and clear(): a lookup that began before may have read the row before the
   * change, so it is answered to those already waiting but neither cached nor joined.
   */
  private generation = 0;
  hits = 0;
  misses = 0;

  constructor(
    private readonly tenants: Pick<TenantService, "findKey">,
    options: { max: number; ttlSeconds: number },
  ) {
    this.cache = new LRUCache({ max: options.max, ttl: Math.max(1, options.ttlSeconds * 1000), ttlAutopurge: false });
  }

  resolve(key: string): ResolvedKey | null | Promise<ResolvedKey | null> {
    const cached = this.cache.get(key);
    if (cached !== undefined) {
      this.hits++;
      return cached === MISS ? null : cached;
    }
    this.misses++;
    return this.pending.get(key) ?? this.lookUp(key);
  }

  private lookUp(key: string): Promise<ResolvedKey | null> {
    const generation = this.generation;
    const settle = () => {
      if (this.pending.get(key) === lookup) this.pending.delete(key);
    };
    const lookup: Promise<ResolvedKey | null> = this.tenants.findKey(key).then(
      (found) => {
        settle();
        if (generation === this.generation) this.cache.set(key, found ?? MISS);
        return found;
      },
      (error: unknown) => {
        // Not cached: the next request asks the store again.
        settle();
        throw error;
      },
    );
    this.pending.set(key, lookup);
    return lookup;
  }

  /**
   * Drops the cached entries of a key id or of a tenant, so that a revocation or a settings change
   * made through this server applies here at once (other processes: within the TTL).
   */
  forget(match: { keyId?: string; tenantId?: string }): void {
    this.generation++;
    this.pending.clear();
    const stale: string[] = [];
    for (const [key, value] of this.cache.entries()) {
      if (value !== MISS && (value.keyId === match.keyId || value.tenantId === match.tenantId)) stale.push(key);
    }
    for (const key of stale) this.cache.delete(key);
  }

  clear(): void {
    this.generation++;
    this.pending.clear();
    this.cache.clear();
  }
}
