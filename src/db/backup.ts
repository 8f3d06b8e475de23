/**
 * `inlet backup <file>`: a consistent copy of the live database. `VACUUM INTO` reads the database
 * inside one read transaction, so the copy is a snapshot of one moment (every event committed
 * before it started, none half-written) while the server keeps writing beside it (WAL mode).
 */
import { closeSync, existsSync, fsyncSync, linkSync, mkdirSync, openSync, rmSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { sql } from "drizzle-orm";
import type { Db } from "./client";

export interface BackupResult {
  file: string;
  bytes: number;
  ms: number;
}

export function backupDatabase(db: Db, target: string): BackupResult {
  const file = resolve(target);
  if (existsSync(file)) throw new Error(`${file} already exists; a backup never overwrites a file.`);
  mkdirSync(dirname(file), { recursive: true });
  // Written under a temporary name and then hard-linked into place: the target name appears only
  // once the copy is complete and synced, and link() fails rather than replace a file that
  // appeared meanwhile.
  const partial = `${file}.partial-${process.pid}`;
  const started = performance.now();
  try {
    db.run(sql`VACUUM INTO ${partial}`);
    syncFile(partial);
    try {
      linkSync(partial, file);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "EEXIST") {
        throw new Error(`${file} already exists; a backup never overwrites a file.`);
      }
      throw error;
    }
    syncFile(dirname(file)); // the directory too, so the new name survives a power loss
  } finally {
    rmSync(partial, { force: true });
  }
  return { file, bytes: Bun.file(file).size, ms: Math.round(performance.now() - started) };
}

/** fsync; on Linux a directory can be synced the same way. */
function syncFile(path: string): void {
  const fd = openSync(path, "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
