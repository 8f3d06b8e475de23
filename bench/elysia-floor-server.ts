/**
 * The framework floor: an Elysia route with Inlet's own track schema (`t`, the same compiled
 * validation), a derive reading the Authorization header, and the same answer shape, but no auth
 * lookup, enrichment, pipeline or storage. bench/floor.ts compares it with the bare Bun.serve, so
 * the cost of Inlet's own request path can be told apart from the framework's.
 *
 *   PORT=<port> [INLET_DB=<file>] bun run bench/elysia-floor-server.ts [--enrich] [--store]
 *
 * `--enrich` runs Inlet's Enricher (src/enrich, embedded geo database) on each event's context;
 * `--store` stores each event in Inlet's events table before answering, as the storage floor
 * does (bench/lib/floor-store.ts, writer on this thread). With both, this is the least an
 * Inlet-shaped server must do per track call (the brief's framework, issue 4's enrichment, a
 * durable, deduplicated store), still without key lookup, visitors or sessions.
 */
import { floorApp } from "./lib/floor-app";
import { startStore, type Row } from "./lib/floor-store";

const enrich = process.argv.includes("--enrich");
let add: ((row: Row) => Promise<void>) | null = null;
if (process.argv.includes("--store")) {
  if (!process.env.INLET_DB) throw new Error("--store needs INLET_DB (the database file)");
  add = await startStore(process.env.INLET_DB, "main");
}

const app = floorApp({ enrich, add, reusePort: false }).listen({ port: Number(process.env.PORT ?? 0), hostname: "127.0.0.1" });

process.stderr.write(`elysia floor${enrich ? " + enrich" : ""}${add ? " + store" : ""} listening on ${app.server!.url.href}\n`);
process.on("SIGTERM", () => {
  void app.stop(true);
  process.exit(0);
});
