/** What a database file holds after a test: how often each messageId is stored, and SQLite's own integrity verdict. */
import { Database } from "bun:sqlite";

export interface Stored {
  /** messageId → number of rows (over all tenants). */
  counts: Map<string, number>;
  /** `PRAGMA integrity_check`: "ok" when the file is sound. */
  integrity: string;
}

/** Opens the file read-only (the server must have stopped or be beside it in WAL mode). */
export function storedEvents(dbPath: string): Stored {
  const sqlite = new Database(dbPath, { readonly: true });
  try {
    const rows = sqlite.query("SELECT message_id AS id, count(*) AS n FROM events GROUP BY message_id").all() as { id: string; n: number }[];
    const { integrity_check } = sqlite.query("PRAGMA integrity_check").get() as { integrity_check: string };
    return { counts: new Map(rows.map((r) => [r.id, r.n])), integrity: integrity_check };
  } finally {
    sqlite.close();
  }
}

/** The acknowledged ids not stored exactly once (an empty list is the pass). */
export function notStoredOnce(stored: Stored, acknowledged: Iterable<string>): string[] {
  return [...acknowledged].filter((id) => stored.counts.get(id) !== 1);
}
