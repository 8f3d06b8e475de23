/** Per-tenant options, stored as JSON on the tenant row. Missing fields take these defaults. */
import { t, type Static } from "elysia";
import { Value } from "@sinclair/typebox/value";

export const TenantSettings = t.Object({
  /** What is stored of the client IP: all of it, IPv4 /24 and IPv6 /48, or nothing. Geo is looked up first. */
  ipPolicy: t.Union([t.Literal("full"), t.Literal("anonymize"), t.Literal("drop")], { default: "full" }),
  /** Events from bots: stored as-is, stored with context.bot = true, or not stored. */
  bots: t.Union([t.Literal("keep"), t.Literal("flag"), t.Literal("drop")], { default: "flag" }),
});
export type TenantSettings = Static<typeof TenantSettings>;

export function parseSettings(json: string | null | undefined): TenantSettings {
  let raw: unknown = {};
  try {
    raw = json ? JSON.parse(json) : {};
  } catch {
    raw = {};
  }
  const withDefaults = Value.Default(TenantSettings, Value.Clone(raw)) as unknown;
  return Value.Check(TenantSettings, withDefaults) ? withDefaults : (Value.Default(TenantSettings, {}) as TenantSettings);
}
