/**
 * WAL checkpoints off the event loop. With synchronous=NORMAL a commit does not wait for the
 * disk; the checkpoint (copying the WAL back into the database file, then fsync) does. SQLite
 * runs it inside whichever commit crosses `wal_autocheckpoint` pages, which would stall the one
 * thread that answers every request for the length of an fsync. So the server's connection
 * turns automatic checkpoints off and a worker thread, with its own connection to the same
 * file, runs PASSIVE checkpoints (they never block the writer) as the WAL grows.
 *
 * PASSIVE alone never lets the WAL start over under steady load: SQLite rewinds the WAL only
 * when a write begins with every frame already copied back, and with commits every few
 * milliseconds a checkpoint never catches up. The WAL then grows without end (gigabytes within a
 * minute at full load, with its index mapped in memory). So once the WAL is past `walLimitBytes` (WAL_LIMIT_MB),
 * the worker asks the server to hold its commits, checkpoints the rest (only what was written
 * since its last pass), and lets commits go on; the next commit rewinds the WAL. Requests keep
 * being read and queued meanwhile, and their group commit waits those few milliseconds.
 *
 * The worker's code is inline (a Blob URL) so that the compiled single-file binary needs no
 * second entry point.
 */
import type { Database } from "bun:sqlite";
import { logger } from "../logger";

const workerSource = `
import { Database } from "bun:sqlite";
import { statSync } from "node:fs";
let db = null;
let walPath = "";
let limitFrames = 0;
let shrinkAboveBytes = Infinity;
const MAX_PASSES = 8;
const QUICK_PASS_MS = 2;
let draining = false;
// After a drain that could not copy everything (another process reading an old snapshot, e.g. a
// long export), ask again only later: the WAL cannot rewind until that reader is done.
let noDrainUntil = 0;
function walBytes() {
  try {
    return statSync(walPath).size;
  } catch {
    return 0;
  }
}
function checkpoint() {
  return db.query("PRAGMA wal_checkpoint(PASSIVE)").get();
}
// Passes until one is quick (it had little to copy: the server wrote little meanwhile), so that a
// pass with the server's commits held has only the last few frames left to copy; or until the WAL
// holds maxFrames (the server writes faster than the passes copy: waiting longer only grows it).
function catchUp(maxFrames = Infinity) {
  let result = checkpoint();
  for (let pass = 1; pass < MAX_PASSES && result.log <= maxFrames; pass++) {
    const started = performance.now();
    result = checkpoint();
    if (performance.now() - started < QUICK_PASS_MS) break;
  }
  return result;
}
self.onmessage = (message) => {
  const data = message.data;
  if (data.passive) {
    // First, without holding the server's commits: copy back what is there, so that the
    // truncation below (commits held) has only the last few frames left to copy.
    try {
      catchUp();
    } catch (error) {
      postMessage({ error: String((error && error.message) || error) });
    }
    postMessage({ passived: true });
    return;
  }
  if (data.truncate) {
    // The server holds its commits. The goal: the WAL cut to zero bytes, so that no page image
    // written before (e.g. of rows just erased) stays in it. Cutting a large file costs tens of
    // milliseconds (the file system frees its blocks), too long to hold commits, so the file is
    // first made smaller a step at a time: everything copied back and the WAL rewound (RESTART),
    // then a write of our own (the database header's user_version, rewritten with its own value)
    // is the first commit into the rewound WAL, and SQLite cuts the file to journal_size_limit.
    // With targetBytes (the periodic shrink back to the limit), the file is cut only down to that
    // size, and a reader holding an old snapshot makes the step give up at once instead of waiting.
    let answer = { truncated: true, done: true, complete: false };
    const target = data.targetBytes || 0;
    try {
      if (target > 0) db.run("PRAGMA busy_timeout = 0");
      const size = walBytes();
      if (target === 0 && (size <= data.stepBytes || data.last)) {
        const result = db.query("PRAGMA wal_checkpoint(TRUNCATE)").get();
        answer.complete = result.busy === 0;
      } else if (size <= target) {
        answer.complete = true;
      } else if (db.query("PRAGMA wal_checkpoint(RESTART)").get().busy === 0) {
        const next = Math.max(target, size - data.stepBytes);
        db.run("PRAGMA journal_size_limit = " + next);
        db.transaction(() => db.run("PRAGMA user_version = " + (db.query("PRAGMA user_version").get().user_version | 0)))();
        answer = { truncated: true, done: next <= target, complete: true };
      }
    } catch (error) {
      postMessage({ error: String((error && error.message) || error) });
    } finally {
      if (target > 0) db.run("PRAGMA busy_timeout = 1000");
    }
    postMessage(answer);
    return;
  }
  if (data.drained) {
    // The server holds its commits now: this pass copies everything, so the WAL can rewind.
    const started = performance.now();
    let result = null;
    try {
      result = checkpoint();
    } catch (error) {
      postMessage({ error: String((error && error.message) || error) });
    }
    draining = false;
    const complete = !!result && result.busy === 0 && result.log === result.checkpointed;
    if (!complete) noDrainUntil = performance.now() + 5000;
    postMessage({ resume: true, ms: performance.now() - started, complete });
    return;
  }
  db = new Database(data.path);
  walPath = data.path + "-wal";
  db.run("PRAGMA busy_timeout = 1000");
  // Its only commits are the header rewrites above: no fsync of the WAL for them.
  db.run("PRAGMA synchronous = NORMAL");
  const pageSize = db.query("PRAGMA page_size").get().page_size;
  limitFrames = Math.max(1, Math.floor(data.walLimitBytes / pageSize));
  shrinkAboveBytes = data.shrinkAboveBytes;
  setInterval(() => {
    if (draining) return;
    try {
      let result = checkpoint();
      if (result.log > limitFrames && performance.now() >= noDrainUntil) {
        // Work that can wait (an erasure's deletes) pauses from now until the WAL has rewound.
        postMessage({ pressure: true });
        // More passes first (what was written during the last one), so that the pass with
        // commits held has less to copy and fsync; while the WAL stays within twice the limit.
        result = catchUp(2 * limitFrames);
        // (Unless a commit rewound the WAL meanwhile.)
        if (result.log > limitFrames) {
          draining = true;
          postMessage({ drain: true, frames: result.log });
        } else postMessage({ pressure: false });
      } else if (walBytes() > shrinkAboveBytes) {
        // The file grew past the limit (a burst of writes between two passes): cut it back in
        // small steps (the server's own commits never cut it, see startCheckpointer).
        postMessage({ oversized: true });
      }
    } catch (error) {
      postMessage({ error: String((error && error.message) || error) });
    }
  }, data.intervalMs);
};
`;

