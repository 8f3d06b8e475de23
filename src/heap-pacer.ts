/**
 * Paces the garbage collector under load. Each request leaves a few KiB of garbage (bodies,
 * JSON strings for storage, answers), and left to itself JavaScriptCore lets the heap grow to
 * two or three times what is live before collecting, so a busy server's resident memory swings
 * up by tens of MiB and stays there. Starting a collection every 100 ms while requests arrive
 * keeps the heap nearer its live size (`Bun.gc(false)` starts one and returns; it costs no
 * measurable throughput). An idle server is left alone: no request, no collection.
 * Measured in docs/performance.md ("Memory").
 */

export interface HeapPacerOptions {
  intervalMs: number;
  /** A count that goes up with every request (the pacer collects only after it moved). */
  activity: () => number;
  /** For tests; `Bun.gc(false)` by default. */
  collect?: () => void;
  /** Calls `tick` every `ms` until the returned function is called; an unref'd setInterval by default (tests pass their own clock). */
  every?: (ms: number, tick: () => void) => () => void;
}

function everyInterval(ms: number, tick: () => void): () => void {
  const timer = setInterval(tick, ms);
  timer.unref();
  return () => clearInterval(timer);
}

export const HEAP_PACER_INTERVAL_MS = 100;

/** Starts pacing; the returned function stops it. The timer never keeps the process alive. */
export function startHeapPacer(options: HeapPacerOptions): () => void {
  const collect = options.collect ?? (() => Bun.gc(false));
  let seen = options.activity();
  return (options.every ?? everyInterval)(options.intervalMs, () => {
    const now = options.activity();
    if (now !== seen) collect();
    seen = now;
  });
}
