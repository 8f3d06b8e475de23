/**
 * Derive-based tenant authentication. The write key may come as `Authorization: Bearer <key>`,
 * `Authorization: Basic base64(<key>:)` (Segment's convention), `X-API-Key`, or a `writeKey`
 * field in the JSON body (sendBeacon cannot set headers). Every failure is the same 401, so the
 * answer never tells whether a tenant or key exists.
 */
import { Elysia } from "elysia";
import type { KeyCache } from "../modules/tenants/key-cache";
import type { TenantAuth } from "../pipeline";
import { unauthorized } from "./errors";
import { requestInfo } from "./request-context";

const MAX_KEY_LENGTH = 256;

/** The key a request carries, or null. */
export function keyFromRequest(headers: Record<string, string | undefined>, body: unknown): string | null {
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
  return null;
}

export function tenantAuth(keys: KeyCache) {
  return new Elysia().derive({ as: "scoped" }, ({ headers, body, request }): { auth: TenantAuth } => {
    const key = keyFromRequest(headers, body);
    if (!key || key.length > MAX_KEY_LENGTH) throw unauthorized();
    const resolved = keys.resolve(key);
    // Write keys ingest; admin keys are for reading and are not accepted here (they are secrets,
    // write keys are public in browsers, and the two must not be confused).
    if (!resolved || resolved.kind !== "write") throw unauthorized();
    requestInfo(request).tenantId = resolved.tenantId;
    return { auth: { tenantId: resolved.tenantId, keyId: resolved.keyId, settings: resolved.settings } };
  });
}
