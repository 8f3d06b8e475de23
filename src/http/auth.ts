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

/** The tenant each authenticated request was let in for, between the steps and the handler. */
const authenticated = new WeakMap<Request, TenantAuth>();
const authenticatedAdmin = new WeakMap<Request, AdminAuth>();

export interface AdminAuth {
  tenantId: string;
  keyId: string;
}

const adminRequired = () =>
  new ApiError(401, "unauthorized", "An admin key (ak_...) is required (Bearer, Basic or X-API-Key); write keys can only ingest.");

/**
 * Key authentication as a named plugin with two route options:
 *
 * - `{ writeKey: true }` (ingestion): three named steps, before the body is validated, so a
 *   refused request costs no validation or pipeline work: `authenticate` (a write key; admin keys
 *   are secrets and are not accepted here, write keys are public in browsers and the two must
 *   not be confused), `checkOrigin` (the tenant's allowed origins), `enforceRateLimit` (the
 *   tenant's limits; a batch counts its items). The handler gets `auth`.
 * - `{ adminKey: true }` (reading routes: stats, exports): only `ak_` admin keys, from a header
 *   (admin keys are secrets and do not belong in bodies). The handler gets `admin`.
 */
export function keyAuth(keys: KeyResolver, limiter?: TenantRateLimiter) {
  type Step = (context: { headers: Record<string, string | undefined>; body: unknown; request: Request }) => void;

  const authenticate: Step = ({ headers, body, request }) => {
    const key = keyFromRequest(headers, body);
    if (!key || key.length > MAX_KEY_LENGTH) throw unauthorized();
    const resolved = step("auth", () => keys.resolve(key));
    if (!resolved || resolved.kind !== "write") throw unauthorized();
    requestInfo(request).tenantId = resolved.tenantId;
    authenticated.set(request, { tenantId: resolved.tenantId, keyId: resolved.keyId, settings: resolved.settings });
    settingsOf.set(request, resolved.settings);
  };
  const checkOrigin: Step = ({ headers, request }) => {
    const origin = headers.origin;
    if (origin && !originAllowed(settingsOf.get(request)!.corsOrigins, origin)) {
      throw new ApiError(403, "origin_not_allowed", `This write key does not accept events from ${origin}.`);
    }
  };
  const enforceRateLimit: Step = ({ body, request }) => {
    limiter?.enforce(authenticated.get(request)!.tenantId, eventCount(body), settingsOf.get(request));
  };
  const authenticateAdmin: Step = ({ headers, request }) => {
    const key = keyFromRequest(headers, undefined);
    if (!key || key.length > MAX_KEY_LENGTH) throw adminRequired();
    const resolved = keys.resolve(key);
    if (!resolved || resolved.kind !== "admin") throw adminRequired();
    requestInfo(request).tenantId = resolved.tenantId;
    authenticatedAdmin.set(request, { tenantId: resolved.tenantId, keyId: resolved.keyId });
  };

  return new Elysia({ name: "key-auth" }).macro({
    writeKey: {
      transform: [authenticate, checkOrigin, enforceRateLimit],
      resolve: ({ request }) => ({ auth: authenticated.get(request)! }),
    },
    adminKey: {
      transform: [authenticateAdmin],
      resolve: ({ request }) => ({ admin: authenticatedAdmin.get(request)! }),
    },
  });
}

/** The settings of the key a request was let in with, for the steps after `authenticate`. */
const settingsOf = new WeakMap<Request, ResolvedKey["settings"]>();
