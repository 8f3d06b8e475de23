/**
 * Key authentication. The write key may come as `Authorization: Bearer <key>`,
 * `Authorization: Basic base64(<key>:)` (Segment's convention), `X-API-Key`, or a `writeKey`
 * field in the JSON body (sendBeacon cannot set headers), or a `writeKey` query parameter
 * (RudderStack's beacon transport). Every failure is the same 401, so the
 * answer never tells whether a tenant or key exists.
 */
import { Elysia } from "elysia";
import type { EnrichSettings } from "../enrich/settings";
import type { TenantAuth } from "../pipeline";
import { ApiError, unauthorized } from "./errors";
import { eventCount, type AuthFailureLimiter, type RateLimitOverrides, type TenantRateLimiter } from "./rate-limit";
import { requestInfo } from "./request-context";
import { step } from "../observability/tracing";
import { step as stepIndex, stepTimes } from "../lib/step-times";

const AUTH = stepIndex("auth");

const MAX_KEY_LENGTH = 256;

/** What a key stands for: its tenant, its kind, and the tenant's settings that requests apply. */
export interface ResolvedKey {
  keyId: string;
  tenantId: string;
  /** write: public, in browsers; server: secret, in backends (ingests, may merge identified leads); admin: reads. */
  kind: "write" | "server" | "admin";
  settings: EnrichSettings & RateLimitOverrides & { corsOrigins: readonly string[] };
}

/**
 * Finds what a key stands for (src/modules/tenants implements it, with a cache); null for an
 * unknown or revoked key. A promise only when it has to ask the store: a cached key is answered
 * at once, so the hot path awaits nothing.
 */
export interface KeyResolver {
  resolve(key: string): ResolvedKey | null | Promise<ResolvedKey | null>;
}

/** The key a request carries, or null. */
export function keyFromRequest(headers: Record<string, string | undefined>, body: unknown, query?: Record<string, string | undefined>): string | null {
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
  return keyFromRequest(
    { authorization: request.headers.get("authorization") ?? undefined, "x-api-key": request.headers.get("x-api-key") ?? undefined },
    undefined,
  );
}

/** The key kinds the ingestion routes take. */
const INGESTING_KEYS: readonly ResolvedKey["kind"][] = ["write", "server"];
const ADMIN_KEYS: readonly ResolvedKey["kind"][] = ["admin"];

/** What a request's key stands for; null for none, one too long, or an unknown or revoked one. */
function lookUp(keys: KeyResolver, key: string | null): ResolvedKey | null | Promise<ResolvedKey | null> {
  return key && key.length <= MAX_KEY_LENGTH ? step("auth", () => keys.resolve(key)) : null;
}

/** The resolved key when it is of one of `kinds`; else the failure is counted against the address and thrown. */
function accept(
  resolved: ResolvedKey | null,
  kinds: readonly ResolvedKey["kind"][],
  failure: () => ApiError,
  guard: AuthGuard | undefined,
  request: Request,
): ResolvedKey {
  if (resolved && kinds.includes(resolved.kind)) return resolved;
  throw guard ? guard.failures.failed(guard.address(request), failure()) : failure();
}

export interface AdminAuth {
  tenantId: string;
  keyId: string;
}

const ingestingKeyRefused = () =>
  new ApiError(403, "forbidden", "This key can only ingest (write and server keys). Reading and managing a tenant needs an admin key (ak_...).");
const adminRequired = () =>
  new ApiError(401, "unauthorized", "An admin key (ak_...) is required (Bearer, Basic or X-API-Key); write and server keys can only ingest.");

/**
 * Key authentication as a named plugin with two route options.
 *
 * `{ writeKey: true }` (ingestion), in named steps before the body is validated, so a refused
 * request costs no validation or pipeline work: `authenticate` (a write key, public, in browsers,
 * or a server key, secret, in backends; admin keys are secrets for reading and are not accepted
 * here), `checkOrigin` (the tenant's allowed origins), `enforceRateLimit` (the tenant's
 * limits; a batch counts its items). The handler gets `auth`. No work before authentication: a
 * key in a header is resolved before the body is read (`keyBeforeBody`: an unknown one costs no
 * reading, decompressing or parsing), and an address over its failed-authentication limit is
 * refused then too. Only a request without a header key has its body read for a `writeKey`
 * (sendBeacon cannot set headers).
 *
 * `{ adminKey: true }` (reading and managing routes: stats, events, leads, the debugger, keys, privacy):
 * only `ak_` admin keys, from a header (admin keys are secrets and do not belong in bodies); a
 * write or server key there is a 403. The handler gets `admin`.
 */
