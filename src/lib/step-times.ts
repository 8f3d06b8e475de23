/**
 * Where a request's time goes, step by step: a benchmarking aid (`INLET_STEP_TIMES=1`, see
 * docs/performance.md). Each step adds the wall time of its synchronous work (a thread's CPU
 * clock costs a system call of microseconds, too dear around every step; the process's CPU
 * time is read at each snapshot instead). A step that took over STALL_MS at once was almost
 * surely descheduled (another process ran): what is above STALL_MS is counted apart, as a
 * stall, not as the step's work. On SIGUSR2 the
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
  "stalls",
] as const;
export type StepName = (typeof STEPS)[number];

const INDEX = new Map<string, number>(STEPS.map((name, i) => [name, i]));
export const step = (name: StepName): number => INDEX.get(name)!;

const COMMIT = step("commit");
const STALLS = step("stalls");
/** A step's synchronous work is microseconds (a batch of 100 events: under a millisecond); a wait of the scheduler's slice is milliseconds. */
const STALL_MS = 2;

export class StepClock {
  readonly ms = new Float64Array(STEPS.length);
  /** Time in record steps (their stalls included) so far, and at the last commit. */
  private recording = 0;
  private recordedAtLastCommit = 0;
  private readonly isRecordStep = STEPS.map((name) => name.startsWith("record:"));

  /** Adds the time since `since` (a `performance.now()` reading) to step `index`; returns now. */
  add(index: number, since: number): number {
    const now = performance.now();
    const took = now - since;
    if (this.isRecordStep[index]) this.recording += took;
    if (took > STALL_MS) {
      this.ms[index]! += STALL_MS;
      this.ms[STALLS]! += took - STALL_MS;
    } else this.ms[index]! += took;
    return now;
  }

  /** A group commit's transaction took `ms`: what its record steps did not take is the commit's own. */
  committed(ms: number): void {
    this.ms[COMMIT]! += ms - (this.recording - this.recordedAtLastCommit);
    this.recordedAtLastCommit = this.recording;
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
