/** Awaiting what a change feed tells its listeners, with a guard instead of a sleep. */
import type { ChangeFeed, FeedEvent } from "../../src/db/change-feed";

export interface FeedRecorder {
  events: FeedEvent[];
  /** Resolves with the first event (already heard or to come) that matches, in order after `from`; rejects after `timeoutMs`. */
  next(match: (event: FeedEvent) => boolean, options?: { from?: number; timeoutMs?: number }): Promise<FeedEvent>;
  stop(): void;
}

export function recordFeed(feed: ChangeFeed): FeedRecorder {
  const events: FeedEvent[] = [];
  const waiters = new Set<() => void>();
  const stop = feed.subscribe((event) => {
    events.push(event);
    for (const wake of [...waiters]) wake();
  });
  return {
    events,
    stop,
    next(match, { from = 0, timeoutMs = 5000 } = {}) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const found = events.slice(from).find(match);
          if (!found) return;
          waiters.delete(check);
          clearTimeout(guard);
          resolve(found);
        };
        const guard = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`no matching feed event within ${timeoutMs} ms; heard: ${JSON.stringify(events.slice(from))}`));
        }, timeoutMs);
        waiters.add(check);
        check();
      });
    },
  };
}
