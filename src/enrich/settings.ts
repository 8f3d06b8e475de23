/**
 * Per-tenant enrichment settings: plain data (no TypeBox/Elysia), stored as JSON with the tenant.
 */

export const IP_POLICIES = ["full", "anonymize", "drop"] as const;
/** What is stored of the client IP: all of it, its network part (/24, /48), or nothing. */
export type IpPolicy = (typeof IP_POLICIES)[number];

export const BOT_POLICIES = ["keep", "flag", "drop"] as const;
/** keep: store bots like anyone, no flag; flag: store with `context.bot`; drop: do not store bots. */
export type BotPolicy = (typeof BOT_POLICIES)[number];

export interface EnrichSettings {
  ipPolicy: IpPolicy;
  bots: BotPolicy;
}

/** Segment stores the full IP and keeps bot traffic; flagging is free and makes it filterable. */
export const DEFAULT_ENRICH_SETTINGS: Readonly<EnrichSettings> = Object.freeze({ ipPolicy: "full", bots: "flag" });

/**
 * Settings from stored JSON: a missing or unknown value takes its default, so a tenant row
 * written by an older version still loads.
 */
export function parseEnrichSettings(raw: unknown): EnrichSettings {
  const record = typeof raw === "object" && raw !== null ? (raw as Record<string, unknown>) : {};
  return {
    ipPolicy: oneOf(IP_POLICIES, record.ipPolicy) ?? DEFAULT_ENRICH_SETTINGS.ipPolicy,
    bots: oneOf(BOT_POLICIES, record.bots) ?? DEFAULT_ENRICH_SETTINGS.bots,
  };
}

function oneOf<T extends string>(allowed: readonly T[], value: unknown): T | undefined {
  return allowed.includes(value as T) ? (value as T) : undefined;
}
