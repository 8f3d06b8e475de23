/** Per-tenant options, stored as JSON on the tenant row. Missing fields take these defaults. */
import { t, type Static } from "elysia";
import { Value } from "@sinclair/typebox/value";
import { BOT_POLICIES, IP_POLICIES } from "../../enrich/settings";

export const TenantSettings = t.Object({
  /** What is stored of the client IP: all of it, IPv4 /24 and IPv6 /48, or nothing. Geo is looked up first. */
  ipPolicy: t.UnionEnum(IP_POLICIES, { default: "full" }),
  /** Events from bots: stored as-is, stored with context.bot = true, or not stored (Segment keeps them; flagging is free). */
  bots: t.UnionEnum(BOT_POLICIES, { default: "flag" }),
  /** Origins whose browsers may send events with this tenant's key ("*" = any, the default). */
  corsOrigins: t.Array(t.String({ maxLength: 512 }), { default: ["*"], maxItems: 100 }),
  /** Requests per second this tenant may send; absent: the server's RATE_LIMIT_RPS; 0: no limit. */
  rateLimitRps: t.Optional(t.Integer({ minimum: 0, maximum: 10_000_000 })),
  /** Events per second (a batch counts its items); absent: RATE_LIMIT_EPS; 0: no limit. */
  rateLimitEps: t.Optional(t.Integer({ minimum: 0, maximum: 100_000_000 })),
  /** Events older than this many days (by event timestamp) are deleted in the background; absent: kept forever. */
  retentionDays: t.Optional(t.Integer({ minimum: 1, maximum: 36_500 })),
});
export type TenantSettings = Static<typeof TenantSettings>;

/**
 * Settings from stored JSON: a missing or invalid value takes its default, field by field, so a
 * tenant row written by an older version (or by hand) still loads.
 */
export function parseSettings(json: string | null | undefined): TenantSettings {
  let raw: Record<string, unknown> = {};
  try {
    const parsed = json ? JSON.parse(json) : {};
    if (parsed && typeof parsed === "object" && !Array.isArray(parsed)) raw = parsed;
  } catch {
    // unreadable settings: all defaults
  }
  const settings = Value.Default(TenantSettings, {}) as Record<string, unknown>;
  for (const [key, schema] of Object.entries(TenantSettings.properties)) {
    if (raw[key] !== undefined && Value.Check(schema, raw[key])) settings[key] = raw[key];
  }
  return settings as TenantSettings;
}
