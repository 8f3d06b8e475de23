/**
 * Opens the SQLite database the one way Inlet does it: WAL mode, pragmas for a write-heavy
 * single-writer service, and the embedded drizzle migrations applied before anything else runs.
 */
import { Database } from "bun:sqlite";
import { drizzle, type BunSQLiteDatabase } from "drizzle-orm/bun-sqlite";
import type { MigrationMeta } from "drizzle-orm/migrator";
import * as schema from "./schema";
import { embeddedMigrations } from "./migrations.generated";
import { createDatabaseFile } from "./files";

export type Db = BunSQLiteDatabase<typeof schema> & { $client: Database };

export interface DatabaseHandle {
  sqlite: Database;
  db: Db;
  path: string;
  /** Tags of the migrations this opening applied (empty when the file was up to date, or read-only). */
  applied: string[];
  close(): void;
}

export interface OpenOptions {
  /** NORMAL (the default) survives a process crash; FULL also survives power loss, at a cost per commit. */
  synchronous?: "NORMAL" | "FULL";
  readonly?: boolean;
}

export function openDatabase(path: string, options: OpenOptions = {}): DatabaseHandle {
  // 0600 in a 0700 folder when Inlet creates them; SQLite gives the -wal and -shm files the same mode.
  if (path !== ":memory:" && !options.readonly) createDatabaseFile(path);
  const sqlite = new Database(path, { create: !options.readonly, readonly: options.readonly, strict: true });
  // busy_timeout first: another process (the CLI beside a running server) may hold the lock.
  sqlite.run("PRAGMA busy_timeout = 5000");
  if (!options.readonly) {
    // Before anything creates a table: only a new database takes it (an older one keeps its mode
    // until `inlet privacy vacuum`). Space freed by deletions and retention can then be given
    // back to the file system bit by bit (PRAGMA incremental_vacuum, src/modules/privacy).
    sqlite.run("PRAGMA auto_vacuum = INCREMENTAL");
    sqlite.run("PRAGMA journal_mode = WAL");
    sqlite.run(`PRAGMA synchronous = ${options.synchronous ?? "NORMAL"}`);
  }
  sqlite.run("PRAGMA foreign_keys = ON");
  // Deleted rows are overwritten with zeros, in their pages and in freed pages: an erased person
  // must not stay readable in the file (docs/privacy.md).
  sqlite.run("PRAGMA secure_delete = ON");
  sqlite.run("PRAGMA temp_store = MEMORY");
  // 4 MiB: the benchmarks (track, batch, identify, alternating runs) are as fast as with 16 or
  // 64 MiB, since the OS caches the file too, and every MiB here stays resident: 16 -> 4 took the
  // RSS after 1M track events from 190 to 180-185 MiB, and 5 s later from 171 to 146.
  sqlite.run("PRAGMA cache_size = -4096");
  const db = drizzle(sqlite, { schema });
  const applied = options.readonly ? [] : migrate(sqlite, db);
  return {
    sqlite,
    db,
    path,
    applied,
    close() {
      try {
        sqlite.run("PRAGMA optimize");
      } catch {
        // read-only or closing after a fault: nothing to optimize
      }
      sqlite.close(false);
    },
  };
}

/** drizzle's migrator, fed from the SQL embedded at build time instead of the drizzle/ folder; the tags it applied. */
function migrate(sqlite: Database, db: Db): string[] {
  const before = appliedCount(sqlite);
  const migrations: MigrationMeta[] = embeddedMigrations.map((m) => ({
    sql: m.sql.split("--> statement-breakpoint"),
    bps: m.breakpoints,
    folderMillis: m.when,
    hash: new Bun.CryptoHasher("sha256").update(m.sql).digest("hex"),
  }));
  // dialect and session are drizzle internals that its own migrators use the same way.
  const internals = db as unknown as { dialect: { migrate(m: MigrationMeta[], s: unknown, c: object): void }; session: unknown };
  internals.dialect.migrate(migrations, internals.session, {});
  return embeddedMigrations.slice(before, appliedCount(sqlite)).map((m) => m.tag);
}

/** How many migrations the database records as applied (0 before the first). */
function appliedCount(sqlite: Database): number {
  try {
    const row = sqlite.query("SELECT count(*) AS n FROM __drizzle_migrations").get() as { n: number } | null;
    return row?.n ?? 0;
  } catch {
    return 0; // no migrations table yet
  }
}

/** True when every embedded migration is recorded as applied (for /ready). */
export function migrationsApplied(sqlite: Database): boolean {
  return appliedCount(sqlite) >= embeddedMigrations.length;
}
