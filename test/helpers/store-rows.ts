/**
 * Stored rows of a test server, read by SQL on whichever store it uses: its SQLite file, or (when
 * `dbPath` is a PostgreSQL URL, test/helpers/server.ts) its PostgreSQL database. For what the
 * product does not show through its API or CLI (a merged lead's pointer, the session rows).
 */
import { Database } from "bun:sqlite";
import { SQL } from "bun";

/**
 * The rows of `query` (SQL both stores understand, `?` placeholders), in SQLite's shapes on both:
 * times as epoch milliseconds, 64-bit integers (counts, ids) as numbers, JSON as text (jsonb's text:
 * its keys in jsonb's order, so compare it parsed).
 */
export async function storeRows(dbPath: string, query: string, ...params: (string | number)[]): Promise<Record<string, any>[]> {
  if (!dbPath.startsWith("postgres://")) {
    const db = new Database(dbPath, { readonly: true });
    try {
      return db.query(query).all(...params) as Record<string, any>[];
    } finally {
      db.close();
    }
  }
  let n = 0;
  const sql = new SQL({ url: dbPath, max: 1, bigint: true });
  try {
    const rows = (await sql.unsafe(
      query.replace(/\?/g, () => `$${++n}`),
      params,
    )) as Record<string, unknown>[];
    return rows.map((row) => Object.fromEntries(Object.entries(row).map(([name, value]) => [name, sqliteShape(value)])));
  } finally {
    await sql.close();
  }
}

function sqliteShape(value: unknown): unknown {
  if (value instanceof Date) return value.getTime();
  if (typeof value === "bigint") return Number(value);
  if (typeof value === "object" && value !== null) return JSON.stringify(value);
  return value;
}
