/**
 * The storage floor: the bare server (bench/baseline-server.ts: read the body, JSON.parse it)
 * that also stores each event durably before answering, and does nothing else: no framework,
 * auth, validation, enrichment, visitors or sessions. Each event becomes one row of Inlet's
 * `events` table in a group commit (bench/lib/floor-store.ts), answered {"ok":true} after its
 * COMMIT. bench/floor.ts drives it beside the bare server, so that Inlet's track rate can be read
 * against what storing the event costs at all on this machine.
 *
 *   PORT=<port> INLET_DB=<file> bun run bench/storage-floor-server.ts [--writer=main|worker]
 *
 * `--writer=worker` runs the SQLite writer on a worker thread, the most parallel design one
 * SQLite file allows: HTTP on one core, the writer on the other.
 */
import { startStore, toRow } from "./lib/floor-store";

const mode = process.argv.find((a) => a.startsWith("--writer="))?.slice("--writer=".length) ?? "main";
if (mode !== "main" && mode !== "worker") throw new Error(`--writer must be main or worker, not ${mode}`);
const path = process.env.INLET_DB;
if (!path) throw new Error("INLET_DB (the database file) is required");
const add = await startStore(path, mode);

const server = Bun.serve({
  hostname: "127.0.0.1",
  port: Number(process.env.PORT ?? 0),
  async fetch(request) {
    if (request.method === "GET") return new Response("ok");
    const body = JSON.parse(await request.text()) as Record<string, unknown>;
    await add(toRow(body, Date.now()));
    return Response.json({ ok: true });
  },
});

process.stderr.write(`storage floor (${mode} writer) listening on ${server.url.href}\n`);
process.on("SIGTERM", () => {
  server.stop(true);
  process.exit(0);
});
