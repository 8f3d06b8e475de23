/**
 * Group commit: every write waits in one queue; once per event-loop turn a single writer runs
 * all waiting jobs in one SQLite transaction (each job in its own savepoint, so one failing job
 * rolls back alone), commits, and only then settles each job's promise. A 2xx therefore always
 * means committed, and concurrent requests share one commit instead of paying one each.
 */
import type { Database } from "bun:sqlite";
import { logger, rateLimitedLog } from "../../logger";
import { StorageBusyError, StorageError, StorageFaultError } from "../../pipeline/errors";
import type { CommitWriter, WriterHooks } from "../../pipeline/ports";
import { CommitHold, QueueBound } from "../../pipeline/queue-bound";

interface Job {
  work: () => unknown;
  weight: number;
  /** Who the work is for (a tenant id), for the per-owner share of the queue. */
  owner: string | undefined;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
  /** Runs that failed on lock contention so far. */
  busyRetries: number;
}

export interface WriterStats {
  commits: number;
  jobs: number;
  lastCommitJobs: number;
  lastCommitMs: number;
  queued: number;
}

/** SQLite failures that mean "storage is unavailable now" (a StorageFaultError, not an internal error). */
const STORAGE_FAULTS = /SQLITE_(FULL|READONLY|IOERR|BUSY|LOCKED|CANTOPEN|CORRUPT|NOTADB|PROTOCOL)|disk|readonly/i;

/** The SQLite error itself: drizzle wraps the errors of some queries (`db.run(sql...)`) in its own. */
function sqliteError(error: unknown): unknown {
  return error instanceof Error && error.name === "DrizzleError" && error.cause instanceof Error ? error.cause : error;
}

export function isStorageFault(failure: unknown): boolean {
  const error = sqliteError(failure);
  if (!(error instanceof Error)) return false;
  const code = (error as { code?: string }).code ?? "";
  return STORAGE_FAULTS.test(code) || STORAGE_FAULTS.test(error.message);
}

/**
 * Lock contention: another process (the CLI beside the server: a backup, `tenant set`) holds a
 * lock a moment. Some WAL lock paths answer SQLITE_BUSY at once instead of waiting out
 * busy_timeout, so such jobs are run again shortly (their savepoint rolled back, so they are
 * re-runnable) rather than refused; only when it lasts are they answered 503, and it is not a
 * storage fault (readiness does not flip over a lock).
 */
const BUSY = /SQLITE_(BUSY|LOCKED)|database (table )?is locked/i;
const BUSY_RETRIES = 6;
/** Doubling from here: 10, 20, 40 ... 320 ms, about 0.6 s in all. */
const BUSY_FIRST_DELAY_MS = 10;
/** How long without a commit counts as idle, for deferred work. */
const IDLE_MS = 50;

export function isBusy(failure: unknown): boolean {
  const error = sqliteError(failure);
  if (!(error instanceof Error)) return false;
  return BUSY.test((error as { code?: string }).code ?? "") || BUSY.test(error.message);
}

