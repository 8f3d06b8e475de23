/**
 * Visitors: one per tenant and anonymousId (or userId for calls without one), with first and
 * last seen. Recent visitors sit in a bounded LRU, so the common case — the next event of a
 * visitor seen a moment ago — costs no query and no write: `last_seen_at` is written when it
 * moves by a minute or more (it is "last seen, to the minute"), `first_seen_at` when an older
 * event arrives, and `user_id` when a new one appears. Every write goes through the upsert,
 * whose answer refreshes the cache; identity changes (links, merges) update or drop entries.
 */
import { sql } from "drizzle-orm";
import { LRUCache } from "lru-cache";
import { type CanonicalEvent, LAST_SEEN_RESOLUTION_MS, visitorKey } from "../../pipeline/model";
import type { VisitorRef, VisitorRepository } from "../../pipeline/ports";
import type { Db } from "../client";
import { visitors } from "../schema";
import { positional } from "./statement";

/** What the upsert answers, under the columns' names. */
interface VisitorRow {
  id: string;
  lead_id: string | null;
  first_seen_at: number;
  last_seen_at: number;
  user_id: string | null;
}

interface CachedVisitor extends VisitorRef {
  firstSeenAt: number;
  lastSeenAt: number;
  userId: string | null;
}

export class VisitorStore implements VisitorRepository {
  private readonly upsert;
  private readonly cache: LRUCache<string, CachedVisitor>;
  hits = 0;
  misses = 0;

  constructor(db: Db, cacheSize: number) {
    this.cache = new LRUCache({ max: cacheSize });
    this.upsert = positional<VisitorRow>(
      db,
      db
        .insert(visitors)
        .values({
          id: sql.placeholder("id"),
          tenantId: sql.placeholder("tenantId"),
          key: sql.placeholder("key"),
          anonymousId: sql.placeholder("anonymousId"),
          userId: sql.placeholder("userId"),
          firstSeenAt: sql.placeholder("seenAt"),
          lastSeenAt: sql.placeholder("seenAt"),
        })
        .onConflictDoUpdate({
          target: [visitors.tenantId, visitors.key],
          set: {
            firstSeenAt: sql`min(${visitors.firstSeenAt}, excluded.first_seen_at)`,
            lastSeenAt: sql`max(${visitors.lastSeenAt}, excluded.last_seen_at)`,
            userId: sql`coalesce(excluded.user_id, ${visitors.userId})`,
          },
        })
        .returning({ id: visitors.id, leadId: visitors.leadId, firstSeenAt: visitors.firstSeenAt, lastSeenAt: visitors.lastSeenAt, userId: visitors.userId }),
      ["id", "tenantId", "key", "anonymousId", "userId", "seenAt", "seenAt"],
    );
  }

  /** The event's visitor, created or updated when needed; `created` when this event made it. */
  touch(tenantId: string, event: CanonicalEvent): { visitor: VisitorRef; created: boolean } {
    const key = visitorKey(event);
    const cacheKey = `${tenantId}\n${key}`;
    const userId = event.userId ?? null;
    const cached = this.cache.get(cacheKey);
    if (
      cached &&
      event.timestamp >= cached.firstSeenAt &&
      event.timestamp < cached.lastSeenAt + LAST_SEEN_RESOLUTION_MS &&
      (userId === null || userId === cached.userId)
    ) {
      this.hits++;
      return { visitor: cached, created: false };
    }
    this.misses++;
    const id = Bun.randomUUIDv7();
    const stored = this.upsert.get(id, tenantId, key, event.anonymousId ?? null, userId, event.timestamp, event.timestamp)!;
    const row: CachedVisitor = {
      id: stored.id,
      leadId: stored.lead_id,
      firstSeenAt: stored.first_seen_at,
      lastSeenAt: stored.last_seen_at,
      userId: stored.user_id,
    };
    this.cache.set(cacheKey, row);
    return { visitor: row, created: row.id === id };
  }

  /** Forgets these visitors of the tenant (deleted), by their keys. */
  forget(tenantId: string, keys: readonly string[]): void {
    for (const key of keys) this.cache.delete(`${tenantId}\n${key}`);
  }

  /** Forget cached visitors (after a rollback or a change to many visitors' leads). */
  clear(): void {
    this.cache.clear();
  }
}
