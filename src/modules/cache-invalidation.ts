/**
 * Connects the caches that must agree across instances to the store's change feed
 * (src/db/change-feed.ts): a revoked key, a changed tenant setting or a suppression made on any
 * instance is dropped from every instance's cache as soon as the feed delivers it. A reset (the
 * feed may have missed changes) flushes them all.
 *
 * Call it once the feed listens and the caches exist. A cache filled before the feed listened
 * may hold a change made in between: start the feed before loading them, or reset them here.
 */
import type { ChangeFeed } from "../db/change-feed";
import { logger } from "../logger";

export interface InvalidatedCaches {
  /** Resolved keys with their tenant's settings (KeyCache). */
  keys: { forget(match: { keyId?: string; tenantId?: string }): void; clear(): void };
  /** The suppression list (SuppressionList); absent when suppressions are not loaded. */
  suppressions?: { reload(): void | Promise<void> } | null;
}

/** Subscribes the caches to the feed; answers the function that unsubscribes them. */
export function invalidateCachesOnChange(feed: ChangeFeed, caches: InvalidatedCaches): () => void {
  const reloadSuppressions = caches.suppressions ? coalesced(() => caches.suppressions!.reload()) : () => {};
  return feed.subscribe((event) => {
    switch (event.topic) {
      case "key":
        // Without an id: every key of the tenant (too much is only a few extra lookups).
        caches.keys.forget(event.id === undefined ? { tenantId: event.tenantId } : { keyId: event.id });
        return;
      case "tenant":
        // Settings travel with each cached key of the tenant.
        caches.keys.forget({ tenantId: event.tenantId });
        return;
      case "suppression":
        reloadSuppressions();
        return;
      case "reset":
        caches.keys.clear();
        reloadSuppressions();
        return;
    }
  });
}

/**
 * Runs `task` now, or once more after the run in progress: a burst of changes costs at most two
 * reloads, and the last one starts after the last change was heard.
 */
function coalesced(task: () => void | Promise<void>): () => void {
  let running = false;
  let again = false;
  const run = async (): Promise<void> => {
    running = true;
    try {
      do {
        again = false;
        try {
          await task();
        } catch (error) {
          logger.error("cache reload after a change failed", { error });
        }
      } while (again);
    } finally {
      running = false;
    }
  };
  return () => {
    if (running) again = true;
    else void run();
  };
}
