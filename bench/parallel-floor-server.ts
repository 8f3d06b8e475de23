/**
 * The parallel floor: the Elysia floor with Inlet's enrichment (bench/elysia-floor-server.ts
 * --enrich) on several HTTP threads at once, each a worker with its own Bun.serve on the same
 * port (SO_REUSEPORT: the kernel spreads connections over them), all handing their rows to the
 * one SQLite writer on the main thread (bench/lib/floor-store.ts), which commits each event-loop
 * turn's rows together and answers each thread when its rows are committed. The most parallel
 * shape a server on one SQLite file can take: bench/floor.ts drives it beside the others, to
 * see whether spreading the request path over both cores would lift the floor.
 *
 *   PORT=<port> INLET_DB=<file> bun run bench/parallel-floor-server.ts [--threads=2]
 */
import { floorApp } from "./lib/floor-app";
import { commitPosts, openStore, postingStore } from "./lib/floor-store";

const port = Number(process.env.PORT ?? 0);

if (Bun.isMainThread) {
  const threads = Number(process.argv.find((a) => a.startsWith("--threads="))?.slice("--threads=".length) ?? 2);
  if (!process.env.INLET_DB) throw new Error("INLET_DB (the database file) is required");
  if (!port) throw new Error("PORT must be set: every thread listens on it");
  const insert = openStore(process.env.INLET_DB);
  for (let i = 0; i < threads; i++) {
    const worker = new Worker(import.meta.path);
    await new Promise<void>((resolve) => worker.addEventListener("message", () => resolve(), { once: true }));
    commitPosts(worker, insert);
  }
  process.stderr.write(`parallel floor (${threads} HTTP threads, writer on the main thread) listening on http://127.0.0.1:${port}/\n`);
  process.on("SIGTERM", () => process.exit(0));
} else {
  floorApp({ enrich: true, add: postingStore(self), reusePort: true }).listen({ port, hostname: "127.0.0.1" });
  postMessage("listening");
}