export class GroupCommitWriter implements CommitWriter {
  private queue: Job[] = [];
  private readonly bound: QueueBound;
  private scheduled = false;
  private closed = false;
  /** The next run is the idle one (deferred work done in full). */
  private idleRun = false;
  private idleTimer: ReturnType<typeof setTimeout> | null = null;
  private lastCommitAt = 0;
  private readonly hold = new CommitHold(() => {
    if (this.queue.length > 0 && !this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
  });
  private readonly runInSavepoint: (job: Job) => unknown;
  private readonly runAll: (jobs: Job[], results: unknown[], failed: boolean[]) => void;
  /** Set after a storage fault, cleared by the next successful commit or probe (feeds /ready). */
  storageFault: string | null = null;
  readonly stats: WriterStats = { commits: 0, jobs: 0, lastCommitJobs: 0, lastCommitMs: 0, queued: 0 };
  // A failing group fails every job in it: one line per job would flood the log.
  private readonly logFault = rateLimitedLog("error");
  private readonly logBusy = rateLimitedLog("warn");

  constructor(
    private readonly sqlite: Database,
    private readonly options: {
      maxQueuedWeight: number;
      /**
       * The most one owner (tenant) may have queued, so one flooding tenant cannot fill the queue
       * and make every other tenant's writes fail; past it, that owner's writes are refused as busy
       * (503, Retry-After). Default: the whole queue.
       */
      maxOwnerWeight?: number;
      /**
       * What modules keep in memory beside the database (src/pipeline/sessions): told of
       * rollbacks, and their deferred work shares the writer's transactions (`idle` when the
       * writer has been quiet for IDLE_MS, or is closing).
       */
      hooks?: WriterHooks;
      onCommit?: (jobs: number, ms: number) => void;
    },
  ) {
    // bun:sqlite runs a transaction function inside another one as a SAVEPOINT.
    this.bound = new QueueBound(options.maxQueuedWeight, options.maxOwnerWeight);
    this.runInSavepoint = sqlite.transaction((job: Job) => job.work());
    this.runAll = sqlite.transaction((jobs: Job[], results: unknown[], failed: boolean[]) => {
      this.options.hooks?.deferred.before();
      for (let i = 0; i < jobs.length; i++) {
        try {
          results[i] = this.runInSavepoint(jobs[i]!);
        } catch (error) {
          results[i] = error;
          failed[i] = true;
          // Before the next job: its work must not build on the rolled-back job's cached state.
          this.options.hooks?.onJobRolledBack();
        }
      }
      this.options.hooks?.deferred.after(this.closed ? "closing" : this.idleRun ? "idle" : "busy");
    });
  }

  /**
   * Queues `work` (synchronous database work) for the next group commit. `weight` is the number
   * of events it writes, for the backpressure bound. Resolves with its result after the commit.
   */
  submit<T>(weight: number, work: () => T, owner?: string): Promise<T> {
    if (this.closed) return Promise.reject(new StorageBusyError("The server is shutting down.", 5));
    const refused = this.bound.admit(weight, owner, this.queue.length === 0);
    if (refused) return Promise.reject(refused);
    return this.enqueue(weight, work, owner);
  }

  /** Queues a job whose weight the bound has taken already (or weighs nothing: the writer's own). */
  private enqueue<T>(weight: number, work: () => T, owner?: string): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ work, weight, owner, resolve: resolve as (v: unknown) => void, reject, busyRetries: 0 });
      this.stats.queued = this.bound.queued;
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  get queuedEvents(): number {
    return this.bound.queued;
  }

  /**
   * Holds commits until the returned function is called (jobs keep queueing, within the same
   * backpressure bound): the WAL checkpointer uses it to let the WAL start over (see
   * src/db/checkpointer.ts). Closing commits regardless.
   */
  pauseCommits(): () => void {
    return this.hold.take();
  }

  /** Runs and commits everything queued now. */
  flush(): void {
    this.scheduled = false;
    if (this.queue.length === 0) return;
    if (this.hold.held && !this.closed) return; // the release schedules the next flush
    const jobs = this.queue;
    this.queue = [];
    this.bound.clear();
    this.stats.queued = 0;
    const results: unknown[] = new Array(jobs.length);
    const failed: boolean[] = new Array(jobs.length).fill(false);
    const started = performance.now();
    try {
      this.runAll(jobs, results, failed);
    } catch (error) {
      // The commit itself failed: nothing of this group is stored. SQLite rolls back on most
      // failed COMMITs; where it does not (e.g. SQLITE_BUSY), roll back here, or every later
      // BEGIN would fail with "cannot start a transaction within a transaction".
      this.rollbackIfOpen();
      this.options.hooks?.onRollback();
      const retry = this.retryIfBusy(jobs, error);
      const answer = this.toClientError(error);
      for (const job of jobs) if (!retry.has(job)) job.reject(answer);
      return;
    }
    const ms = performance.now() - started;
    this.idleRun = false;
    this.lastCommitAt = performance.now();
    this.scheduleIdle();
    this.storageFault = null;
    this.stats.commits++;
    this.stats.jobs += jobs.length;
    this.stats.lastCommitJobs = jobs.length;
    this.stats.lastCommitMs = ms;
    this.options.onCommit?.(jobs.length, ms);
    const busy = jobs.filter((_, i) => failed[i] && isBusy(results[i]));
    const retry = busy.length > 0 ? this.retryIfBusy(busy, results[failed.indexOf(true)]) : new Set<Job>();
    for (let i = 0; i < jobs.length; i++) {
      if (retry.has(jobs[i]!)) continue;
      if (failed[i]) jobs[i]!.reject(this.toClientError(results[i]));
      else jobs[i]!.resolve(results[i]);
    }
  }

  /** After a commit that left deferred work: an idle run once no commit happened for IDLE_MS. */
  private scheduleIdle(): void {
    if (this.idleTimer !== null || this.closed || !this.options.hooks?.deferred.pending()) return;
    const check = () => {
      const quiet = performance.now() - this.lastCommitAt;
      if (quiet < IDLE_MS) {
        this.idleTimer = setTimeout(check, IDLE_MS - quiet);
        this.idleTimer.unref();
        return;
      }
      this.idleTimer = null;
      if (this.closed || !this.options.hooks?.deferred.pending()) return;
      this.idleRun = true;
      // No request waits on this job: its failure is logged here (storage faults already were).
      this.enqueue(0, () => undefined).catch((error) => logUnlessLogged("deferred writes failed; they are tried again with the next commit", error));
    };
    this.idleTimer = setTimeout(check, IDLE_MS);
    this.idleTimer.unref();
  }

  /** Puts jobs that failed on lock contention back at the head of the queue, for a flush shortly. */
  private retryIfBusy(jobs: Job[], error: unknown): Set<Job> {
    if (this.closed || !isBusy(error)) return new Set();
    const retry = jobs.filter((job) => job.busyRetries < BUSY_RETRIES);
    if (retry.length === 0) return new Set();
    let attempt = 0;
    for (const job of retry) {
      attempt = Math.max(attempt, job.busyRetries++);
      this.bound.add(job.weight, job.owner);
    }
    this.queue = [...retry, ...this.queue];
    this.stats.queued = this.bound.queued;
    setTimeout(() => this.flush(), BUSY_FIRST_DELAY_MS * 2 ** attempt).unref();
    return new Set(retry);
  }

  /**
   * After a storage fault: whether a commit works again, tried with a real one-page commit
   * (rewriting the header's user_version with its own value, which changes nothing), because a
   * transaction that is rolled back never touches the disk and so cannot tell. Success clears
   * the fault, so readiness recovers without waiting for traffic that a not-ready server does
   * not get. Without a fault it answers true without writing.
   */
  probeStorage(): boolean {
    if (this.storageFault === null) return true;
    try {
      const { user_version } = this.sqlite.query("PRAGMA user_version").get() as { user_version: number };
      this.sqlite.run("BEGIN IMMEDIATE");
      this.sqlite.run(`PRAGMA user_version = ${Number(user_version) | 0}`);
      this.sqlite.run("COMMIT");
      this.storageFault = null;
      logger.info("storage fault cleared: a probe commit succeeded");
      return true;
    } catch (error) {
      this.rollbackIfOpen();
      this.storageFault = (error as Error).message;
      return false;
    }
  }

  private rollbackIfOpen(): void {
    if (!this.sqlite.inTransaction) return;
    try {
      this.sqlite.run("ROLLBACK");
    } catch {
      // nothing more to undo
    }
  }

  /**
   * Stops taking work and commits what is queued, with the deferred work in full. Resolves once
   * committed; rejects when the last commit failed while deferred work was pending, i.e. numbers
   * of events already acknowledged (session counts) could not be written (the error's cause says
   * why; the next start counts them again from the events). Queued jobs that failed are answered
   * to their own callers.
   */
  close(): Promise<void> {
    this.closed = true;
    if (this.idleTimer !== null) clearTimeout(this.idleTimer);
    this.idleTimer = null;
    // The last run does the deferred work in full, with or without jobs left.
    this.idleRun = true;
    const last = this.options.hooks?.deferred.pending() ? this.enqueue(0, () => undefined) : Promise.resolve();
    this.flush();
    return last.catch((error) => {
      throw new Error("the last commit failed: deferred writes (session counts) could not be stored", { cause: sqliteError(error) });
    });
  }

  /** A failure as the pipeline knows it: storage busy or at fault (logged here, once), else as it is. */
  private toClientError(error: unknown): unknown {
    if (error instanceof StorageError) return error;
    if (isBusy(error)) {
      this.logBusy("the database stayed locked by another process; writes refused", { error });
      return new StorageBusyError("The database is busy; retry shortly.", 1, { cause: error });
    }
    if (isStorageFault(error)) {
      this.storageFault = (error as Error).message;
      this.logFault("storage fault; writes refused until it clears", { error });
      return new StorageFaultError("Storage is unavailable; retry later.", 5, { cause: error });
    }
    return error;
  }
}

/** Logs a failure of the writer's own jobs, unless the writer logged it already (busy, storage fault). */
function logUnlessLogged(message: string, error: unknown): void {
  if (error instanceof StorageError) return;
  logger.error(message, { error });
}
