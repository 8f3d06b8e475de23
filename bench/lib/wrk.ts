/**
 * Runs wrk (the load generator) with bench/wrk/post.lua and parses its result line. Besides
 * wrk's own numbers it records the CPU time wrk and the server used during the phase, so the
 * report can show which side was saturated.
 */
import { join } from "node:path";
import { machineCpuSeconds, spawn } from "./proc";
import type { RunningServer } from "./servers";

const SCRIPT = join(import.meta.dir, "..", "wrk", "post.lua");

/** wrk's path and version, or a clear instruction when it is missing. */
export function findWrk(): { path: string; version: string } {
  const path = Bun.which("wrk");
  if (!path) {
    throw new Error("wrk (the HTTP load generator) is not installed. On Debian/Ubuntu: apt-get install -y wrk");
  }
  const out = Bun.spawnSync([path, "--version"]);
  const text = out.stdout.toString() + out.stderr.toString();
  return { path, version: /^wrk (\S+)/m.exec(text)?.[1] ?? text.split("\n")[0]!.trim() };
}

export interface LoadOptions {
  server: RunningServer;
  path: string;
  data: string;
  /** Makes messageIds unique per phase: a repeated id would be acknowledged as a duplicate, not stored. */
  tag: string;
  seconds: number;
  connections: number;
  threads: number;
  writeKey: string;
  /** Items per request: 0 sends each template as the whole body, N > 0 sends {batch:[N items]}. */
  batch?: number;
}

export interface LoadResult {
  /** Completed requests and those answered 2xx (wrk counts a status ≥ 400 as an error). */
  requests: number;
  ok: number;
  non2xx: number;
  socketErrors: { connect: number; read: number; write: number; timeout: number };
  seconds: number;
  rps: number;
  latencyMs: { p50: number; p90: number; p99: number; p999: number; mean: number; max: number };
  /**
   * CPU used during the phase, as a share of one core (1.0 = one core busy all the time): wrk,
   * the server, and every other process on the (shared) machine; idle is the unused share.
   */
  cpu: { wrk: number; server: number; others: number; idle: number };
}

interface WrkLine {
  requests: number;
  duration_us: number;
  errors: { connect: number; read: number; write: number; status: number; timeout: number };
  latency_us: { mean: number; max: number; p50: number; p90: number; p99: number; p999: number };
}

export async function runLoad(wrk: string, o: LoadOptions): Promise<LoadResult> {
  const args = [
    wrk,
    `-t${o.threads}`,
    `-c${o.connections}`,
    `-d${o.seconds}s`,
    "--timeout",
    "10s",
    "-s",
    SCRIPT,
    "-H",
    `Authorization: Bearer ${o.writeKey}`,
    "-H",
    "Content-Type: application/json",
    `${o.server.url}${o.path}`,
    "--",
    o.data,
    o.tag,
    String(o.batch ?? 0),
    new Date().toISOString(),
  ];
  const serverCpu0 = o.server.cpuSeconds();
  const machine0 = machineCpuSeconds();
  const started = performance.now();
  const child = spawn(args, { stdout: "pipe", stderr: "pipe" });
  const [stdout, stderr] = await Promise.all([new Response(child.stdout as ReadableStream).text(), new Response(child.stderr as ReadableStream).text()]);
  await child.exited;
  const wall = (performance.now() - started) / 1000;
  const serverCpu = o.server.cpuSeconds() - serverCpu0;
  const machine1 = machineCpuSeconds();
  const line = /^BENCH_RESULT (.*)$/m.exec(stdout)?.[1];
  if (child.exitCode !== 0 || !line) throw new Error(`wrk failed (exit ${child.exitCode}):\n${stdout}\n${stderr}`);
  const r = JSON.parse(line) as WrkLine;
  const usage = child.resourceUsage();
  const wrkCpu = usage ? Number(usage.cpuTime.total) / 1e6 : NaN;
  const seconds = r.duration_us / 1e6;
  const ms = (us: number) => us / 1000;
  return {
    requests: r.requests,
    ok: r.requests - r.errors.status,
    non2xx: r.errors.status,
    socketErrors: { connect: r.errors.connect, read: r.errors.read, write: r.errors.write, timeout: r.errors.timeout },
    seconds,
    rps: r.requests / seconds,
    latencyMs: {
      p50: ms(r.latency_us.p50),
      p90: ms(r.latency_us.p90),
      p99: ms(r.latency_us.p99),
      p999: ms(r.latency_us.p999),
      mean: ms(r.latency_us.mean),
      max: ms(r.latency_us.max),
    },
    cpu: {
      wrk: wrkCpu / wall,
      server: serverCpu / wall,
      others: Math.max(0, (machine1.busy - machine0.busy - wrkCpu - serverCpu) / wall),
      idle: (machine1.idle - machine0.idle) / wall,
    },
  };
}

/**
 * Several runs (slices) against one server as one result: rates over the total time, CPU shares
 * time-weighted, p50 the median of the slices' p50s, and p90/p99/p99.9/max the worst slice's (wrk
 * gives percentiles per run, not histograms to merge; the worst never flatters).
 */
export function combine(slices: LoadResult[]): LoadResult {
  const sum = (f: (r: LoadResult) => number) => slices.reduce((total, r) => total + f(r), 0);
  const worst = (f: (r: LoadResult) => number) => Math.max(...slices.map(f));
  const seconds = sum((r) => r.seconds);
  const share = (f: (r: LoadResult) => number) => sum((r) => f(r) * r.seconds) / seconds;
  const p50s = slices.map((r) => r.latencyMs.p50).sort((a, b) => a - b);
  return {
    requests: sum((r) => r.requests),
    ok: sum((r) => r.ok),
    non2xx: sum((r) => r.non2xx),
    socketErrors: {
      connect: sum((r) => r.socketErrors.connect),
      read: sum((r) => r.socketErrors.read),
      write: sum((r) => r.socketErrors.write),
      timeout: sum((r) => r.socketErrors.timeout),
    },
    seconds,
    rps: sum((r) => r.requests) / seconds,
    latencyMs: {
      p50: p50s[Math.floor(p50s.length / 2)]!,
      p90: worst((r) => r.latencyMs.p90),
      p99: worst((r) => r.latencyMs.p99),
      p999: worst((r) => r.latencyMs.p999),
      mean:
        sum((r) => r.latencyMs.mean * r.requests) /
        Math.max(
          1,
          sum((r) => r.requests),
        ),
      max: worst((r) => r.latencyMs.max),
    },
    cpu: { wrk: share((r) => r.cpu.wrk), server: share((r) => r.cpu.server), others: share((r) => r.cpu.others), idle: share((r) => r.cpu.idle) },
  };
}

/**
 * Alternating rounds: each round drives every server for one slice, in order, so that all of them
 * see the same machine (on a shared machine, conditions change within seconds). Returns each
 * server's slices, and each round's rate as a ratio of the first server's.
 */
export async function alternate<S>(
  servers: S[],
  rounds: number,
  slice: (server: S, round: number, index: number) => Promise<LoadResult>,
): Promise<{ slices: LoadResult[][]; ratios: number[][] }> {
  const slices: LoadResult[][] = servers.map(() => []);
  for (let round = 0; round < rounds; round++) {
    for (let i = 0; i < servers.length; i++) slices[i]!.push(await slice(servers[i]!, round, i));
  }
  return { slices, ratios: slices.map((own) => own.map((load, round) => load.rps / slices[0]![round]!.rps)) };
}
