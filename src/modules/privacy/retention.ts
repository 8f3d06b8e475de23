/**
 * Retention: for each tenant with `retentionDays`, a background task deletes the events older
 * than that (by event timestamp), then the sessions, visitors and leads left with no events, and
 * gives the freed pages back to the file system (incremental vacuum). Every deletion is a small
 * writer job that stops once its time is up (STEP_MS), so the writer is never held more than a
 * few milliseconds and ingestion goes on. See docs/privacy.md.
 *
 * Sessions, visitors and leads have no index by time; they are read in rowid ranges between
 * requests. A session counts as ended when its last event is older than the cutoff by more than
 * the session timeout (a session still growing in memory is never cut), a visitor when it was last
 * seen before that, and a lead when it has no identity link, event or session left.
 */
import { and, eq, inArray, lt } from "drizzle-orm";
import { events, eventSecond, secondOf, tenants } from "../../db/schema";
import { logger } from "../../logger";
import { LAST_SEEN_RESOLUTION_MS } from "../../pipeline/model";
import { parseSettings } from "../tenants/settings";
import { deleteMergesOf, forAWhile, jsonList, nextTurn, STEP_MS, StepRows, type PrivacyStore } from "./store";
import type { Counts } from "./service";

const DAY_MS = 86_400_000;

export interface RetentionOptions {
  /** Sessions end after this much inactivity (SESSION_TIMEOUT_MINUTES). */
  sessionTimeoutMs: number;
  /** Rows deleted per statement (a writer job runs statements until its time is up). */
  chunk?: number;
  /** The most rows read per step of a scan. */
  scanRows?: number;
  /** The most free pages given back per writer job. */
  vacuumPages?: number;
  /** How long a step may take: a read between requests, or a writer job (STEP_MS). */
  stepMs?: number;
  /** The clock (tests inject one). */
  now?: () => number;
  /** Told what each run deleted, per tenant (metrics). */
  onDeleted?: (tenantId: string, counts: Counts) => void;
}

export interface RetentionRun {
  tenants: { tenantId: string; retentionDays: number; cutoff: string; deleted: Counts }[];
  /** Pages given back to the file system. */
  pagesFreed: number;
  ms: number;
}

/** Calls `run` every `intervalMs`, the first time after `firstAfterMs`, without keeping the process alive; answers the function that stops it. */
export function runEvery(run: () => Promise<unknown>, intervalMs: number, firstAfterMs: number): () => void {
  const tick = () => {
    run().catch((error) => logger.error("retention run failed; it is tried again at the next interval", { error }));
  };
  let timer: ReturnType<typeof setInterval> | null = null;
  const first = setTimeout(() => {
    tick();
    timer = setInterval(tick, intervalMs);
    timer.unref();
  }, firstAfterMs);
  first.unref();
  return () => {
    clearTimeout(first);
    if (timer) clearInterval(timer);
  };
}

/**
 * A retention task's schedule: runs every interval, one run at a time (a run asked for while one
 * is in progress joins it). Subclasses do one run over every tenant with a retention.
 */
export abstract class RecurringRetention {
  private running: Promise<RetentionRun> | null = null;
  protected abstract readonly now: () => number;

  /** Runs every `intervalMs` (the first run after `firstAfterMs`); never keeps the process alive. */
  start(intervalMs: number, firstAfterMs = 60_000): void {
    this.stop = runEvery(() => this.run(), intervalMs, firstAfterMs);
  }

  stop: () => void = () => {};

  run(now = this.now()): Promise<RetentionRun> {
    this.running ??= this.runNow(now).finally(() => {
      this.running = null;
    });
    return this.running;
  }

  protected abstract runNow(now: number): Promise<RetentionRun>;
}

export class RetentionTask extends RecurringRetention {
  private readonly chunk: number;
  private readonly scanRows: number;
  private readonly vacuumPages: number;
  private readonly stepMs: number;
  protected readonly now: () => number;