/** A drain that takes longer than this lets commits go on regardless. */
const DRAIN_TIMEOUT_MS = 2000;
/**
 * How much a truncation cuts from the WAL file per step while commits are held, and the most
 * steps before it cuts the rest at once. Freeing a file's blocks takes time in proportion: 4 MiB
 * steps held commits up to tens of milliseconds under load; 1 MiB steps keep each hold short.
 */
const SHRINK_STEP_BYTES = 1024 * 1024;
const MAX_SHRINK_STEPS = 256;
/** How far past the limit the WAL file may be before it is cut back (a few steps' worth: each cut holds commits). */
const SHRINK_MARGIN_BYTES = 4 * SHRINK_STEP_BYTES;

export interface Checkpointer {
  stop(): Promise<void>;
  /**
   * Checkpoints the whole WAL and truncates it to zero bytes, in steps that each hold commits a
   * few milliseconds; true when it completed (false: a reader held an old snapshot, or no worker).
   */
  truncate(): Promise<boolean>;
  /**
   * Resolves once the WAL is not about to be drained (at once, mostly). Writes that can wait (an
   * erasure's, retention's) wait for it: while the passes before a drain catch up, their pages
   * would be left for the one pass that holds every request's commit (measured: 29–76 ms holds
   * during an erasure, 2–3 ms under track alone). Never longer than DRAIN_TIMEOUT_MS.
   */
  calm(): Promise<void>;
}

type WorkerMessage = {
  error?: string;
  drain?: boolean;
  frames?: number;
  resume?: boolean;
  ms?: number;
  complete?: boolean;
  truncated?: boolean;
  /** A truncation step that made the file smaller and left the rest for the next step. */
  done?: boolean;
  /** The WAL file is past the limit: cut it back. */
  oversized?: boolean;
  passived?: boolean;
  /** The WAL is past the limit and a drain may follow (true), or none will (false; a drain's resume also ends it). */
  pressure?: boolean;
};

/**
 * Starts checkpointing `path` from a worker and turns automatic checkpoints off on `sqlite`.
 * `writer` holds its commits while the WAL rewinds. For ":memory:" databases it does nothing.
 */
