/**
 * Where a track request's cost goes: a ladder of floors (bench/floor-server.ts), each doing only
 * work Inlet cannot skip, and Inlet itself, driven by the same wrk script, bodies and connections
 * as `bun run bench` in alternating rounds, each as a ratio of the bare server. Inlet's track rate
 * cannot be above a floor's on the same machine.
 *
 *   bun run bench/floor.ts        (BENCH_SECONDS, BENCH_ROUNDS, BENCH_WARMUP, BENCH_CONNECTIONS, BENCH_THREADS as in bench/run.ts)
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { writeBodyFiles } from "./lib/bodies";
import { killChildrenOnExit } from "./lib/proc";
import { f1, f2, n0, pct, table } from "./lib/report";
import { startFloor, startInlet, type RunningServer } from "./lib/servers";
import { alternate, combine, findWrk, runLoad } from "./lib/wrk";

const env = process.env;
const rounds = Math.max(1, Number(env.BENCH_ROUNDS ?? 5));
/** wrk takes whole seconds. */
const slice = Math.max(1, Math.round(Number(env.BENCH_SECONDS ?? 10) / rounds));
const warmup = Number(env.BENCH_WARMUP ?? 3);
const connections = Number(env.BENCH_CONNECTIONS ?? 50);
const threads = Number(env.BENCH_THREADS ?? 2);

const LADDER: [string, string[]][] = [
  ["bare Bun.serve (JSON.parse)", []],
  ["Elysia + Inlet's track schema + derive", ["--elysia"]],
  ["storage floor, writer on the main thread", ["--store=main"]],
  ["storage floor, writer on a worker thread", ["--store=worker"]],
  ["Elysia floor + storage", ["--elysia", "--store=main"]],
  ["Elysia floor + Inlet's enrichment + storage", ["--elysia", "--enrich", "--store=main"]],
  ["the same on 2 HTTP threads (reusePort)", ["--elysia", "--enrich", "--store=main", "--threads=2"]],
  ["Elysia + Inlet's validation and pipeline (visitor, session, identity, dedupe)", ["--pipeline"]],
];

const dir = mkdtempSync(join(tmpdir(), "inlet-floor-"));
killChildrenOnExit(() => rmSync(dir, { recursive: true, force: true }));
const wrk = findWrk();
const bodies = await writeBodyFiles(dir);
const servers: RunningServer[] = [];
for (const [, flags] of LADDER) servers.push(await startFloor(dir, flags));
const inlet = await startInlet(dir, "inlet");
servers.push(inlet);
const names = [...LADDER.map(([name]) => name), "Inlet track (LOG_LEVEL=warn)"];

const load = (server: RunningServer, tag: string, seconds: number) =>
  runLoad(wrk.path, { server, path: "/v1/events/track", data: bodies.track, tag, seconds, connections, threads, writeKey: inlet.writeKey });
if (warmup > 0) for (const [i, server] of servers.entries()) await load(server, `w${i}`, warmup);
const { slices, ratios } = await alternate(servers, rounds, (server, round, i) => load(server, `r${round}-${i}`, slice));
for (const server of servers) await server.stop();

const bare = combine(slices[0]!);
console.log(`wrk ${wrk.version}, ${threads} threads, ${connections} connections, ${rounds} alternating rounds of ${slice} s`);
console.log(
  table(
    ["server", "req/s", "÷ bare", "rounds", "p99 ms", "CPU server", "wrk", "non-2xx"],
    slices.map((own, i) => {
      const l = combine(own);
      const range = `${f2(Math.min(...ratios[i]!))}-${f2(Math.max(...ratios[i]!))}`;
      return [names[i]!, n0(l.rps), f2(l.rps / bare.rps), range, f1(l.latencyMs.p99), pct(l.cpu.server), pct(l.cpu.wrk), n0(l.non2xx)];
    }),
  ),
);
process.exit(0);
