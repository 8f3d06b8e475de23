/**
 * Where a request's time goes, step by step: a benchmarking aid (`INLET_STEP_TIMES=1`, see
 * docs/performance.md). Each step adds the wall time of its synchronous work; on SIGUSR2 the
 * server writes the totals, its CPU time and its request count as one line on stderr, and
 * `bun run bench` takes the difference of two such lines around a measured phase. The
 * difference between the CPU time and the steps' sum is what no step covers (the framework,
 * the sockets, the collector, other threads).
 *
 * Off (the default), `stepTimes` is null: each probe is one null check and nothing is recorded.
 */

/** The steps, in the order a request meets them. */
export const STEPS = [
  "request id",
  "auth",
  "body",
  "validate",
  "normalize",
  "enrich",
  "record: dedupe",
  "record: visitor",
  "record: session",
  "record: identity",
  "record: insert",
  "record: session count",
  "commit",
  "metrics",
  "log line",
  "debugger",
] as const;
export type StepName = (typeof STEPS)[number];

const INDEX = new Map<string, number>(STEPS.map((name, i) => [name, i]));
export const step = (name: StepName): number => INDEX.get(name)!;

/** The steps that run inside the writer's transaction (the commit step is the transaction minus them). */
const RECORD_STEPS = STEPS.flatMap((name, i) => (name.startsWith("record:") ? [i] : []));
const COMMIT = step("commit");

export class StepClock {
  readonly ms = new Float64Array(STEPS.length);
  private recordedAtLastCommit = 0;

  /** Adds the time since `since` (a `performance.now()` reading) to step `index`; returns now. */
  add(index: number, since: number): number {
    const now = performance.now();
    this.ms[index]! += now - since;
    return now;
  }

  /** A group commit's transaction took `ms`: what its record steps did not take is the commit's own. */
  committed(ms: number): void {
    const recorded = this.recorded();
    this.ms[COMMIT]! += ms - (recorded - this.recordedAtLastCommit);
    this.recordedAtLastCommit = recorded;
  }

  private recorded(): number {
    let sum = 0;
    for (const i of RECORD_STEPS) sum += this.ms[i]!;
    return sum;
  }

  /** Totals so far: milliseconds per step, CPU microseconds (user + system) of the process and of this thread, requests. */
  snapshot(requests: number): StepSnapshot {
    const cpu = process.cpuUsage();
    const thread = process.threadCpuUsage();
    return {
      requests,
      cpuMicros: cpu.user + cpu.system,
      threadCpuMicros: thread.user + thread.system,
      ms: Object.fromEntries(STEPS.map((name, i) => [name, this.ms[i]!])),
      memory: process.memoryUsage(),
    };
  }
}

export interface StepSnapshot {
  requests: number;
  /** All threads. */
  cpuMicros: number;
  /** The main (JavaScript) thread, where every step runs. */
  threadCpuMicros: number;
  /** Bytes: rss, heapTotal, heapUsed, external, arrayBuffers. */
  memory: NodeJS.MemoryUsage;
  ms: Record<string, number>;
}

/** The prefix of the SIGUSR2 line on stderr. */
export const STEP_TIMES_LINE = "inlet-step-times ";

/** Null unless turned on. */
export let stepTimes: StepClock | null = null;

export function enableStepTimes(): StepClock {
  stepTimes ??= new StepClock();
  return stepTimes;
}
