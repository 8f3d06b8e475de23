/**
 * Business metrics of tenants over a time window: events per minute, new visitors, sessions, and
 * identify conversion (of the visitors new in the window, the share linked to a lead now). The
 * counts come from the store (src/db/read-store.ts: events by their timestamp, visitors and
 * sessions by when Inlet created them, i.e. their UUIDv7 ids; for live traffic that is when their
 * first event arrived).
 */
import type { ActivityStore, CreatedCounts } from "../db/read-store";

export interface Activity {
  /** Events with a timestamp in the window. */
  events: number;
  eventsPerMinute: number;
  /** Visitors created (first seen by Inlet) in the window. */
  newVisitors: number;
  /** Of those, the ones linked to a lead now. */
  identifiedVisitors: number;
  /** identifiedVisitors / newVisitors (0 without new visitors). */
  identifyConversion: number;
  /** Sessions created (started) in the window. */
  sessions: number;
}

const NONE: CreatedCounts = { visitors: 0, identified: 0, sessions: 0 };

export class BusinessStats {
  constructor(private readonly store: ActivityStore) {}

  /** One tenant's activity in [from, to] (ms since the epoch). */
  async activity(tenantId: string, from: number, to: number): Promise<Activity> {
    return this.summarize(tenantId, from, to, await this.store.created([tenantId], from, to));
  }

  /** The activity of each of `tenantIds` in [from, to], with one count of the window's new rows. */
  async allTenants(tenantIds: readonly string[], from: number, to: number): Promise<{ tenantId: string; activity: Activity }[]> {
    const created = await this.store.created(tenantIds, from, to);
    // One tenant after another: a scrape must not take every pooled connection at once.
    const out: { tenantId: string; activity: Activity }[] = [];
    for (const tenantId of tenantIds) out.push({ tenantId, activity: await this.summarize(tenantId, from, to, created) });
    return out;
  }

  private async summarize(tenantId: string, from: number, to: number, created: Map<string, CreatedCounts>): Promise<Activity> {
    const eventCount = await this.store.eventCount(tenantId, from, to);
    const { visitors: newVisitors, identified, sessions } = created.get(tenantId) ?? NONE;
    const minutes = Math.max(1, (to - from) / 60_000);
    return {
      events: eventCount,
      eventsPerMinute: Math.round((eventCount / minutes) * 100) / 100,
      newVisitors,
      identifiedVisitors: identified,
      identifyConversion: newVisitors === 0 ? 0 : Math.round((identified / newVisitors) * 10_000) / 10_000,
      sessions,
    };
  }
}

/** Parses a window like `15m`, `1h`, `24h`, `7d` into ms; null when malformed. */
export function parseWindow(text: string): number | null {
  const match = /^(\d{1,4})([mhd])$/.exec(text);
  if (!match) return null;
  const unit = { m: 60_000, h: 3_600_000, d: 86_400_000 }[match[2] as "m" | "h" | "d"];
  return Number(match[1]) * unit;
}
