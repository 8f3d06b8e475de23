/**
 * Where a request's CPU goes, step by step: the server runs with INLET_STEP_TIMES=1 (see
 * src/lib/step-times.ts) and writes its totals on stderr when sent SIGUSR2; a phase takes a
 * snapshot before and after its measured load, and the difference per request is the table.
 * Steps are wall time of synchronous work (a thread's CPU clock costs a system call, microseconds
 * on this kind of machine, so it cannot be read around every step); a step that took over 2 ms at
 * once was descheduled, and its excess is shown as "stalls", outside the sum (shorter preemptions,
 * e.g. by wrk woken by an answer, stay in their step). What the main thread's CPU time holds beyond the steps
 * (Elysia's routing, hooks and response, the sockets' reads and writes, the collector's
 * work on that thread) is the rest; other threads (the collector's helpers, the WAL
 * checkpointer) are shown apart.
 */
import { STEPS, STEP_TIMES_LINE, type StepSnapshot } from "../../src/lib/step-times";
import { f1, table } from "./report";
import { sleep } from "./proc";

export interface StepServer {
  /** Sends SIGUSR2 to the server. */
  signal(signal: "SIGUSR2"): void;
  /** The server's stderr log. */
  log: string;
}

/** Asks the server for its totals and waits (up to 5 s) for the line. */
export async function stepSnapshot(server: StepServer): Promise<StepSnapshot> {
  const seen = (await readLines(server.log)).length;
  server.signal("SIGUSR2");
  for (let waited = 0; waited < 5000; waited += 20) {
    const lines = await readLines(server.log);
    if (lines.length > seen) return JSON.parse(lines.at(-1)!.slice(STEP_TIMES_LINE.length)) as StepSnapshot;
    await sleep(20);
  }
  throw new Error(`no step times on stderr (${server.log}) 5 s after SIGUSR2`);
}

async function readLines(log: string): Promise<string[]> {
  return (await Bun.file(log).text()).split("\n").filter((line) => line.startsWith(STEP_TIMES_LINE));
}

/** µs per unit (a request, or an event for batches) of each step between two snapshots, plus the CPU and the rest. */
export interface StepProfile {
  requests: number;
  perUnit: number;
  /** Process CPU (all threads) and the main thread's, per unit. */
  cpu: number;
  mainThread: number;
  steps: Record<string, number>;
  rest: number;
}

export function stepProfile(before: StepSnapshot, after: StepSnapshot, eventsPerRequest = 1): StepProfile {
  const requests = after.requests - before.requests;
  const units = requests * eventsPerRequest;
  const steps: Record<string, number> = {};
  let sum = 0;
  for (const name of STEPS) {
    const us = ((after.ms[name]! - before.ms[name]!) * 1000) / units;
    steps[name] = us;
    if (name !== "stalls") sum += us;
  }
  const cpu = (after.cpuMicros - before.cpuMicros) / units;
  // Bun's thread CPU clock has been seen to answer 0: then the main thread's rows are unknown ("-").
  const mainThread = after.threadCpuMicros > before.threadCpuMicros ? (after.threadCpuMicros - before.threadCpuMicros) / units : Number.NaN;
  return { requests, perUnit: eventsPerRequest, cpu, mainThread, steps, rest: mainThread - sum };
}

/** One column per phase: µs per request (per event for batches) of each step. */
export function stepTable(profiles: [string, StepProfile][]): string {
  const header = ["µs per request", ...profiles.map(([name, p]) => (p.perUnit > 1 ? `${name} (per event)` : name))];
  const row = (label: string, value: (p: StepProfile) => number) => [label, ...profiles.map(([, p]) => f1(value(p)))];
  const grouped = (prefix: string) => (p: StepProfile) => Object.entries(p.steps).reduce((s, [name, us]) => (name.startsWith(prefix) ? s + us : s), 0);
  const rows: string[][] = [];
  for (const name of STEPS) {
    if (name === "stalls") continue;
    if (name === "record: dedupe") rows.push(row("writer record step", grouped("record:")));
    rows.push(row(name.startsWith("record:") ? `  ${name.slice(8)}` : name, (p) => p.steps[name]!));
  }
  rows.push(row("rest of the main thread: Elysia, sockets, GC", (p) => p.rest));
  rows.push(row("main thread CPU", (p) => p.mainThread));
  rows.push(row("other threads CPU (collector, checkpointer)", (p) => p.cpu - p.mainThread));
  rows.push(row("process CPU", (p) => p.cpu));
  rows.push(row("(not CPU) stalls: steps' time beyond 2 ms at once", (p) => p.steps.stalls!));
  return table(header, rows);
}
