/**
 * The per-tenant options enrichment reads. They are stored and defaulted with the rest of the
 * tenant's settings (src/modules/tenants/settings.ts); here they are plain types.
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
