/** Liveness and readiness. */
import { Elysia, t } from "elysia";
import type { Database } from "bun:sqlite";
import { accessSync, constants, statfsSync } from "node:fs";
import { dirname } from "node:path";
import { migrationsApplied } from "../../db/client";
import type { GroupCommitWriter } from "../../pipeline/writer";

export interface HealthDeps {
  sqlite: Database;
  dbPath: string;
  writer: GroupCommitWriter;
}

/** Below this much free space on the database's file system, writes are about to fail. */
export const MIN_FREE_BYTES = 1024 * 1024;

/**
 * Ready = migrations applied, the database file writable, at least MIN_FREE_BYTES free on its
 * file system, and no storage fault: after a fault (a full disk, a file system gone read-only)
 * each readiness check tries a real commit, so /ready recovers by itself once the fault clears.
 */
export function readiness({ sqlite, dbPath, writer }: HealthDeps): { ready: boolean; checks: Record<string, boolean> } {
  const checks = {
    migrations: migrationsApplied(sqlite),
    writable: isWritable(sqlite, dbPath),
    diskSpace: hasFreeSpace(dbPath),
    storage: writer.probeStorage(),
  };
  return { ready: checks.migrations && checks.writable && checks.diskSpace && checks.storage, checks };
}

function hasFreeSpace(path: string): boolean {
  if (path === ":memory:") return true;
  try {
    const fs = statfsSync(dirname(path));
    return fs.bavail * fs.bsize >= MIN_FREE_BYTES;
  } catch {
    return false;
  }
}

function isWritable(sqlite: Database, path: string): boolean {
  try {
    if (path !== ":memory:") accessSync(path, constants.W_OK);
    sqlite.run("BEGIN IMMEDIATE");
    sqlite.run("ROLLBACK");
    return true;
  } catch {
    try {
      sqlite.run("ROLLBACK");
    } catch {
      // no transaction was open
    }
    return false;
  }
}

export function healthController(deps: HealthDeps) {
  return new Elysia({ tags: ["Operations"] })
    .get("/health", () => ({ status: "ok" as const }), {
      response: t.Object({ status: t.Literal("ok") }),
      detail: { summary: "Liveness: the process answers" },
    })
    .get(
      "/ready",
      ({ set }) => {
        const result = readiness(deps);
        if (!result.ready) set.status = 503;
        return result;
      },
      {
        response: { 200: t.Object({ ready: t.Boolean(), checks: t.Record(t.String(), t.Boolean()) }), 503: t.Object({ ready: t.Boolean({ example: false }), checks: t.Record(t.String(), t.Boolean(), { example: { database: true, writer: false } }) }, { description: "Not ready: a check failed (see checks)" }) },
        detail: { summary: "Readiness: the database is migrated and writable, with free space and no storage fault" },
      },
    );
}
