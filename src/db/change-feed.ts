/**
 * The change feed: how an instance tells every instance sharing its store that a key, a tenant's
 * settings or a suppression changed, so each drops what it cached of it.
 *
 * On PostgreSQL it is LISTEN/NOTIFY (src/db/postgres/change-feed.ts): every instance hears every
 * change, its own too (invalidation is idempotent). On SQLite it stays in the process
 * (`LocalChangeFeed`): another process on the same file, such as the command line, cannot reach
 * it, so there a change made beside the server still applies within the caches' TTL.
 *
 * A change only names what changed; listeners read the new state from the store themselves, so a
 * change heard twice, or late, does no harm. Besides changes, listeners get `reset`: changes may
 * have been missed (the feed's connection dropped), so flush everything.
 */
import { logger } from "../logger";

export const CHANGE_TOPICS = ["key", "tenant", "suppression"] as const;
export type ChangeTopic = (typeof CHANGE_TOPICS)[number];

export interface Change {
  topic: ChangeTopic;
  tenantId: string;
  /** The key id for `key`; the suppression id for `suppression` (optional: the tenant's whole list is reloaded anyway). */
  id?: string;
}

/** Flush everything: changes may have been missed. */
export interface Reset {
  topic: "reset";
  reason: string;
}

export type FeedEvent = Change | Reset;
export type ChangeListener = (event: FeedEvent) => void;

/**
 * A handle that can send a NOTIFY: a Bun SQL client, reserved connection or transaction. Given a
 * transaction, the change is delivered when it commits and dropped when it rolls back.
 */
export interface NotifyHandle {
  notify(channel: string, payload?: string): Promise<void>;
}

export interface ChangeFeed {
  /** Tells every instance (this one too). `via`: the transaction that made the change (PostgreSQL; ignored in process). */
  publish(change: Change, via?: NotifyHandle): Promise<void>;
  /** Calls `listener` for every change and reset from now on; answers the function that stops it. */
  subscribe(listener: ChangeListener): () => void;
  close(): Promise<void>;
}

/** The channel Inlet's instances NOTIFY and LISTEN on. */
export const CHANGE_CHANNEL = "inlet_changes";

/** A change as a NOTIFY payload (short JSON, far below PostgreSQL's 8000-byte limit). */
export function encodeChange(change: Change): string {
  return JSON.stringify(change.id === undefined ? { topic: change.topic, tenantId: change.tenantId } : change);
}

/** The change a payload holds, or null when it is not one this version knows. */
export function decodeChange(payload: string): Change | null {
  let value: unknown;
  try {
    value = JSON.parse(payload);
  } catch {
    return null;
  }
  if (typeof value !== "object" || value === null) return null;
  const { topic, tenantId, id } = value as Record<string, unknown>;
  if (!CHANGE_TOPICS.includes(topic as ChangeTopic) || typeof tenantId !== "string") return null;
  if (id !== undefined && typeof id !== "string") return null;
  return id === undefined ? { topic: topic as ChangeTopic, tenantId } : { topic: topic as ChangeTopic, tenantId, id };
}

/** The listeners of a feed: each is called in turn, and one that throws does not keep the others from hearing. */
export class FeedListeners {
  private readonly listeners = new Set<ChangeListener>();

  add(listener: ChangeListener): () => void {
    // Wrapped, so the same function subscribed twice is two subscriptions, each removed on its own.
    const entry: ChangeListener = (event) => listener(event);
    this.listeners.add(entry);
    return () => {
      this.listeners.delete(entry);
    };
  }

  emit(event: FeedEvent): void {
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch (error) {
        logger.error("change listener failed", { topic: event.topic, error });
      }
    }
  }

  clear(): void {
    this.listeners.clear();
  }
}

/** The feed of one process (SQLite): a publish calls the listeners before it returns. */
export class LocalChangeFeed implements ChangeFeed {
  private readonly listeners = new FeedListeners();

  async publish(change: Change): Promise<void> {
    this.listeners.emit(change);
  }

  subscribe(listener: ChangeListener): () => void {
    return this.listeners.add(listener);
  }

  async close(): Promise<void> {
    this.listeners.clear();
  }
}
