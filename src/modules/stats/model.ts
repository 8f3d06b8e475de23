/** The `t` schemas of GET /v1/stats (validation, types and the OpenAPI document). */
import { t, type Static } from "elysia";

export const DEFAULT_WINDOW = "24h";
/** The shortest window: the counts are per minute. */
export const MIN_WINDOW_MS = 60_000;
/** The longest window: its counts scan every event of the window, on the server's one connection. */
export const MAX_WINDOW_MS = 31 * 86_400_000;

export const StatsQuery = t.Object({
  window: t.Optional(
    t.String({
      pattern: "^[0-9]{1,4}[mhd]$",
      description: "How far back from now: minutes, hours or days, e.g. `15m`, `1h`, `7d` (at most 31 days). Default `24h`.",
      examples: ["1h", "24h", "7d"],
    }),
  ),
});

export const StatsResponse = t.Object(
  {
    tenantId: t.String(),
    window: t.String({ description: "The window, as asked for" }),
    from: t.String({ format: "date-time", description: "Start of the window (inclusive)" }),
    to: t.String({ format: "date-time", description: "End of the window: now" }),
    events: t.Integer({ minimum: 0, description: "Events whose (skew-corrected) timestamp is in the window" }),
    eventsPerMinute: t.Number({ minimum: 0 }),
    newVisitors: t.Integer({ minimum: 0, description: "Visitors Inlet first saw in the window" }),
    identifiedVisitors: t.Integer({ minimum: 0, description: "Of the new visitors, those linked to a lead now" }),
    identifyConversion: t.Number({ minimum: 0, maximum: 1, description: "identifiedVisitors / newVisitors (0 without new visitors)" }),
    sessions: t.Integer({ minimum: 0, description: "Sessions Inlet started in the window" }),
  },
  { description: "A tenant's activity over a window" },
);
export type StatsResponse = Static<typeof StatsResponse>;
