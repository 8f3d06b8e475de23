/**
 * The writer's per-event statements: drizzle builds their SQL from the schema, and bun:sqlite runs
 * it with the values given in order. A drizzle prepared query maps named placeholders to an array
 * and each result row to an object on every call; for an event's insert that mapping was about a
 * quarter of the statement's cost (2.5–3 µs of 10, measured with the events table in memory).
 */
import type { SQLQueryBindings, Statement } from "bun:sqlite";
import { is, Param, Placeholder } from "drizzle-orm";
import type { Db } from "../client";

/** A drizzle query not yet prepared (`db.insert(...)...`, `db.select(...)...`). */
interface BuiltQuery {
  toSQL(): { sql: string; params: unknown[] };
}

/**
 * Prepares `query` on the database's own connection. `order` names its placeholders in the order
 * its SQL takes them (drizzle writes an insert's columns in the table's order, not the order of
 * `values`); a query whose placeholders differ, or that carries a constant value, throws here, at
 * start, rather than binding a value to the wrong column.
 */
export function positional<Row = unknown>(db: Db, query: BuiltQuery, order: readonly string[]): Statement<Row, SQLQueryBindings[]> {
  const { sql, params } = query.toSQL();
  const names = params.map((param) => placeholderName(param) ?? `(a constant or encoded value: ${String(param)})`);
  if (names.length !== order.length || names.some((name, i) => name !== order[i])) {
    throw new Error(`The statement takes ${names.join(", ")}, not ${order.join(", ")}: ${sql}`);
  }
  return db.$client.prepare<Row, SQLQueryBindings[]>(sql);
}

/** Columns whose values bun:sqlite takes as they are (drizzle's encoders for them change nothing). */
const PLAIN_COLUMNS = new Set(["SQLiteText", "SQLiteInteger", "SQLiteReal", "SQLiteNumeric"]);

/** The placeholder's name: bare (a where clause), or as an insert's value of a plain column. */
function placeholderName(param: unknown): string | undefined {
  if (is(param, Placeholder)) return param.name;
  if (is(param, Param) && is(param.value, Placeholder)) {
    const columnType = (param.encoder as { columnType?: string } | undefined)?.columnType;
    if (columnType !== undefined && PLAIN_COLUMNS.has(columnType)) return param.value.name;
  }
  return undefined;
}
