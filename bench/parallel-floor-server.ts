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
import { startStore, type Row } from "./lib/floor-store";

const port = Number(process.env.PORT ?? 0);

if (Bun.isMainThread) {
  const threads = Number(process.argv.find((a) => a.startsWith("--threads="))?.slice("--threads=".length) ?? 2);
  if (!process.env.INLET_DB) throw new Error("INLET_DB (the database file) is required");
  if (!port) throw new Error("PORT must be set: every thread listens on it");
  const add = await startStore(process.env.INLET_DB, "main");
  const workers: Worker[] = [];
  for (let i = 0; i < threads; i++) {
    const worker = new Worker(import.meta.path);
    await new Promise<void>((resolve) => worker.addEventListener("message", () => resolve(), { once: true }));
    // Each post is one turn's rows of that thread, answered with its sequence number once committed.
    worker.onmessage = (message: MessageEvent<{ seq: number; rows: Row[] }>) => {
      const { seq, rows } = message.data;
      let left = rows.length;
      for (const row of rows) add(row, () => --left === 0 && worker.postMessage(seq));
    };
    workers.push(worker);
  }
  process.stderr.write(`parallel floor (${threads} HTTP threads, writer on the main thread) listening on http://127.0.0.1:${port}/\n`);
  process.on("SIGTERM", () => process.exit(0));
} else {
  let seq = 0;
  let rows: Row[] = [];
  let waiting: (() => void)[] = [];
  const posted = new Map<number, (() => void)[]>();
  self.onmessage = (message: MessageEvent<number>) => {
    for (const answer of posted.get(message.data)!) answer();
    posted.delete(message.data);
  };
  const add = (row: Row, done: () => void) => {
    rows.push(row);
    waiting.push(done);
    if (waiting.length > 1) return;
    setImmediate(() => {
      posted.set(++seq, waiting);
      postMessage({ seq, rows });
      rows = [];
      waiting = [];
    });
  };
  floorApp({ enrich: true, add, reusePort: true }).listen({ port, hostname: "127.0.0.1" });
  postMessage("listening");
}