export function startCheckpointer(
  sqlite: Database,
  path: string,
  options: { writer: { pauseCommits(): () => void }; walLimitBytes: number; intervalMs?: number },
): Checkpointer {
  if (path === ":memory:") return { stop: async () => {}, truncate: async () => false, calm: async () => {} };
  sqlite.run("PRAGMA wal_autocheckpoint = 0");
  // The server's commits never cut the WAL file: when the WAL rewinds, SQLite would cut it back to
  // journal_size_limit inside that commit, and freeing tens of MiB of blocks (after a burst, e.g.
  // an erasure) takes tens of milliseconds that every request of the group waits. The worker
  // cuts it instead, SHRINK_STEP_BYTES at a time between commits (`shrink` below).
  sqlite.run("PRAGMA journal_size_limit = -1");
  const url = URL.createObjectURL(new Blob([workerSource], { type: "application/javascript" }));
  const worker = new Worker(url);
  let resume: (() => void) | null = null;
  let drainTimer: ReturnType<typeof setTimeout> | null = null;
  let drainFrames = 0;
  /** Passes and truncations asked for and not answered yet, oldest first (the worker answers in order). */
  const waiting: ((answer: WorkerMessage | null) => void)[] = [];
  /** Posts `message` to the worker; resolves with its answer, or null after DRAIN_TIMEOUT_MS. */
  const ask = (message: object) =>
    new Promise<WorkerMessage | null>((resolve) => {
      const timer = setTimeout(() => resolve(null), DRAIN_TIMEOUT_MS);
      timer.unref();
      waiting.push((answer) => {
        clearTimeout(timer);
        resolve(answer);
      });
      worker.postMessage(message);
    });
  /** Waiting for the WAL to calm down (see Checkpointer.calm); empty when it is calm. */
  let pressure: { done: Promise<void>; end: () => void } | null = null;
  const endPressure = () => {
    pressure?.end();
    pressure = null;
  };
  const release = () => {
    if (drainTimer !== null) clearTimeout(drainTimer);
    drainTimer = null;
    resume?.();
    resume = null;
    endPressure();
  };
  worker.onmessage = (message: MessageEvent<WorkerMessage>) => {
    const data = message.data;
    if (data.error) logger.warn("WAL checkpoint failed; it will be tried again", { error: data.error });
    if (data.pressure === true && !pressure) {
      const { promise, resolve } = Promise.withResolvers<void>();
      const timer = setTimeout(endPressure, DRAIN_TIMEOUT_MS);
      timer.unref();
      pressure = {
        done: promise,
        end: () => {
          clearTimeout(timer);
          resolve();
        },
      };
    }
    if (data.pressure === false) endPressure();
    if (data.drain) {
      // Between two group commits here (a transaction never spans an event-loop turn).
      drainFrames = data.frames ?? 0;
      resume = options.writer.pauseCommits();
      drainTimer = setTimeout(() => {
        logger.warn("WAL checkpoint took too long; commits go on without it", { timeoutMs: DRAIN_TIMEOUT_MS });
        release();
      }, DRAIN_TIMEOUT_MS);
      drainTimer.unref();
      worker.postMessage({ drained: true });
    }
    if (data.oversized && !shrinking) {
      shrinking = true;
      void cut(Math.floor(options.walLimitBytes)).finally(() => {
        shrinking = false;
      });
    }
    if (data.truncated || data.passived) waiting.shift()?.(data);
    if (data.resume) {
      release();
      logger.debug("WAL rewound", { frames: drainFrames, ms: Math.round((data.ms ?? 0) * 10) / 10, complete: data.complete });
    }
  };
  let shrinking = false;
  /**
   * Cuts the WAL file to `targetBytes` (0: checkpoints everything and truncates it to zero bytes)
   * in steps that each hold commits a few milliseconds; between steps they go on. True when it completed.
   */
  const cut = async (targetBytes: number): Promise<boolean> => {
    for (let step = 0; ; step++) {
      await ask({ passive: true });
      const resumeCommits = options.writer.pauseCommits();
      let answer: WorkerMessage | null;
      try {
        answer = await ask({ truncate: true, stepBytes: SHRINK_STEP_BYTES, targetBytes, last: step === MAX_SHRINK_STEPS });
      } finally {
        resumeCommits();
      }
      if (answer?.done !== false || (targetBytes > 0 && step === MAX_SHRINK_STEPS)) return answer?.complete === true;
    }
  };
  worker.postMessage({
    path,
    intervalMs: options.intervalMs ?? 200,
    walLimitBytes: options.walLimitBytes,
    shrinkAboveBytes: options.walLimitBytes + SHRINK_MARGIN_BYTES,
  });
  (worker as Worker & { unref(): void }).unref(); // the checkpointer never keeps the process alive
  return {
    truncate: () => cut(0),
    calm: async () => pressure?.done,
    async stop() {
      for (const answer of waiting.splice(0)) answer(null);
      worker.terminate();
      release();
      URL.revokeObjectURL(url);
      // Give the last word to the server's connection: closing it checkpoints what is left.
      sqlite.run("PRAGMA wal_autocheckpoint = 1000");
    },
  };
}
