/** Per-tenant options, stored as JSON on the tenant row. Missing fields take these defaults. */
import { t, type Static } from "elysia";
import { Value } from "@sinclair/typebox/value";
import { BOT_POLICIES, IP_POLICIES } from "../../enrich/settings";
import { logger } from "../../logger";

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
 * What a privacy setting that cannot be read becomes: the strictest value, so that a damaged row
 * (or one written by a newer version, with a value this one does not know) never stores more
 * than its tenant asked for.
 */
const STRICTEST: Partial<TenantSettings> = { ipPolicy: "drop" };

/**
 * Settings from stored JSON. A missing value takes its default (rows written before the setting
 * existed); an invalid or unreadable one takes its default too, except a privacy setting, which
 * takes the strictest value, with a warning naming the tenant.
 */
export function parseSettings(json: string | null | undefined, tenantId?: string): TenantSettings {
  let raw: Record<string, unknown> = {};
  let unreadable = false;
  try {
    const parsed = json ? JSON.parse(json) : {};
    if (parsed && typeof parsed === "object" && !Array.isArray(parsed)) raw = parsed;
    else unreadable = true;
  } catch {
    unreadable = true;
  }
  const settings = Value.Default(TenantSettings, {}) as Record<string, unknown>;
  const strictened: string[] = [];
  for (const [key, schema] of Object.entries(TenantSettings.properties)) {
    const value = raw[key];
    const strictest = STRICTEST[key as keyof TenantSettings];
    if (value !== undefined && Value.Check(schema, value)) settings[key] = value;
    else if (strictest !== undefined && (unreadable || value !== undefined)) {
      settings[key] = strictest;
      strictened.push(key);
    }
  }
  if (strictened.length > 0) {
    logger.warn("a tenant's privacy setting is unreadable; the strictest value applies until it is set again", {
      tenantId,
      settings: Object.fromEntries(strictened.map((key) => [key, settings[key]])),
    });
  }
  return settings as TenantSettings;
}
