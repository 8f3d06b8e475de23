/**
 * The files Inlet creates (the database, its -wal and -shm, backups) are its own: 0600 in a
 * folder created 0700, as PostgreSQL does with its data directory, whatever the umask. SQLite
 * creates the -wal and -shm files with the database file's mode, so creating the database file
 * 0600 covers them. A folder or database that already exists keeps its mode; `inlet serve` warns
 * when others can read it (see `dataPermissionWarnings`).
 */
import { closeSync, constants, existsSync, mkdirSync, openSync, statSync } from "node:fs";
import { dirname } from "node:path";

const PRIVATE_FILE = 0o600;
const PRIVATE_FOLDER = 0o700;

/** Creates `folder` (and missing parents) 0700; an existing folder keeps its mode. */
export function ensurePrivateFolder(folder: string): void {
  // The umask can only narrow the mode given here, never widen it.
  mkdirSync(folder, { recursive: true, mode: PRIVATE_FOLDER });
}

/**
 * Creates `path` empty, 0600, exclusively and without following a link planted there; returns
 * its descriptor (open for writing). Fails with EEXIST when anything is at `path`, a link included.
 */
export function createPrivateFile(path: string): number {
  return openSync(path, constants.O_CREAT | constants.O_EXCL | constants.O_WRONLY | constants.O_NOFOLLOW, PRIVATE_FILE);
}

/** The database file: created 0600 (in a 0700 folder) when it does not exist yet. */
export function createDatabaseFile(path: string): void {
  ensurePrivateFolder(dirname(path));
  try {
    closeSync(createPrivateFile(path));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
  }
}

/**
 * What `inlet serve` warns about: a database file, or its folder, with any permission for the
 * group or other users (PostgreSQL refuses such a data directory; Inlet warns and goes on).
 */
export function dataPermissionWarnings(path: string): string[] {
  const warnings: string[] = [];
  for (const [what, file, wanted] of [
    ["database folder", dirname(path), "700"],
    ["database file", path, "600"],
  ] as const) {
    if (!existsSync(file)) continue;
    const mode = statSync(file).mode & 0o777;
    if (mode & 0o077) warnings.push(`The ${what} ${file} is open to other local users (mode ${mode.toString(8).padStart(3, "0")}); \`chmod ${wanted}\` it.`);
  }
  return warnings;
}
