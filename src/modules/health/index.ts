/** Liveness and readiness. */
import { Elysia, t } from "elysia";
import { type ReadinessDeps, readiness } from "./service";

export { MIN_FREE_BYTES, readiness, sqliteReadiness, type ReadinessDeps } from "./service";

const ReadinessBody = t.Object({ ready: t.Boolean(), checks: t.Record(t.String(), t.Boolean()) });

export function healthController(deps: ReadinessDeps) {
  return new Elysia({ tags: ["Operations"] })
    .get("/health", () => ({ status: "ok" as const }), {
      response: t.Object({ status: t.Literal("ok") }),
      detail: { summary: "Liveness: the process answers" },
    })
    .get(
      "/ready",
      async ({ set }) => {
        const result = await readiness(deps);
        if (!result.ready) set.status = 503;
        return result;
      },
      {
        response: {
          200: ReadinessBody,
          503: t.Object(
            {
              ready: t.Boolean({ example: false }),
              checks: t.Record(t.String(), t.Boolean(), { example: { migrations: true, writable: true, diskSpace: true, storage: false } }),
            },
            { description: "Not ready: a check failed (see checks)" },
          ),
        },
        detail: {
          summary: "Readiness: the database is reachable, migrated and writable (SQLite: with free space and no storage fault)",
        },
      },
    );
}
