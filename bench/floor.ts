/**
 * How much of a track request's cost is the framework's: a bare `Bun.serve` that parses the JSON
 * (bench/baseline-server.ts) against an Elysia route with Inlet's own track schema and a derive
 * (bench/elysia-floor-server.ts), driven by the same wrk script and bodies as `bun run bench`,
 * in alternating rounds. Inlet's track rate ÷ the bare server (from `bun run bench`) can then be
 * read against this floor.
 *
 *   bun run bench/floor.ts        (BENCH_SECONDS, BENCH_ROUNDS, BENCH_CONNECTIONS, BENCH_THREADS as in bench/run.ts)
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { writeBodyFiles } from "./lib/bodies";
import { startBaseline, startElysiaFloor, type RunningServer } from "./lib/servers";
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
const servers: RunningServer[] = [await startBaseline(dir), await startElysiaFloor(dir)];
try {
  const load = (server: RunningServer, tag: string, s: number) =>
    runLoad(wrk.path, { server, path: "/v1/events/track", data: bodies.track, tag, seconds: s, connections, threads, writeKey: "unused" });
  for (const server of servers) await load(server, `w-${server.name}`, 3);
  const slices: LoadResult[][] = [[], []];
  for (let r = 0; r < rounds; r++) for (let i = 0; i < servers.length; i++) slices[i]!.push(await load(servers[i]!, `r${r}-${i}`, slice));
  const [bare, floor] = slices.map(combine) as [LoadResult, LoadResult];
  const ratios = slices[1]!.map((s, r) => s.rps / slices[0]![r]!.rps);
  const line = (name: string, l: LoadResult) => `${name.padEnd(40)} ${Math.round(l.rps).toLocaleString("en").padStart(8)} req/s  non-2xx ${l.non2xx}`;
  console.log(`wrk ${wrk.version}, ${threads} threads, ${connections} connections, ${rounds} alternating rounds of ${slice} s`);
  console.log(line("bare Bun.serve (JSON.parse)", bare));
  console.log(line("Elysia + Inlet's track schema + derive", floor));
  console.log(`framework floor ÷ bare: ${(floor.rps / bare.rps).toFixed(2)} (rounds ${Math.min(...ratios).toFixed(2)}-${Math.max(...ratios).toFixed(2)})`);
} finally {
  for (const server of servers) await server.stop();
  rmSync(dir, { recursive: true, force: true });
}
