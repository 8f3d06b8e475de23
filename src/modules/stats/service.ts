/** A tenant's business metrics over a window ending now. */
import { parseWindow, type BusinessStats } from "../../observability/business";
import { DEFAULT_WINDOW, MAX_WINDOW_MS, MIN_WINDOW_MS, type StatsResponse } from "./model";

/** The stats of `tenantId` over `window` (e.g. "24h"); null when the window is not one of 1m to 31d. */
export async function tenantStats(business: BusinessStats, tenantId: string, window = DEFAULT_WINDOW, now = Date.now()): Promise<StatsResponse | null> {
  const windowMs = parseWindow(window);
  if (windowMs === null || windowMs < MIN_WINDOW_MS || windowMs > MAX_WINDOW_MS) return null;
  const from = now - windowMs;
  return { tenantId, window, from: new Date(from).toISOString(), to: new Date(now).toISOString(), ...(await business.activity(tenantId, from, now)) };
}
