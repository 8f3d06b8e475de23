/**
 * Derive-based tenant authentication. The write key may come as `Authorization: Bearer <key>`,
 * `Authorization: Basic base64(<key>:)` (Segment's convention), `X-API-Key`, or a `writeKey`
 * field in the JSON body (sendBeacon cannot set headers). Every failure is the same 401, so the
 * answer never tells whether a tenant or key exists.
 */
import { Elysia } from "elysia";
import type { EnrichSettings } from "../enrich/settings";
import type { TenantAuth } from "../pipeline";
import { ApiError, unauthorized } from "./errors";
import { eventCount, type RateLimitOverrides, type TenantRateLimiter } from "./rate-limit";
import { requestInfo } from "./request-context";
import { step } from "../observability/tracing";

const MAX_KEY_LENGTH = 256;

/** What a key stands for: its tenant, its kind, and the tenant's settings that requests apply. */
export interface ResolvedKey {
  keyId: string;
  tenantId: string;
  kind: "write" | "admin";
  settings: EnrichSettings & RateLimitOverrides & { corsOrigins: readonly string[] };
}

/** Finds what a key stands for (src/modules/tenants implements it, with a cache); null for an unknown or revoked key. */
export interface KeyResolver {
  resolve(key: string): ResolvedKey | null;
}

/** The key a request carries, or null. */
export function keyFromRequest(headers: Record<string, string | undefined>, body: unknown): string | null {
  const authorization = headers.authorization;
  if (authorization) {
    const space = authorization.indexOf(" ");
    const scheme = authorization.slice(0, space).toLowerCase();
    const value = authorization.slice(space + 1).trim();
    if (scheme === "bearer") return value || null;
    if (scheme === "basic") {
      // Buffer.from never throws on base64: invalid characters are skipped.
      const decoded = Buffer.from(value, "base64").toString("utf8");
      const colon = decoded.indexOf(":");
      // Segment sends the write key as the user name with an empty password.
      return (colon === -1 ? decoded : decoded.slice(0, colon)) || null;
    }
    return null;
  }
  const header = headers["x-api-key"];
  if (header) return header.trim() || null;
  if (body && typeof body === "object" && "writeKey" in body) {
    const writeKey = (body as { writeKey: unknown }).writeKey;
    if (typeof writeKey === "string" && writeKey.length > 0) return writeKey;
  }
  return null;
}

/**
 * A tenant may restrict which sites' browsers send with its key. Preflight requests carry no
 * key, so they are answered for any origin; the check happens here, on the real request.
 */
export function originAllowed(allowed: readonly string[], origin: string): boolean {
  return allowed.includes("*") || allowed.includes(origin);
}

/**
 * Ingestion auth: a write key, then the tenant's rate limits (as soon as the tenant is known, so
 * a request over the limit costs no validation or pipeline work; a batch counts its items).
 */
export function tenantAuth(keys: KeyResolver, limiter?: TenantRateLimiter) {
  return new Elysia().derive({ as: "scoped" }, ({ headers, body, request }): { auth: TenantAuth } => {
    const key = keyFromRequest(headers, body);
    if (!key || key.length > MAX_KEY_LENGTH) throw unauthorized();
    const resolved = step("auth", () => keys.resolve(key));
    // Write keys ingest; admin keys are for reading and are not accepted here (they are secrets,
    // write keys are public in browsers, and the two must not be confused).
    if (!resolved || resolved.kind !== "write") throw unauthorized();
    requestInfo(request).tenantId = resolved.tenantId;
    const origin = headers.origin;
    if (origin && !originAllowed(resolved.settings.corsOrigins, origin)) {
      throw new ApiError(403, "origin_not_allowed", `This write key does not accept events from ${origin}.`);
    }
    limiter?.enforce(resolved.tenantId, eventCount(body), resolved.settings);
    return { auth: { tenantId: resolved.tenantId, keyId: resolved.keyId, settings: resolved.settings } };
  });
}

export interface AdminAuth {
  tenantId: string;
  keyId: string;
}

const adminRequired = () =>
  new ApiError(401, "unauthorized", "An admin key (ak_...) is required (Bearer, Basic or X-API-Key); write keys can only ingest.");

/**
 * Admin auth for reading routes (stats, exports): only `ak_` admin keys, from a header; a write
 * key is refused because write keys are public (they ship in browsers). The body is not looked
 * at: admin keys are secrets and do not belong in bodies.
 */
export function adminAuth(keys: KeyResolver) {
  return new Elysia().derive({ as: "scoped" }, ({ headers, request }): { admin: AdminAuth } => {
    const key = keyFromRequest(headers, undefined);
    if (!key || key.length > MAX_KEY_LENGTH) throw adminRequired();
    const resolved = keys.resolve(key);
    if (!resolved || resolved.kind !== "admin") throw adminRequired();
    requestInfo(request).tenantId = resolved.tenantId;
    return { admin: { tenantId: resolved.tenantId, keyId: resolved.keyId } };
  });
}
