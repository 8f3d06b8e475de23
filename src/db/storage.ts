/**
 * Where Inlet stores: the SQLite file (the default, one instance) or PostgreSQL (DATABASE_URL,
 * any number of instances). Opened here, the one way for the server and the CLI; the composition
 * root (src/app.ts) builds the services of either.
 */
import type { SQL } from "bun";
import { openDatabase, type DatabaseHandle } from "./client";
import { connectPostgres, migratePostgres } from "./postgres/connect";
import { PostgresTenantStore } from "./postgres/tenants";
import { bounded } from "./postgres/errors";
import { PostgresActivity } from "./postgres/activity";
import { PostgresEventReads } from "./postgres/event-reads";
import { PostgresLeadReads } from "./postgres/lead-reads";
import type { ActivityStore, EventReadStore, LeadReadStore } from "./read-store";
import { SqliteActivity } from "./sqlite/activity";
import { SqliteEventReads } from "./sqlite/event-reads";
import { SqliteLeadReads } from "./sqlite/lead-reads";
import { SqliteTenantStore } from "./sqlite/tenants";
import type { TenantStore } from "./tenant-store";

export interface SqliteStorage {
  kind: "sqlite";
  database: DatabaseHandle;
  /** Tags of the migrations this opening applied (empty when up to date, or read-only). */
  applied: string[];
  close(): Promise<void>;
}

export interface PostgresStorage {
  kind: "postgres";
  sql: SQL;
  /** The URL without its password, for logs. */
  where: string;
  /** How long a statement, or a wait for a pooled connection, may take (PG_STATEMENT_TIMEOUT_MS). */
  timeoutMs: number;
  /** Tags of the migrations this opening applied (empty when up to date, or read-only). */
  applied: string[];
  close(): Promise<void>;
}

export type Storage = SqliteStorage | PostgresStorage;

export interface StorageSettings {
  db: string;
  synchronous: "NORMAL" | "FULL";
  databaseUrl: string;
  pgPoolSize: number;
  pgStatementTimeoutMs: number;
}

/** Opens the configured store and applies its migrations (on PostgreSQL once, under a lock, however many instances start). */
export async function openStorage(config: StorageSettings, options: { readonly?: boolean } = {}): Promise<Storage> {
  if (config.databaseUrl === "") {
    const database = openDatabase(config.db, { synchronous: config.synchronous, readonly: options.readonly });
    return { kind: "sqlite", database, applied: database.applied, close: async () => database.close() };
  }
  const sql = connectPostgres(config.databaseUrl, { poolSize: config.pgPoolSize, statementTimeoutMs: config.pgStatementTimeoutMs });
  let applied: string[] = [];
  try {
    if (!options.readonly) ({ applied } = await migratePostgres(sql));
  } catch (error) {
    await sql.close();
    throw error;
  }
  return {
    kind: "postgres",
    sql,
    where: redactedUrl(config.databaseUrl),
    timeoutMs: config.pgStatementTimeoutMs,
    applied,
    close: () => sql.close({ timeout: 5 }),
  };
}

/** Tenants and API keys in the opened store. */
export function tenantStoreOf(storage: Storage): TenantStore {
  return storage.kind === "sqlite"
    ? new SqliteTenantStore(storage.database.db)
    : bounded(new PostgresTenantStore(storage.sql), storage.timeoutMs, ["createTenant", "insertKey", "revokeKey", "setSettings"]);
}

/** The read side's stores (src/db/read-store.ts) of the configured store. */
export function readStoresOf(storage: Storage): { leads: LeadReadStore; events: EventReadStore; activity: ActivityStore } {
  if (storage.kind === "sqlite") {
    const { db } = storage.database;
    return { leads: new SqliteLeadReads(db), events: new SqliteEventReads(db), activity: new SqliteActivity(db) };
  }
  const { sql, timeoutMs } = storage;
  return {
    leads: bounded(new PostgresLeadReads(sql), timeoutMs),
    events: bounded(new PostgresEventReads(sql), timeoutMs),
    activity: bounded(new PostgresActivity(sql), timeoutMs),
  };
}

/** Why the store could not be opened, fit for one line: where (no password) and the reason (with the driver's code). */
export function openFailure(config: StorageSettings, error: unknown): { where: string; reason: string } {
  const where = config.databaseUrl === "" ? config.db : redactedUrl(config.databaseUrl);
  const message = error instanceof Error ? error.message : String(error);
  const code = (error as { code?: unknown } | null)?.code;
  const reason = typeof code === "string" && !message.includes(code) ? `${message} (${code})` : message;
  return { where, reason: reason.replace(/\s*\n\s*/g, " ").trim() };
}

/** A database URL with its password replaced, fit for logs and messages. */
export function redactedUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = "***";
    return parsed.href;
  } catch {
    return "(unparseable URL)";
  }
}
