/**
 * Retention on a store several instances share (PostgreSQL): the same rules as RetentionTask on
 * SQLite (retention.ts): for each tenant with `retentionDays`, the events older than that, then
 * the sessions ended before it, the visitors last seen before it and the leads left with nothing.
 * Every instance runs the task on its timer; a run starts only where no other instance's run is
 * going on, and deletes in short transactions of a few hundred rows, so ingestion goes on.
 * Freed space is reused after VACUUM (autovacuum); the table files do not shrink (docs/privacy.md).
 */
import type { RetentionStore, Swept } from "../../db/privacy-store";
import { logger } from "../../logger";
import { LAST_SEEN_RESOLUTION_MS } from "../../pipeline/model";
import { parseSettings } from "../tenants/settings";
import { RecurringRetention, type RetentionOptions, type RetentionRun } from "./retention";
import type { Counts } from "./service";
import { nextTurn } from "./store";

const DAY_MS = 86_400_000;

export class SharedRetentionTask extends RecurringRetention {
  private readonly chunk: number;
  protected readonly now: () => number;

  constructor(
    private readonly store: RetentionStore,
    private readonly options: Pick<RetentionOptions, "sessionTimeoutMs" | "now" | "onDeleted"> & { chunk?: number },
  ) {
    super();
    this.chunk = options.chunk ?? 500;
    this.now = options.now ?? Date.now;
  }

  /** One run over every tenant with a retention; empty when another instance's run is going on. */
  protected async runNow(now: number): Promise<RetentionRun> {
    const started = performance.now();
    const tenants = await this.store.alone(async () => {
      const done: RetentionRun["tenants"] = [];
      for (const tenant of await this.store.tenantSettings()) {
        const days = parseSettings(tenant.settings).retentionDays;
        if (days === undefined) continue;
        const cutoff = now - days * DAY_MS;
        const deleted = await this.tenant(tenant.id, cutoff);
        done.push({ tenantId: tenant.id, retentionDays: days, cutoff: new Date(cutoff).toISOString(), deleted });
        this.options.onDeleted?.(tenant.id, deleted);
        if (Object.values(deleted).some((n) => n > 0)) logger.info("retention", { tenantId: tenant.id, retentionDays: days, ...deleted });
      }
      return done;
    });
    if (tenants === null) logger.info("retention: another instance is running it; skipped here");
    return { tenants: tenants ?? [], pagesFreed: 0, ms: performance.now() - started };
  }

  private async tenant(tenantId: string, cutoff: number): Promise<Counts> {
    const ended = cutoff - this.options.sessionTimeoutMs;
    return {
      events: await this.sweep((limit) => this.store.oldEvents(tenantId, cutoff, limit)),
      sessions: await this.sweep((limit) => this.store.endedSessions(tenantId, ended, limit)),
      visitors: await this.sweep((limit) => this.store.idleVisitors(tenantId, ended - LAST_SEEN_RESOLUTION_MS, limit)),
      leads: await this.sweep((limit) => this.store.lonelyLeads(tenantId, cutoff, limit)),
    };
  }

  /** Deletes in steps of `chunk` rows until a step finds fewer; answers the rows deleted. */
  private async sweep(step: (limit: number) => Promise<Swept>): Promise<number> {
    let deleted = 0;
    for (;;) {
      const swept = await step(this.chunk);
      deleted += swept.deleted;
      // (Nothing deleted: what matched changed meanwhile; the next run sees it again.)
      if (swept.matched < this.chunk || swept.deleted === 0) return deleted;
      await nextTurn();
    }
  }
}
