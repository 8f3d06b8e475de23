/** What readiness and metrics ask of the store: migrated, writable, room on its disk. */
import type { Database } from "bun:sqlite";
import { accessSync, constants, statfsSync } from "node:fs";
import { dirname } from "node:path";
import { migrationsApplied } from "./client";

/** Free bytes on the database's file system (for unprivileged users); 0 when it cannot be read, Infinity in memory. */
export function diskFreeBytes(dbPath: string): number {
  if (dbPath === ":memory:") return Number.POSITIVE_INFINITY;
  try {
    const fs = statfsSync(dirname(dbPath));
    return fs.bavail * fs.bsize;
  } catch {
    return 0;
  }
}

export class StoreHealth {
  constructor(
    private readonly sqlite: Database,
    readonly path: string,
  ) {}

  migrated(): boolean {
    return migrationsApplied(this.sqlite);
  }

  /** The file is writable and a write transaction can start (no read-only file system, no stuck lock). */
  writable(): boolean {
    try {
      if (this.path !== ":memory:") accessSync(this.path, constants.W_OK);
      this.sqlite.run("BEGIN IMMEDIATE");
      this.sqlite.run("ROLLBACK");
      return true;
    } catch {
      if (this.sqlite.inTransaction) this.sqlite.run("ROLLBACK");
      return false;
    }
  }

  freeBytes(): number {
    return diskFreeBytes(this.path);
  }
}
