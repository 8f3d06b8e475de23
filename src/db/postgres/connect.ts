/**
 * Opens a PostgreSQL database the one way Inlet does it (Bun's built-in client, a bounded pool, a
 * statement timeout) and applies the embedded drizzle migrations of drizzle/pg/.
 *
 * Several instances may start together against one database: migrations run under a
 * session-level advisory lock on one reserved connection, so exactly one instance applies them and
 * the others find them applied.
 */
import { SQL } from "bun";
import type { MigrationMeta } from "drizzle-orm/migrator";
import { drizzle } from "drizzle-orm/bun-sql";
import { embeddedPgMigrations } from "../migrations.generated";

export interface PostgresOptions {
  /** Connections in the pool. */
  poolSize?: number;
  /** A statement running longer than this is cancelled by the server (0: no limit). */
  statementTimeoutMs?: number;
}

/** The advisory lock key migrations run under: any constant that other software is unlikely to use. */
export const MIGRATION_LOCK_KEY = 0x1e7_5eed;

export function connectPostgres(url: string, options: PostgresOptions = {}): SQL {
  const statementTimeout = options.statementTimeoutMs ?? 0;
  return new SQL({
    url,
    max: options.poolSize ?? 10,
    // Sent as a startup parameter, so every pooled connection has it.
    connection: { statement_timeout: String(statementTimeout), application_name: "inlet" },
  });
}

export interface MigrationResult {
  /** Tags of the migrations this call applied (empty when the database was up to date). */
  applied: string[];
}

/** Applies the embedded PostgreSQL migrations that the database lacks, once across instances. */
export async function migratePostgres(client: SQL): Promise<MigrationResult> {
  const reserved = await client.reserve();
  try {
    await reserved`SELECT pg_advisory_lock(${MIGRATION_LOCK_KEY})`;
    try {
      const before = await appliedCount(reserved);
      const migrations: MigrationMeta[] = embeddedPgMigrations.map((m) => ({
        sql: m.sql.split("--> statement-breakpoint"),
        bps: m.breakpoints,
        folderMillis: m.when,
        hash: new Bun.CryptoHasher("sha256").update(m.sql).digest("hex"),
      }));
      const db = drizzle({ client: reserved as unknown as SQL });
      // dialect and session are drizzle internals that its own migrators use the same way.
      const internals = db as unknown as { dialect: { migrate(m: MigrationMeta[], s: unknown, c: object): Promise<void> }; session: unknown };
      await internals.dialect.migrate(migrations, internals.session, {});
      const after = await appliedCount(reserved);
      return { applied: embeddedPgMigrations.slice(before, after).map((m) => m.tag) };
    } finally {
      await reserved`SELECT pg_advisory_unlock(${MIGRATION_LOCK_KEY})`;
    }
  } finally {
    reserved.release();
  }
}

async function appliedCount(client: SQL): Promise<number> {
  const [{ exists }] = await client`SELECT to_regclass('drizzle.__drizzle_migrations') IS NOT NULL AS exists`;
  if (!exists) return 0;
  const [{ n }] = await client`SELECT count(*)::int AS n FROM drizzle.__drizzle_migrations`;
  return n;
}

/** True when every embedded migration is recorded as applied (for /ready). */
export async function postgresMigrationsApplied(client: SQL): Promise<boolean> {
  try {
    return (await appliedCount(client)) >= embeddedPgMigrations.length;
  } catch {
    return false;
  }
}
