/**
 * `GET /v1/stats`: the business metrics of the admin key's tenant over a window (default 24h),
 * counted in SQLite with index-only queries (see observability/business.ts).
 */
import { Elysia } from "elysia";
import { adminAuth, type AuthGuard } from "../../http/auth";
import { errorResponses, invalidRequest } from "../../http/errors";
import { parseWindow, type BusinessStats } from "../../observability/business";
import type { KeyCache } from "../tenants/key-cache";
import { DEFAULT_WINDOW, MAX_WINDOW_MS, StatsQuery, StatsResponse } from "./model";

export interface StatsDeps {
  keys: KeyCache;
  business: BusinessStats;
  guard?: AuthGuard;
}

export function statsController({ keys, business, guard }: StatsDeps) {
  return new Elysia({ prefix: "/v1", tags: ["Operations"] }).use(adminAuth(keys, guard)).get(
    "/stats",
    ({ admin, query }) => {
      const window = query.window ?? DEFAULT_WINDOW;
      const windowMs = parseWindow(window);
      if (windowMs === null || windowMs < 60_000 || windowMs > MAX_WINDOW_MS) {
        throw invalidRequest("The window must be between 1m and 31d.", [{ path: "/window", message: "Expected 1m to 31d" }]);
      }
      const to = Date.now();
      const from = to - windowMs;
      return {
        tenantId: admin.tenantId,
        window,
        from: new Date(from).toISOString(),
        to: new Date(to).toISOString(),
        ...business.activity(admin.tenantId, from, to),
      };
    },
    {
      query: StatsQuery,
      response: { 200: StatsResponse, ...errorResponses(400, 401) },
      detail: {
        summary: "A tenant's business metrics",
        description:
          "Events per minute, new visitors, sessions started, and identify conversion (the share of the window's new visitors linked to a lead) of the admin key's tenant over `window`. Needs an admin key (`ak_…`): write keys are refused.",
        security: [{ bearer: [] }, { basic: [] }, { apiKey: [] }],
      },
    },
  );
}
