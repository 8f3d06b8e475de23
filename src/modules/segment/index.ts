/**
 * What Segment's browser library (analytics-next) needs besides the ingestion paths: when a site
 * loads it with `cdnURL` pointing at Inlet, it first fetches its project settings. Inlet answers
 * with the minimal settings document that sends everything to Inlet itself (the `Segment.io`
 * integration's `apiHost`) and loads no other integration, plugin or metrics endpoint.
 */
import { Elysia, t } from "elysia";
import { errorResponses, unauthorized } from "../../http/errors";
import type { KeyCache } from "../tenants/key-cache";

export function segmentSettingsController(keys: KeyCache) {
  return new Elysia({ tags: ["Segment compatibility"] }).get(
    "/v1/projects/:writeKey/settings",
    ({ params, request }) => {
      const key = keys.resolve(params.writeKey);
      if (!key || key.kind !== "write") throw unauthorized();
      const url = new URL(request.url);
      // The browser reached us at this host (through any proxy), so it can post events there too.
      const host = request.headers.get("x-forwarded-host") ?? request.headers.get("host") ?? url.host;
      const proto = request.headers.get("x-forwarded-proto") ?? url.protocol.replace(":", "");
      return {
        integrations: {
          "Segment.io": { apiKey: params.writeKey, apiHost: host, protocol: proto === "https" ? "https" : "http", unbundledIntegrations: [], addBundledMetadata: true, maybeBundledConfigIds: {} },
        },
        plan: { track: { __default: { enabled: true, integrations: {} } }, identify: { __default: { enabled: true } }, group: { __default: { enabled: true } } },
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
      response: { 200: t.Object({ integrations: t.Record(t.String(), t.Unknown()) }, { additionalProperties: true }), ...errorResponses(401) },
      detail: {
        summary: "Settings for Segment's browser library",
        description: "analytics-next fetches `{cdnURL}/v1/projects/{writeKey}/settings` on load; this answer points it at this Inlet server.",
      },
    },
  );
}
