/**
 * The framework floor: an Elysia route with Inlet's own track schema (`t`, the same compiled
 * validation), a derive reading the Authorization header, and the same answer shape, but no auth
 * lookup, enrichment, pipeline or storage. bench/floor.ts compares it with the bare Bun.serve, so
 * the cost of Inlet's own request path can be told apart from the framework's.
 *
 *   PORT=<port> bun run bench/elysia-floor-server.ts
 */
import { Elysia } from "elysia";
import { callSchemas, TrackResponse } from "../src/modules/events/model";

const app = new Elysia({ normalize: false, serve: { reusePort: false } })
  .derive(({ headers }) => ({ key: headers.authorization ?? null }))
  .get("/ready", () => "ok")
  .post("/v1/events/track", ({ body }) => ({ success: true, messageId: body.messageId === undefined ? "generated" : String(body.messageId), status: "accepted" as const }), {
    body: callSchemas.track,
    response: { 200: TrackResponse },
  })
  .listen({ port: Number(process.env.PORT ?? 0), hostname: "127.0.0.1" });

process.stderr.write(`elysia floor listening on ${app.server!.url.href}\n`);
process.on("SIGTERM", () => {
  void app.stop(true);
  process.exit(0);
});
