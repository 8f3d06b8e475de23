import type { Store } from "./store";
import type { InletEvent } from "./types";
import { bytes } from "./util";

/** A queued event, its UTF-8 size as JSON, and how many 5xx answers it has had. */
export interface Item {
  e: InletEvent;
  s: number;
  n?: number;
}

/** What a tab keeps in localStorage under `<prefix><tabId>`. */
interface Rec {
  /** heartbeat: last time the owner wrote */
  h: number;
  /** released: the owner's page was hidden or unloaded */
  r?: 1;
  /** claim: the tab adopting this queue, and when it claimed it */
  c?: string;
  t?: number;
  q: Item[];
}

export interface QueueOptions {
  store: Store;
  prefix: string;
  tab: string;
  maxEvents: number;
  maxBytes: number;
  now: () => number;
  later: (fn: () => void, ms: number) => unknown;
  /** a queue whose heartbeat is older than this (ms) is an orphan */
  stale?: number;
  /** how long a claim must stand unchallenged before the claimer takes the queue (ms) */
  settle?: number;
  /** called with the number of events dropped to keep the bounds */
  dropped?: (n: number) => void;
  /** called after a queue was adopted */
  adopted?: () => void;
}

export const STALE = 30000;
export const SETTLE = 250;

/**
 * The persistent queue of one tab, and the two-tab rule.
 *
 * Each tab (page load) owns one localStorage key and is the only writer of it, so two tabs never
 * overwrite each other's appends and never send each other's events. localStorage is the source of
 * truth: every change re-reads the key first.
 *
 * A queue left behind by a page that is gone is adopted by another tab (or by the next page load):
 * it is an orphan when its owner released it (pagehide, or hidden) or its heartbeat is older than
 * `stale`. Adopting takes two steps: write a claim into the record, then, `settle` ms later, take the
 * events and delete the key only if the claim is still ours. If two tabs claim at once, the last
 * write wins and only that tab adopts. An owner that was wrongly thought dead (throttled in the
 * background) rewrites its record, which erases the claim; an owner whose key was taken finds it
 * gone and drops its copy, so the adopter alone sends those events.
 */
export function createQueue(o: QueueOptions) {
  const s = o.store,
    key = o.prefix + o.tab,
    stale = o.stale ?? STALE,
    settle = o.settle ?? SETTLE;
  let items: Item[] = [],
    stored = false; // our key holds our items

  const read = (k: string): Rec | undefined => {
    try {
      return JSON.parse(s.get(k)!) || undefined;
    } catch {}
  };

  /** Reload our items from storage; a key that vanished while we had one means they were adopted. */
  function sync(): void {
    const r = read(key);
    if (r) items = r.q;
    else if (stored) items = [];
    stored = !!r;
  }

  function write(r?: 1): void {
    if (items.length) {
      stored = s.set(key, JSON.stringify({ h: o.now(), r, q: items }));
      // Storage full or blocked: keep the events in memory only, and never read back a stale copy.
      if (!stored) s.del(key);
    } else {
      s.del(key);
      stored = false;
    }
  }

  /** Drop the oldest events until both bounds hold. */
  function bound(): void {
    let total = 0,
      n = 0;
    for (const i of items) total += i.s;
    while (items.length > o.maxEvents || total > o.maxBytes) {
      total -= items.shift()!.s;
      n++;
    }
    if (n && o.dropped) o.dropped(n);
  }

  function adopt(): void {
    const now = o.now();
    for (const k of s.keys()) {
      if (k == key || k.indexOf(o.prefix)) continue;
      const r = read(k);
      if (!r || !(r.r || now - r.h > stale)) continue;
      if (r.c == o.tab) {
        if (now - r.t! >= settle) {
          sync();
          const have = new Set(items.map((i) => i.e.messageId));
          items = items
            .concat(r.q.filter((i) => !have.has(i.e.messageId)))
            .sort((a, b) => (a.e.timestamp < b.e.timestamp ? -1 : a.e.timestamp > b.e.timestamp ? 1 : 0));
          bound();
          write();
          s.del(k);
          o.adopted?.();
        }
      } else if (!r.c || now - r.t! > stale) {
        r.c = o.tab;
        r.t = now;
        s.set(k, JSON.stringify(r));
        o.later(adopt, settle);
      }
    }
  }

  return {
    get items(): Item[] {
      return items;
    },
    sync,
    /** Write our items (refreshes the heartbeat, clears a release mark and any claim). */
    save(): void {
      sync();
      write();
    },
    /** Append an event, enforcing the bounds. */
    add(e: InletEvent, size = bytes(JSON.stringify(e))): void {
      sync();
      items.push({ e, s: size });
      bound();
      write();
    },
    /** Remove events by messageId (sent, rejected or dropped). */
    remove(ids: Set<string>): void {
      sync();
      items = items.filter((i) => !ids.has(i.e.messageId));
      write();
    },
    /** Count a 5xx answer for these events; drop those that reached `max`. Returns how many were dropped. */
    fail(ids: Set<string>, max: number): number {
      sync();
      const before = items.length;
      items = items.filter((i) => !ids.has(i.e.messageId) || (i.n = (i.n || 0) + 1) < max);
      write();
      return before - items.length;
    },
    /** Mark our queue as an orphan other tabs may adopt (the page is hidden or going away). */
    release(): void {
      sync();
      if (items.length) write(1);
    },
    /** Delete every queue of this write key, this tab's and other tabs' (opt-out). */
    clearAll(): void {
      items = [];
      for (const k of s.keys()) if (!k.indexOf(o.prefix)) s.del(k);
      stored = false;
    },
    adopt,
  };
}

export type Queue = ReturnType<typeof createQueue>;
