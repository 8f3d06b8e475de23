/** Liveness and readiness. */
import { Elysia, t } from "elysia";
import type { Database } from "bun:sqlite";
import { accessSync, constants } from "node:fs";
import { migrationsApplied } from "../../db/client";
import type { GroupCommitWriter } from "../../pipeline/writer";

export interface HealthDeps {
  sqlite: Database;
  dbPath: string;
  writer: GroupCommitWriter;
}

/** Ready = migrations applied, the database file writable, and no storage fault since the last commit. */
export function readiness({ sqlite, dbPath, writer }: HealthDeps): { ready: boolean; checks: Record<string, boolean> } {
  const checks = {
    migrations: migrationsApplied(sqlite),
    writable: isWritable(sqlite, dbPath),
    storage: writer.storageFault === null,
  };
  return { ready: checks.migrations && checks.writable && checks.storage, checks };
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
        response: { 200: t.Object({ ready: t.Boolean(), checks: t.Record(t.String(), t.Boolean()) }), 503: t.Object({ ready: t.Boolean(), checks: t.Record(t.String(), t.Boolean()) }) },
        detail: { summary: "Readiness: the database is writable and migrated" },
      },
    );
}
