/**
 * `GET /v1/stats`: the business metrics of the admin key's tenant over a window (default 24h),
 * counted by the store (see observability/business.ts).
 */
import { Elysia } from "elysia";
import type { keyAuth } from "../../http/auth";
import { errorResponses, invalidRequest } from "../../http/errors";
import type { BusinessStats } from "../../observability/business";
import { StatsQuery, StatsResponse } from "./model";
import { tenantStats } from "./service";

export interface StatsDeps {
  /** The key-auth plugin (src/http/auth.ts): the route takes `{ adminKey: true }`. */
  auth: ReturnType<typeof keyAuth>;
  business: BusinessStats;
}

export function statsController({ auth, business }: StatsDeps) {
  return new Elysia({ prefix: "/v1", tags: ["Operations"] }).use(auth).get(
    "/stats",
    async ({ admin, query }) => {
      const stats = await tenantStats(business, admin.tenantId, query.window);
      if (!stats) throw invalidRequest("The window must be between 1m and 31d.", [{ path: "/window", message: "Expected 1m to 31d" }]);
      return stats;
    },
    {
      adminKey: true,
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