export function keyAuth(keys: KeyResolver, limiter?: TenantRateLimiter, guard?: AuthGuard) {
  /** Keys resolved from a header before the body was read. */
  const early = new WeakMap<Request, ResolvedKey>();
  const authenticated = new WeakMap<Request, ResolvedKey>();
  type Context = { headers: Record<string, string | undefined>; body: unknown; query: Record<string, string | undefined>; request: Request };
  type Step = (context: Context) => void;

  // Not an async function: a cached key returns nothing and the parser goes on in the same turn
  // (Elysia awaits a parse hook only when it returns a promise).
  const keyBeforeBody = ({ request }: { request: Request }): void | Promise<void> => {
    const started = stepTimes ? performance.now() : 0;
    const key = headerKey(request);
    if (key === null) {
      guard?.failures.check(guard.address(request));
      stepTimes?.add(AUTH, started);
      return;
    }
    const found = lookUp(keys, key);
    if (found instanceof Promise) {
      stepTimes?.add(AUTH, started);
      return found.then((resolved) => remember(request, resolved));
    }
    remember(request, found);
    stepTimes?.add(AUTH, started);
    // Nothing returned: the route's own parser reads the body next.
  };
  const remember = (request: Request, resolved: ResolvedKey | null): void => {
    // Which kind the route wants is checked by its step; an unknown key is refused here.
    if (!resolved) throw guard ? guard.failures.failed(guard.address(request), unauthorized()) : unauthorized();
    early.set(request, resolved);
  };
  const authenticateWriteKey = async ({ headers, body, query, request }: Context): Promise<void> => {
    let started = stepTimes ? performance.now() : 0;
    const known = early.get(request);
    let resolved: ResolvedKey;
    if (known && INGESTING_KEYS.includes(known.kind)) resolved = known;
    else {
      let found = lookUp(keys, known ? null : keyFromRequest(headers, body, query));
      if (found instanceof Promise) {
        // The wait for the store is no work of this step.
        stepTimes?.add(AUTH, started);
        found = await found;
        if (stepTimes) started = performance.now();
      }
      resolved = accept(found, INGESTING_KEYS, unauthorized, guard, request);
    }
    requestInfo(request).tenantId = resolved.tenantId;
    authenticated.set(request, resolved);
    stepTimes?.add(AUTH, started);
  };
  const checkOrigin: Step = ({ headers, request }) => {
    const started = stepTimes ? performance.now() : 0;
    const origin = headers.origin;
    const resolved = authenticated.get(request)!;
    // A browser sends Origin; a server key seen there has leaked, and its power must not be used.
    if (origin && resolved.kind === "server")
      throw new ApiError(403, "origin_not_allowed", "A server key is a secret for backends; browsers must use a write key.");
    if (origin && !originAllowed(resolved.settings.corsOrigins, origin)) {
      throw new ApiError(403, "origin_not_allowed", `This write key does not accept events from ${origin}.`);
    }
    stepTimes?.add(AUTH, started);
  };
  const enforceRateLimit: Step = ({ body, request }) => {
    const started = stepTimes ? performance.now() : 0;
    const resolved = authenticated.get(request)!;
    limiter?.enforce(resolved.tenantId, eventCount(body), resolved.settings);
    stepTimes?.add(AUTH, started);
  };
  const authenticateAdminKey = async ({ request }: Context): Promise<void> => {
    // Reading routes mostly have no body, so no keyBeforeBody step resolved their key.
    let known = early.get(request) ?? null;
    if (!known) {
      const found = lookUp(keys, headerKey(request));
      known = found instanceof Promise ? await found : found;
    }
    // A valid key of another kind is told so: it is authenticated, just not allowed here.
    if (known && known.kind !== "admin") throw ingestingKeyRefused();
    const resolved = accept(known, ADMIN_KEYS, adminRequired, guard, request);
    requestInfo(request).tenantId = resolved.tenantId;
    authenticated.set(request, resolved);
  };

  return new Elysia({ name: "key-auth" }).onParse({ as: "scoped" }, keyBeforeBody).macro({
    writeKey: {
      transform: [authenticateWriteKey, checkOrigin, enforceRateLimit],
      resolve: ({ request }): { auth: TenantAuth } => {
        const started = stepTimes ? performance.now() : 0;
        const { tenantId, keyId, settings, kind } = authenticated.get(request)!;
        const auth = { tenantId, keyId, settings, serverSide: kind === "server" };
        stepTimes?.add(AUTH, started);
        return { auth };
      },
    },
    adminKey: {
      transform: [authenticateAdminKey],
      resolve: ({ request }): { admin: AdminAuth } => {
        const { tenantId, keyId } = authenticated.get(request)!;
        return { admin: { tenantId, keyId } };
      },
    },
  });
}
