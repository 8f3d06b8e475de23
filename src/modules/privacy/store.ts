/**
 * How the privacy work reaches the database: through the server's group-commit writer (so a
 * deletion is many small transactions between the requests' own, and ingestion never waits long),
 * or, from the command line, in plain transactions of its own.
 */
import type { Database } from "bun:sqlite";
import type { Db } from "../../db/client";

export interface PrivacyStore {
  sqlite: Database;
  db: Db;
  /** Runs `work` (synchronous) in a write transaction; resolves after the commit. */
  write<T>(work: () => T): Promise<T>;
  /**
   * Called inside the transaction that deleted these visitors and sessions: the in-memory caches
   * (visitors, session spans) drop them, so nothing deleted is served or written back from memory.
   */
  forget(visitorIds: readonly string[], sessionIds: ReadonlySet<string>): void;
  /** Checkpoints the whole WAL into the database and truncates it to zero bytes; true when complete. */
  truncateWal(): Promise<boolean>;
}

/** The command line's store: its own transactions, no caches, its own checkpoint. */
export function directStore(sqlite: Database, db: Db): PrivacyStore {
  return {
    sqlite,
    db,
    write: async (work) => sqlite.transaction(work)(),
    forget: () => {},
    truncateWal: async () => {
      const result = sqlite.query("PRAGMA wal_checkpoint(TRUNCATE)").get() as { busy: number } | null;
      return result?.busy === 0;
    },
  };
}

/** Lets the event loop answer requests between two steps of a long task. */
export const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** A JSON array, for `IN (SELECT value FROM json_each(?))`: any number of ids in one parameter. */
export const jsonList = (values: Iterable<string>): string => JSON.stringify([...values]);