  constructor(
    private readonly store: PrivacyStore,
    private readonly options: RetentionOptions,
  ) {
    super();
    this.chunk = options.chunk ?? 50;
    this.scanRows = options.scanRows ?? 20_000;
    this.vacuumPages = options.vacuumPages ?? 256;
    this.stepMs = options.stepMs ?? store.stepMs ?? STEP_MS;
    this.now = options.now ?? Date.now;
  }

  protected async runNow(now: number): Promise<RetentionRun> {
    const started = performance.now();
    const result: RetentionRun = { tenants: [], pagesFreed: 0, ms: 0 };
    const all = this.store.db.select({ id: tenants.id, settings: tenants.settings }).from(tenants).all();
    for (const tenant of all) {
      const days = parseSettings(tenant.settings).retentionDays;
      if (days === undefined) continue;
      const cutoff = now - days * DAY_MS;
      const deleted = await this.tenant(tenant.id, cutoff);
      result.tenants.push({ tenantId: tenant.id, retentionDays: days, cutoff: new Date(cutoff).toISOString(), deleted });
      this.options.onDeleted?.(tenant.id, deleted);
      if (Object.values(deleted).some((n) => n > 0)) logger.info("retention", { tenantId: tenant.id, retentionDays: days, ...deleted });
    }
    if (result.tenants.some((t) => Object.values(t.deleted).some((n) => n > 0))) result.pagesFreed = await this.giveSpaceBack();
    result.ms = performance.now() - started;
    return result;
  }

  private async tenant(tenantId: string, cutoff: number): Promise<Counts> {
    const { db, sqlite } = this.store;
    const deleted: Counts = { events: 0, sessions: 0, visitors: 0, leads: 0 };
    // Events, oldest first, through events_tenant_second: a few at a time until the job's time is up.
    const oldest = db
      .select({ id: events.id })
      .from(events)
      .where(and(eq(events.tenantId, tenantId), lt(eventSecond, secondOf(cutoff) + 1), lt(events.timestamp, cutoff)))
      .limit(this.chunk)
      .prepare();
    for (let more = true; more; ) {
      const job = await this.store.write(() => {
        const until = performance.now() + this.stepMs;
        for (let n = 0; ; ) {
          const ids = oldest.all().map((row) => row.id);
          if (ids.length > 0) db.delete(events).where(inArray(events.id, ids)).run();
          n += ids.length;
          if (ids.length < this.chunk || performance.now() >= until) return { n, more: ids.length === this.chunk };
        }
      });
      deleted.events += job.n;
      more = job.more;
      await nextTurn();
    }
    const ended = cutoff - this.options.sessionTimeoutMs;
    // Sessions whose last event is older than the cutoff: their events are gone.
    deleted.sessions = await this.sweep(
      "SELECT rowid AS r, id, visitor_id AS extra FROM sessions WHERE rowid > ? AND rowid <= ? AND +tenant_id = ? AND last_event_at < ?",
      [tenantId, ended],
      // Checked again in the job: the row may have moved since it was read.
      (rows) => {
        const gone = sqlite
          .query("DELETE FROM sessions WHERE id IN (SELECT value FROM json_each(?)) AND last_event_at < ? RETURNING id, visitor_id AS visitorId")
          .all(jsonList(rows.map((r) => r.id)), ended) as { id: string; visitorId: string }[];
        this.store.forget(tenantId, { visitorKeys: [], sessions: new Map(gone.map((r) => [r.id, r.visitorId])) });
        return gone.length;
      },
    );
    // Visitors last seen before it, with their identity links.
    deleted.visitors = await this.sweep(
      "SELECT rowid AS r, id, NULL AS extra FROM visitors WHERE rowid > ? AND rowid <= ? AND +tenant_id = ? AND last_seen_at < ?",
      [tenantId, ended - LAST_SEEN_RESOLUTION_MS],
      (rows) => {
        const gone = sqlite
          .query("DELETE FROM visitors WHERE id IN (SELECT value FROM json_each(?)) AND last_seen_at < ? RETURNING id, key")
          .all(jsonList(rows.map((r) => r.id)), ended - LAST_SEEN_RESOLUTION_MS) as { id: string; key: string }[];
        const ids = gone.map((r) => r.id);
        sqlite.run("DELETE FROM identity_links WHERE tenant_id = ? AND visitor_id IN (SELECT value FROM json_each(?))", [tenantId, jsonList(ids)]);
        this.store.forget(tenantId, { visitorKeys: gone.map((r) => r.key), sessions: new Map() });
        return ids.length;
      },
    );
    // Leads not updated since, with no link, event or session left (a merged lead once the lead it
    // was merged into is gone).
    const leftAlone = `updated_at < ?
         AND (merged_into IS NULL OR NOT EXISTS (SELECT 1 FROM leads w WHERE w.id = l.merged_into))
         AND NOT EXISTS (SELECT 1 FROM identity_links il WHERE il.tenant_id = l.tenant_id AND il.lead_id = l.id)
         AND NOT EXISTS (SELECT 1 FROM events e WHERE e.tenant_id = l.tenant_id AND e.lead_id = l.id)
         AND NOT EXISTS (SELECT 1 FROM sessions s WHERE s.tenant_id = l.tenant_id AND s.lead_id = l.id)`;
    deleted.leads = await this.sweep(
      `SELECT rowid AS r, id, NULL AS extra FROM leads l WHERE rowid > ? AND rowid <= ? AND +tenant_id = ? AND ${leftAlone}`,
      [tenantId, cutoff],
      (rows) => {
        const gone = sqlite
          .query(`DELETE FROM leads AS l WHERE id IN (SELECT value FROM json_each(?)) AND ${leftAlone} RETURNING id`)
          .all(jsonList(rows.map((r) => r.id)), cutoff) as { id: string }[];
        deleteMergesOf(sqlite, tenantId, jsonList(gone.map((r) => r.id)));
        return gone.length;
      },
    );
    return deleted;
  }

