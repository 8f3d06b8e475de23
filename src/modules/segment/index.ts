/**
 * What Segment's browser library (analytics-next) needs besides the ingestion paths: when a site
 * loads it with `cdnURL` pointing at Inlet, it first fetches its project settings. Inlet answers
 * with the minimal settings document that sends everything to Inlet itself (the `Segment.io`
 * integration's `apiHost`) and loads no other integration, plugin or metrics endpoint.
 *
 * Where the events go must not be something a caller can choose for others: with a CDN in front,
 * one answer is served to every browser. So the host is `PUBLIC_URL` when set (the answer is then
 * the same for everyone and may be cached); without it, the request's own host, and
 * `X-Forwarded-Host`/`-Proto` only from a proxy in TRUST_PROXY, and the answer is never stored.
 */
import { Elysia, t } from "elysia";
import { TrustedProxies } from "../../enrich";
import { normalizeIp } from "../../enrich/ip-address";
import type { AuthGuard } from "../../http/auth";
import { errorResponses, unauthorized } from "../../http/errors";
import type { KeyCache } from "../tenants/key-cache";

export interface SegmentSettingsDeps {
  keys: KeyCache;
  /** PUBLIC_URL (validated by src/config.ts), or "" */
  publicUrl: string;
  /** TRUST_PROXY */
  trustProxy: readonly string[];
  /** The socket peer address of a request. */
  peerIp: (request: Request) => string | null;
  /** The failed-authentication limit per client address (the key is in the path: a guess costs a request). */
  guard?: AuthGuard;
}

/** A host as a Host header carries it: a name or address and an optional port. */
const HOST = /^(?:[A-Za-z0-9.-]{1,253}|\[[0-9A-Fa-f:.]{2,45}\])(?::\d{1,5})?$/;

/** How long a cache may keep an answer that names PUBLIC_URL (a revoked key's settings live this long). */
const PUBLIC_MAX_AGE_SECONDS = 300;

interface Target {
  apiHost: string;
  protocol: "http" | "https";
  /** The answer is the same for every caller. */
  shared: boolean;
}

export function segmentSettingsController({ keys, publicUrl, trustProxy, peerIp, guard }: SegmentSettingsDeps) {
  const proxies = new TrustedProxies(trustProxy);
  const configured: Target | null = publicUrl
    ? { apiHost: publicUrl.replace(/^https?:\/\//, ""), protocol: publicUrl.startsWith("https:") ? "https" : "http", shared: true }
    : null;

  const target = (request: Request): Target => {
    if (configured) return configured;
    const url = new URL(request.url);
    let host = request.headers.get("host") ?? url.host;
    let protocol = url.protocol === "https:" ? "https" : "http";
    const peer = proxies.size > 0 ? normalizeIp(peerIp(request)) : null;
    if (peer !== null && proxies.contains(peer)) {
      // Our proxy's view of the request: the first (client-facing) entry of each header.
      const forwardedHost = request.headers.get("x-forwarded-host")?.split(",")[0]?.trim();
      const forwardedProto = request.headers.get("x-forwarded-proto")?.split(",")[0]?.trim().toLowerCase();
      if (forwardedHost) host = forwardedHost;
      if (forwardedProto === "https" || forwardedProto === "http") protocol = forwardedProto;
    }
    return { apiHost: HOST.test(host) ? host : url.host, protocol: protocol as Target["protocol"], shared: false };
  };

  return new Elysia({ tags: ["Segment compatibility"] }).get(
    "/v1/projects/:writeKey/settings",
    async ({ params, request, set }) => {
      const found = keys.resolve(params.writeKey);
      const key = found instanceof Promise ? await found : found;
      if (!key || key.kind !== "write") throw guard ? guard.failures.failed(guard.address(request), unauthorized()) : unauthorized();
      const { apiHost, protocol, shared } = target(request);
      if (shared) {
        set.headers["cache-control"] = `public, max-age=${PUBLIC_MAX_AGE_SECONDS}`;
      } else {
        // Taken from this request's headers: no cache may hand it to anyone else.
        set.headers["cache-control"] = "private, no-store";
        set.headers.vary = "Host, X-Forwarded-Host, X-Forwarded-Proto";
      }
      return {
        integrations: {
          "Segment.io": { apiKey: params.writeKey, apiHost, protocol, unbundledIntegrations: [], addBundledMetadata: true, maybeBundledConfigIds: {} },
        },
        plan: {
          track: { __default: { enabled: true, integrations: {} } },
          identify: { __default: { enabled: true } },
          group: { __default: { enabled: true } },
        },
        edgeFunction: {},
        analyticsNextEnabled: true,
        middlewareSettings: {},
        enabledMiddleware: {},
        metrics: { sampleRate: 0 },
        legacyVideoPluginsEnabled: false,
        remotePlugins: [],
      };
    },
    {
      params: t.Object({ writeKey: t.String({ maxLength: 256 }) }),
      response: { 200: t.Object({ integrations: t.Record(t.String(), t.Unknown()) }, { additionalProperties: true }), ...errorResponses(401, 429) },
      detail: {
        summary: "Settings for Segment's browser library",
        description:
          "analytics-next fetches `{cdnURL}/v1/projects/{writeKey}/settings` on load; this answer points it at this Inlet server: `PUBLIC_URL` when set (cacheable), else the request's host (`X-Forwarded-Host` only from a trusted proxy; `Cache-Control: no-store`).",
      },
    },
  );
}
