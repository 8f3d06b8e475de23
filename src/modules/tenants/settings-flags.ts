/**
 * `inlet tenant set <id> --flag value ...`: the command-line flags that change a tenant's
 * settings, validated against the same `t` schema the settings are stored with, so a typo is an
 * error instead of a silently defaulted setting.
 */
import { Value } from "@sinclair/typebox/value";
import { TenantSettings } from "./settings";

/** Flag → setting. A rate given as `default`, or a retention given as `forever`, removes the tenant's own value. */
export const SETTING_FLAGS = {
  "rate-rps": "rateLimitRps",
  "rate-eps": "rateLimitEps",
  "ip-policy": "ipPolicy",
  bots: "bots",
  "cors-origins": "corsOrigins",
  "retention-days": "retentionDays",
} as const satisfies Record<string, keyof TenantSettings>;

export type SettingFlag = keyof typeof SETTING_FLAGS;

export class SettingFlagError extends Error {}

/** The settings patch the given flags ask for (only flags that were given). */
export function settingsPatchFromFlags(flags: Partial<Record<SettingFlag, string>>): Partial<TenantSettings> {
  const patch: Record<string, unknown> = {};
  for (const [flag, key] of Object.entries(SETTING_FLAGS) as [SettingFlag, keyof TenantSettings][]) {
    const raw = flags[flag];
    if (raw === undefined) continue;
    const schema = TenantSettings.properties[key];
    const isRate = key === "rateLimitRps" || key === "rateLimitEps";
    const isNumber = isRate || key === "retentionDays";
    if ((isRate && raw.trim().toLowerCase() === "default") || (key === "retentionDays" && raw.trim().toLowerCase() === "forever")) {
      patch[key] = undefined;
      continue;
    }
    const value =
      key === "corsOrigins"
        ? raw
            .split(",")
            .map((origin) => origin.trim())
            .filter(Boolean)
        : isNumber && /^\d+$/.test(raw.trim())
          ? Number(raw)
          : raw;
    if (!Value.Check(schema, value)) throw new SettingFlagError(`--${flag} ${JSON.stringify(raw)} is not valid: expected ${expected(flag)}.`);
    patch[key] = value;
  }
  return patch as Partial<TenantSettings>;
}

function expected(flag: SettingFlag): string {
  switch (flag) {
    case "rate-rps":
    case "rate-eps":
      return "a whole number (0: no limit) or `default`";
    case "ip-policy":
      return "full, anonymize or drop";
    case "bots":
      return "keep, flag or drop";
    case "cors-origins":
      return "a comma-separated list of origins (https://shop.example) or *";
    case "retention-days":
      return "a whole number of days (1 or more) or `forever`";
  }
}
