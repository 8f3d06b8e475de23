/**
 * Derive-based tenant authentication. The write key may come as `Authorization: Bearer <key>`,
 * `Authorization: Basic base64(<key>:)` (Segment's convention), `X-API-Key`, or a `writeKey`
 * field in the JSON body (sendBeacon cannot set headers), or a `writeKey` query parameter
 * (RudderStack's beacon transport). Every failure is the same 401, so the
 * answer never tells whether a tenant or key exists.
 */
import { Elysia } from "elysia";
import type { KeyCache } from "../modules/tenants/key-cache";
import type { ResolvedKey } from "../modules/tenants/service";
import type { TenantAuth } from "../pipeline";
import { ApiError, unauthorized } from "./errors";
import { eventCount, type AuthFailureLimiter, type TenantRateLimiter } from "./rate-limit";
import { requestInfo } from "./request-context";
import { step } from "../observability/tracing";

const MAX_KEY_LENGTH = 256;

/** The key a request carries, or null. */
export function keyFromRequest(headers: Record<string, string | undefined>, body: unknown, query?: Record<string, string | undefined>): string | null {
  const authorization = headers.authorization;
  if (authorization) {
    const space = authorization.indexOf(" ");
    const scheme = authorization.slice(0, space).toLowerCase();
    const value = authorization.slice(space + 1).trim();
    if (scheme === "bearer") return value || null;
    if (scheme === "basic") {
      let decoded: string;
      try {
        decoded = Buffer.from(value, "base64").toString("utf8");
      } catch {
        return null;
      }
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
  const fromQuery = query?.writeKey;
  if (typeof fromQuery === "string" && fromQuery.length > 0) return fromQuery;
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
 * Bounds what failed authentications cost (see AuthFailureLimiter): the limiter, and the address
 * a request counts against (the client address, through TRUST_PROXY proxies).
 */
export interface AuthGuard {
  failures: AuthFailureLimiter;
  address: (request: Request) => string | null;
}

/** The key in a request's headers (Authorization or X-API-Key), or null. */
function headerKey(request: Request): string | null {
  return keyFromRequest({ authorization: request.headers.get("authorization") ?? undefined, "x-api-key": request.headers.get("x-api-key") ?? undefined }, undefined);
}

/** The key resolved when it is a key of `kind`; else the failure is counted against the address and thrown. */
function authenticate(keys: KeyCache, key: string | null, kind: ResolvedKey["kind"], failure: () => ApiError, guard: AuthGuard | undefined, request: Request): ResolvedKey {
  const resolved = key && key.length <= MAX_KEY_LENGTH ? step("auth", () => keys.resolve(key)) : null;
  if (resolved && resolved.kind === kind) return resolved;
  throw guard ? guard.failures.failed(guard.address(request), failure()) : failure();
}

/**
 * Ingestion auth: a write key, then the tenant's rate limits (as soon as the tenant is known, so
 * a request over the limit costs no validation or pipeline work; a batch counts its items).
 *
 * No work before authentication: a key in a header is checked before the body is read (a bad one
 * costs no reading, decompressing or parsing), and an address over its failed-authentication
 * limit is refused then too. Only a request without a header key has its body read for a
 * `writeKey` (sendBeacon cannot set headers).
 */
export function tenantAuth(keys: KeyCache, limiter?: TenantRateLimiter, guard?: AuthGuard) {
  const early = new WeakMap<Request, ResolvedKey>();
  return new Elysia()
    .onParse({ as: "scoped" }, ({ request }) => {
      const key = headerKey(request);
      if (key === null) guard?.failures.check(guard.address(request));
      else early.set(request, authenticate(keys, key, "write", unauthorized, guard, request));
      // Nothing returned: the route's own parser reads the body next.
    })
    .derive({ as: "scoped" }, ({ headers, body, query, request }): { auth: TenantAuth } => {
      // Write keys ingest; admin keys are for reading and are not accepted here (they are secrets,
      // write keys are public in browsers, and the two must not be confused).
      const resolved = early.get(request) ?? authenticate(keys, keyFromRequest(headers, body, query), "write", unauthorized, guard, request);
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

const writeKeyRefused = () =>
  new ApiError(403, "forbidden", "This is a write key: it can only ingest. Reading and managing a tenant needs an admin key (ak_...).");
const adminRequired = () =>
  new ApiError(401, "unauthorized", "An admin key (ak_...) is required (Bearer, Basic or X-API-Key); write keys can only ingest.");

/**
 * Admin auth for reading routes (stats, exports): only `ak_` admin keys, from a header; a write
 * key is refused because write keys are public (they ship in browsers). The body is not looked
 * at: admin keys are secrets and do not belong in bodies.
 */
export function adminAuth(keys: KeyCache, guard?: AuthGuard) {
  return new Elysia().derive({ as: "scoped" }, ({ request }): { admin: AdminAuth } => {
    const key = headerKey(request);
    // A valid key of the wrong kind is told so: it is authenticated, just not allowed here.
    const failure = () => (key && key.length <= MAX_KEY_LENGTH && keys.resolve(key)?.kind === "write" ? writeKeyRefused() : adminRequired());
    const resolved = authenticate(keys, key, "admin", failure, guard, request);
    requestInfo(request).tenantId = resolved.tenantId;
    return { admin: { tenantId: resolved.tenantId, keyId: resolved.keyId } };
  });
}
