/**
 * `inlet backup <file>`: a consistent copy of the live database. `VACUUM INTO` reads the database
 * inside one read transaction, so the copy is a snapshot of one moment (every event committed
 * before it started, none half-written) while the server keeps writing beside it (WAL mode).
 *
 * The copy is written to a temporary file that Inlet creates itself, exclusively and without
 * following links (O_CREAT | O_EXCL | O_NOFOLLOW), under a random name, readable by its owner only
 * (0600): someone else who can write to the backup folder can neither plant a link that SQLite
 * would write the copy through, nor guess the name, nor read the copy.
 */
import { randomBytes } from "node:crypto";
import { closeSync, constants, existsSync, fstatSync, fsyncSync, linkSync, lstatSync, openSync, rmSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { sql } from "drizzle-orm";
import type { Db } from "./client";
import { createPrivateFile, ensurePrivateFolder } from "./files";

export interface BackupResult {
  file: string;
  bytes: number;
  ms: number;
}

export function backupDatabase(db: Db, target: string): BackupResult {
  const file = resolve(target);
  if (existsSync(file)) throw new Error(`${file} already exists; a backup never overwrites a file.`);
  const folder = dirname(file);
  ensurePrivateFolder(folder);
  const started = performance.now();
  const { path: partial, ino, dev } = createTemporary(folder, basename(file));
  try {
    // SQLite writes into an existing file when it is empty: ours, created above.
    db.run(sql`VACUUM INTO ${partial}`);
    // Still the file created above (not swapped for a link or another file meanwhile).
    const written = lstatSync(partial);
    if (!written.isFile() || written.ino !== ino || written.dev !== dev)
      throw new Error(`${partial} was replaced while the backup was written; nothing was kept.`);
    syncFile(partial);
    // Hard-linked into place, never renamed over: the target name appears only once the copy is
    // complete and synced, and link() fails rather than replace a file that appeared meanwhile.
    try {
      linkSync(partial, file);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "EEXIST") {
        throw new Error(`${file} already exists; a backup never overwrites a file.`);
      }
      throw error;
    }
    syncFile(folder); // the directory too, so the new name survives a power loss
  } finally {
    rmSync(partial, { force: true });
  }
  return { file, bytes: Bun.file(file).size, ms: Math.round(performance.now() - started) };
}

/** An empty file of our own beside the target, with a name nobody can guess. */
function createTemporary(folder: string, name: string): { path: string; ino: number; dev: number } {
  for (let attempt = 0; ; attempt++) {
    const path = join(folder, `.${name}.${randomBytes(12).toString("hex")}.partial`);
    try {
      const fd = createPrivateFile(path);
      try {
        const { ino, dev } = fstatSync(fd);
        return { path, ino, dev };
      } finally {
        closeSync(fd);
      }
    } catch (error) {
      // A name taken (96 random bits: only if planted by someone who saw it): another one.
      if ((error as NodeJS.ErrnoException).code === "EEXIST" && attempt < 5) continue;
      throw error;
    }
  }
}

/** fsync; on Linux a directory can be synced the same way. */
function syncFile(path: string): void {
  const fd = openSync(path, constants.O_RDONLY);
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
