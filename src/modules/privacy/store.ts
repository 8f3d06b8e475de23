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
   * By key, never by scanning a cache: a scan of a full cache held the writer tens of milliseconds.
   */
  forget(tenantId: string, deleted: Forgotten): void;
  /** Checkpoints the whole WAL into the database and truncates it to zero bytes; true when complete. */
  truncateWal(): Promise<boolean>;
  /** Resolves when writes that can wait may go on (the WAL is not about to be drained); at once without a checkpointer. */
  calm?(): Promise<void>;
  /** How long one step of privacy work may take here (default STEP_MS). */
  stepMs?: number;
}

/** What a privacy job deleted, as the caches know it. */
export interface Forgotten {
  /** Deleted visitors' keys (their anonymousId, or `user:` and their userId). */
  visitorKeys: readonly string[];
  /** Deleted sessions: id → the visitor it belongs to (whose latest session the cache may hold). */
  sessions: ReadonlyMap<string, string>;
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
    // No requests wait here: longer steps, fewer commits.
    stepMs: 100,
  };
}

/** Lets the event loop answer requests between two steps of a long task. */
export const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * How long one step of privacy work may take: one writer job (every call committed in the same
 * group waits for it) or one read between requests. Steps are bounded by time, not rows: a row
 * costs anything from microseconds (its pages cached) to milliseconds (read from disk, or a page
 * of four indexes zeroed by secure_delete).
 */
export const STEP_MS = 4;

/**
 * Runs `each` on `items` from the first, `batch` at a time, until `budgetMs` has passed (at least
 * once); answers how many items it ran. Inside a writer job: the caller drops them from `items`
 * only once the job is committed, since a job may be run again (its savepoint rolled back after
 * lock contention).
 */
export function forAWhile<T>(items: readonly T[], budgetMs: number, each: (batch: T[]) => void, batch = 1): number {
  const until = performance.now() + budgetMs;
  let done = 0;
  do {
    const next = items.slice(done, done + batch);
    each(next);
    done += next.length;
  } while (done < items.length && performance.now() < until);
  return done;
}

/**
 * The size of a step (rows of a rowid range to read, pages to vacuum), adjusted after each step
 * so that the next takes about `targetMs`: cold pages make a step slow, cached ones fast.
 */
export class StepRows {
  constructor(
    private rows: number,
    private readonly max: number,
    private readonly targetMs = STEP_MS,
    private readonly min = Math.min(rows, 100),
  ) {}

  get value(): number {
    return this.rows;
  }

  /** Runs `step` with the current size and sizes the next from how long it took. */
  time<T>(step: (rows: number) => T): T {
    const started = performance.now();
    const result = step(this.rows);
    const ms = performance.now() - started;
    const factor = Math.min(2, Math.max(0.25, this.targetMs / Math.max(ms, 0.05)));
    this.rows = Math.max(this.min, Math.min(this.max, Math.round(this.rows * factor)));
    return result;
  }
}

/** A JSON array, for `IN (SELECT value FROM json_each(?))`: any number of ids in one parameter. */
export const jsonList = (values: Iterable<string>): string => JSON.stringify([...values]);

/**
 * Deletes the merges from or into these leads (a JSON list): one statement per side, each a search
 * of its index (with `from IN … OR into IN …` SQLite searched by tenant alone: all its merges).
 */
export function deleteMergesOf(sqlite: Database, tenantId: string, leadList: string): void {
  sqlite.run("DELETE FROM lead_merges WHERE tenant_id = ? AND from_lead_id IN (SELECT value FROM json_each(?))", [tenantId, leadList]);
  sqlite.run("DELETE FROM lead_merges WHERE tenant_id = ? AND into_lead_id IN (SELECT value FROM json_each(?))", [tenantId, leadList]);
}