  /**
   * Reads a table in rowid ranges (`query` takes the range, then `params`) between requests and
   * hands what matched to `remove`, `chunk` rows at a time, in short writer jobs; answers the rows
   * removed.
   */
  private async sweep(query: string, params: (string | number)[], remove: (rows: { id: string; extra: string | null }[]) => number): Promise<number> {
    const { sqlite } = this.store;
    const table = /FROM (\w+)/.exec(query)![1]!;
    const last = (sqlite.query(`SELECT max(rowid) AS r FROM ${table}`).get() as { r: number | null }).r ?? 0;
    const read = sqlite.query<{ r: number; id: string; extra: string | null }, (string | number)[]>(query);
    let removed = 0;
    const found: { id: string; extra: string | null }[] = [];
    const step = new StepRows(500, this.scanRows, this.stepMs);
    for (let cursor = 0; cursor < last; ) {
      cursor = step.time((rows) => {
        found.push(...read.all(cursor, cursor + rows, ...params));
        return cursor + rows;
      });
      while (found.length > 0) {
        const [done, n] = await this.store.write(() => {
          let n = 0;
          const done = forAWhile(found, this.stepMs, (rows) => void (n += remove(rows)), this.chunk);
          return [done, n] as const;
        });
        found.splice(0, done);
        removed += n;
      }
      await nextTurn();
    }
    return removed;
  }

  /** Gives the free pages back to the file system, a few at a time (only with auto_vacuum = INCREMENTAL). */
  private async giveSpaceBack(): Promise<number> {
    const { sqlite } = this.store;
    const mode = (sqlite.query("PRAGMA auto_vacuum").get() as { auto_vacuum: number }).auto_vacuum;
    if (mode !== 2) {
      logger.info(
        "retention: this database was created without incremental vacuum; freed space is reused but the file does not shrink (see `inlet privacy vacuum`)",
      );
      return 0;
    }
    let freed = 0;
    const step = new StepRows(16, this.vacuumPages, this.stepMs);
    for (;;) {
      const free = (sqlite.query("PRAGMA freelist_count").get() as { freelist_count: number }).freelist_count;
      if (free === 0) break;
      const pages = Math.min(free, step.value);
      await this.store.write(() => step.time(() => sqlite.run(`PRAGMA incremental_vacuum(${pages})`)));
      freed += pages;
      await nextTurn();
    }
    await this.store.truncateWal();
    return freed;
  }
}
