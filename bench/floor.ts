/**
 * Where a track request's cost goes, as a ladder of servers driven by the same wrk script, bodies
 * and connections as `bun run bench`, in alternating rounds, each as a ratio of the bare server:
 *
 *   bare Bun.serve          bench/baseline-server.ts: read the body, JSON.parse, answer
 *   Elysia floor            bench/elysia-floor-server.ts: Elysia with Inlet's track schema and a derive
 *   storage floor, main     bench/storage-floor-server.ts: the bare server that also stores each event
 *                           (one row of Inlet's events table, group commit) before answering
 *   storage floor, worker   the same with the SQLite writer on a worker thread
 *   Elysia + store          the Elysia floor that also stores as the storage floor (writer on the main thread)
 *   Elysia + enrich + store the same that also runs Inlet's enrichment (src/enrich) on the context
 *   parallel floor          the same on 2 HTTP worker threads sharing the port (SO_REUSEPORT), the
 *                           writer on the main thread (bench/parallel-floor-server.ts)
 *   Inlet                   `inlet serve` (LOG_LEVEL=warn), POST /v1/events/track
 *
 * The floors do nothing Inlet can skip (parse; store durably with dedupe and answer after
 * COMMIT; with Elysia, validate with the `t` schema; enrich) and nothing else (no key lookup,
 * visitors, sessions, metrics or logging), so Inlet's track rate cannot be above theirs on the
 * same machine.
 *
 *   bun run bench/floor.ts        (BENCH_SECONDS, BENCH_ROUNDS, BENCH_CONNECTIONS, BENCH_THREADS as in bench/run.ts)
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { writeBodyFiles } from "./lib/bodies";
import { startBaseline, startElysiaFloor, startInlet, startParallelFloor, startStorageFloor, type RunningServer } from "./lib/servers";
import { combine, findWrk, runLoad, type LoadResult } from "./lib/wrk";

const env = process.env;
const seconds = Number(env.BENCH_SECONDS ?? 10);
const rounds = Math.max(1, Number(env.BENCH_ROUNDS ?? 5));
/** wrk takes whole seconds. */
const slice = Math.max(1, Math.round(seconds / rounds));
const connections = Number(env.BENCH_CONNECTIONS ?? 50);
const threads = Number(env.BENCH_THREADS ?? 2);

const dir = mkdtempSync(join(tmpdir(), "inlet-floor-"));
const wrk = findWrk();
const bodies = await writeBodyFiles(dir);
const servers: RunningServer[] = [];
try {
  servers.push(await startBaseline(dir), await startElysiaFloor(dir), await startStorageFloor(dir, "main"), await startStorageFloor(dir, "worker"), await startElysiaFloor(dir, { store: true }), await startElysiaFloor(dir, { enrich: true, store: true }), await startParallelFloor(dir, 2));
  const inlet = await startInlet(dir, "inlet");
  servers.push(inlet);
  const names = ["bare Bun.serve (JSON.parse)", "Elysia + Inlet's track schema + derive", "storage floor, writer on the main thread", "storage floor, writer on a worker thread", "Elysia floor + storage", "Elysia floor + Inlet's enrichment + storage", "the same on 2 HTTP threads (SO_REUSEPORT)", "Inlet track (LOG_LEVEL=warn)"];
  const load = (server: RunningServer, tag: string, s: number) =>
    runLoad(wrk.path, { server, path: "/v1/events/track", data: bodies.track, tag, seconds: s, connections, threads, writeKey: inlet.writeKey });
  for (const server of servers) await load(server, `w-${server.name.replaceAll(" ", "-")}`, 3);
  const slices: LoadResult[][] = servers.map(() => []);
  for (let r = 0; r < rounds; r++) for (let i = 0; i < servers.length; i++) slices[i]!.push(await load(servers[i]!, `r${r}-${i}`, slice));
  const results = slices.map(combine);
  const bare = results[0]!;
  console.log(`wrk ${wrk.version}, ${threads} threads, ${connections} connections, ${rounds} alternating rounds of ${slice} s`);
  console.log(`${"server".padEnd(42)} ${"req/s".padStart(8)}  ${"÷ bare".padStart(6)}  rounds     ${"p99 ms".padStart(6)}  CPU server  wrk  non-2xx`);
  for (let i = 0; i < servers.length; i++) {
    const l = results[i]!;
    const ratios = slices[i]!.map((s, r) => s.rps / slices[0]![r]!.rps);
    const range = `${Math.min(...ratios).toFixed(2)}-${Math.max(...ratios).toFixed(2)}`;
    const pct = (x: number) => `${Math.round(x * 100)}%`;
    console.log(
      `${names[i]!.padEnd(42)} ${Math.round(l.rps).toLocaleString("en").padStart(8)}  ${(l.rps / bare.rps).toFixed(2).padStart(6)}  ${range.padEnd(9)}  ${l.latencyMs.p99.toFixed(1).padStart(6)}  ${pct(l.cpu.server).padStart(10)}  ${pct(l.cpu.wrk).padStart(3)}  ${l.non2xx}`,
    );
  }
} finally {
  for (const server of servers) await server.stop();
  rmSync(dir, { recursive: true, force: true });
}
