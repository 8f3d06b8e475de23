/** What a database file holds after a test: how often each messageId is stored, and SQLite's own integrity verdict. */
import { Database } from "bun:sqlite";
import { storeRows } from "../helpers/store-rows";

export interface Stored {
  /** messageId → number of rows (over all tenants). */
  counts: Map<string, number>;
  /** `PRAGMA integrity_check`: "ok" when the file is sound; null on PostgreSQL, whose files Inlet does not write. */
  integrity: string | null;
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

/** The same of the store at `path` (test/helpers/server.ts `testStore`): a SQLite file, or a PostgreSQL URL. */
export async function storedEventsOf(path: string): Promise<Stored> {
  if (!path.startsWith("postgres://")) return storedEvents(path);
  const rows = await storeRows(path, "SELECT message_id AS id, count(*) AS n FROM events GROUP BY message_id");
  return { counts: new Map(rows.map((r) => [r.id as string, r.n as number])), integrity: null };
}

/** The acknowledged ids not stored exactly once (an empty list is the pass). */
export function notStoredOnce(stored: Stored, acknowledged: Iterable<string>): string[] {
  return [...acknowledged].filter((id) => stored.counts.get(id) !== 1);
}

/**
 * Sessions whose stored numbers disagree with their events (start, last event, count, anonymous
 * count); an empty list is the pass. The server keeps active sessions' numbers in memory for a
 * few seconds, so this holds once it has stopped, or restarted after a crash.
 */
export function sessionsOutOfStep(dbPath: string): unknown[] {
  const sqlite = new Database(dbPath, { readonly: true });
  try {
    return sqlite.query(SESSIONS_OUT_OF_STEP).all();
  } finally {
    sqlite.close();
  }
}

/** sessionsOutOfStep on a test server's store, SQLite or PostgreSQL (test/helpers/store-rows.ts). */
export function storeSessionsOutOfStep(dbPath: string): Promise<unknown[]> {
  return storeRows(dbPath, SESSIONS_OUT_OF_STEP);
}

/** SQL of both stores. */
const SESSIONS_OUT_OF_STEP = `SELECT s.id, s.started_at, s.last_event_at, s.event_count, s.anonymous_events, e.first, e.last, e.n, e.anonymous
  FROM sessions s JOIN (SELECT session_id, min(timestamp) AS first, max(timestamp) AS last, count(*) AS n,
                               sum(CASE WHEN lead_id IS NULL THEN 1 ELSE 0 END) AS anonymous
                        FROM events GROUP BY session_id) e ON e.session_id = s.id
  WHERE s.started_at != e.first OR s.last_event_at != e.last OR s.event_count != e.n OR s.anonymous_events != e.anonymous`;
