/**
 * The ingestion endpoints. Each answers 200 only after its events are committed to SQLite.
 *
 * The same handlers serve several sets of paths (see src/app.ts): Inlet's own (`/v1/events/track`
 * ...), the Segment HTTP Tracking API's (`/v1/track`, `/v1/batch`, `/v1/import` ...), the short
 * ones Segment's libraries post to (`/t`, `/i`, `/p`, `/s`, `/g`, `/a`, `/b`, at the root and
 * under `/v1`), and RudderStack's beacon batch path. Every event goes through one validation
 * function (service.ts), whichever path it came by.
 */
import { Elysia } from "elysia";
import { tenantAuth, type AuthGuard } from "../../http/auth";
import { jsonBody } from "../../http/body";
import type { TenantRateLimiter } from "../../http/rate-limit";
import { errorResponses, invalidRequest } from "../../http/errors";
import type { KeyCache } from "../tenants/key-cache";
import { debuggerRecorder } from "../debugger/recorder";
import type { DebuggerService } from "../debugger/service";
import type { Outcome, Pipeline, RequestFacts } from "../../pipeline";
import {
  BatchRequest,
  BatchResponse,
  callSchemas,
  compileCallSchemas,
  IdentifyResponse,
  MAX_BATCH_BYTES,
  MAX_BATCH_EVENTS,
  MAX_EVENT_BYTES,
  TrackResponse,
  type CallType,
  type ItemResult,
} from "./model";
import { validateEvent } from "./service";
import { CURRENT_VERSION, deprecationNotice, resolveVersion, VERSION_HEADER, versionModels } from "./versions";

export interface EventsDeps {
  keys: KeyCache;
  pipeline: Pipeline;
  /** The socket peer address of a request. */
  peerIp: (request: Request) => string | null;
  /** Per-tenant rate limits, applied as soon as the key names the tenant. */
  limiter?: TenantRateLimiter;
  /** The failed-authentication limit per client address. */
  guard?: AuthGuard;
  /** The live debugger's ring: every call and its outcome is recorded there (src/modules/debugger). */
  debugger?: DebuggerService;
}

export interface EventRoutes {
  prefix: string;
  /** Path (under prefix) → the call type it takes. */
  single: Record<string, CallType>;
  /** Paths (under prefix) that take a batch. */
  batch: string[];
  /** OpenAPI tag; `hide` keeps near-duplicate paths out of the document. */
  tag: string;
  hide?: boolean;
}

export const inletRoutes: EventRoutes = {
  prefix: "/v1/events",
  single: { "/track": "track", "/identify": "identify", "/alias": "alias", "/page": "page", "/screen": "screen", "/group": "group" },
  batch: ["/batch"],
  tag: "Events",
};

/** The Segment HTTP Tracking API's paths: a client pointed at Inlet's host works unchanged. */
export const segmentRoutes: EventRoutes = {
  prefix: "/v1",
  single: { "/track": "track", "/identify": "identify", "/alias": "alias", "/page": "page", "/screen": "screen", "/group": "group" },
  batch: ["/batch", "/import"],
  tag: "Segment compatibility",
};

/**
 * The short paths: the first letter of the type, and /b for batches. Segment's browser libraries
 * post to `<apiHost>/t` ..., and analytics-swift, analytics-kotlin and Analytics-CSharp to
 * `<apiHost>/b`; apiHost is the host alone or the host with `/v1` (Segment's proxy setup).
 */
const shortRoutes = (prefix: string): EventRoutes => ({
  prefix,
  single: { "/t": "track", "/i": "identify", "/a": "alias", "/p": "page", "/s": "screen", "/g": "group" },
  batch: ["/b"],
  tag: "Segment compatibility",
  hide: true,
});
export const analyticsNextRoutes = shortRoutes("");
export const shortV1Routes = shortRoutes("/v1");

/** RudderStack's beacon transport (rudder-sdk-js): a text/plain batch, the write key in the query string. */
export const rudderBeaconRoutes: EventRoutes = { prefix: "/beacon/v1", single: {}, batch: ["/batch"], tag: "RudderStack compatibility", hide: true };

const errors = errorResponses(400, 401, 403, 413, 415, 429, 503);
const security: Record<string, string[]>[] = [{ bearer: [] }, { basic: [] }, { apiKey: [] }];

const descriptions: Record<CallType, { summary: string; description: string }> = {
  track: {
    summary: "Track an event",
    description:
      "A Segment-spec track call. Answers 200 after the event is committed; a repeated messageId answers 200 with status `duplicate` and is not stored twice. Bodies over 32 KB get 413.",
  },
  identify: {
    summary: "Identify a user",
    description:
      "A Segment identify call. Creates or updates the lead (keyed by userId, else by email), merges traits (newer timestamp wins, null removes), and links the visitor (anonymousId) to the lead; the visitor's earlier events are attributed to it.",
  },
  alias: { summary: "Alias a previous id to a user", description: "Links previousId (an anonymousId or an earlier userId) to userId; two leads become one." },
  page: { summary: "Record a page view", description: "A Segment page call: name, category, properties (url, path, referrer, title...)." },
  screen: { summary: "Record a screen view", description: "A Segment screen call (mobile apps): name, category, properties." },
  group: { summary: "Associate a user with a group", description: "A Segment group call: groupId and traits; the group becomes the lead's account." },
};

const batchDescription = `A Segment batch: up to ${MAX_BATCH_EVENTS} calls of any type (500 KB per request, 32 KB per call). Each call is validated and stored on its own: the answer lists, in input order, accepted, duplicate, rejected (with reasons) or dropped. The status is 200 whenever the body parsed, even when some calls were rejected. All accepted calls are committed in one transaction before the answer.`;

export function eventsController({ keys, pipeline, peerIp, limiter, guard, debugger: debug }: EventsDeps, routes: EventRoutes) {
  const facts = (request: Request): RequestFacts => {
    // Looked up once per request, and only if an event has no context.ip of its own.
    let peer: string | null | undefined;
    return { peerIp: () => (peer === undefined ? (peer = peerIp(request)) : peer), header: (name) => request.headers.get(name) };
  };

  compileCallSchemas();
  const typeOf = (path: string): string => routes.single[path.slice(routes.prefix.length)] ?? "batch";
  let app = new Elysia({ prefix: routes.prefix, tags: [routes.tag] })
    .use(debug ? debuggerRecorder(debug, keys, typeOf) : new Elysia())
    .use(tenantAuth(keys, limiter, guard))
    .model(versionModels())
    // The payload version (Inlet-Version header): unknown is a 400; deprecated answers with
    // Deprecation/Sunset headers and a warning in the body.
    .derive({ as: "local" }, ({ headers, set }) => {
      const schemaVersion = resolveVersion(headers[VERSION_HEADER]);
      const notice = deprecationNotice(schemaVersion);
      if (notice) Object.assign(set.headers, notice.headers);
      return { schemaVersion, warnings: notice ? [notice.warning] : undefined };
    });

  for (const [path, type] of Object.entries(routes.single)) {
    const identifies = type === "identify" || type === "alias";
    app = app.post(
      path,
      async ({ body, auth, request, schemaVersion, warnings }) => {
        const validated = validateEvent(body, type, schemaVersion);
        const [outcome] = await pipeline.ingest(auth, [validated], { receivedAt: Date.now() }, facts(request), schemaVersion.id);
        if (outcome!.status === "rejected") {
          throw invalidRequest(schemaVersion === CURRENT_VERSION ? "The event is invalid." : `The event does not match version ${schemaVersion.id}.`, outcome!.errors);
        }
        const allWarnings = [...(warnings ?? []), ...(outcome!.warnings ?? [])];
        const answer = { success: true, messageId: outcome!.messageId!, status: outcome!.status, warnings: allWarnings.length > 0 ? allWarnings : undefined };
        return identifies ? { ...answer, leadId: outcome!.leadId ?? null, created: outcome!.created ?? false } : answer;
      },
      {
        // The body is validated by validateEvent (service.ts), like a batch item; its schema is
        // named here for the OpenAPI document.
        parse: jsonBody(MAX_EVENT_BYTES),
        response: { 200: identifies ? IdentifyResponse : TrackResponse, ...errors },
        detail: { ...descriptions[type], security, hide: routes.hide, requestBody: requestBodyOf(callSchemas[type]) },
      },
    ) as unknown as typeof app;
  }

  for (const path of routes.batch) {
    app = app.post(
      path,
      async ({ body, auth, request, schemaVersion, warnings }) => {
        if (body.batch.length > MAX_BATCH_EVENTS) {
          throw invalidRequest(`A batch holds at most ${MAX_BATCH_EVENTS} events; this one has ${body.batch.length}.`, [
            { path: "/batch", message: `Expected at most ${MAX_BATCH_EVENTS} items` },
          ]);
        }
        const calls = body.batch.map((item) => validateEvent(item, undefined, schemaVersion));
        const outcomes = await pipeline.ingest(
          auth,
          calls,
          { receivedAt: Date.now(), sentAt: body.sentAt, context: body.context, integrations: body.integrations },
          facts(request),
          schemaVersion.id,
        );
        return { success: true, results: outcomes.map(toItemResult), warnings };
      },
      {
        // Items are checked against the JSON limits one by one (validateEvent): a hostile item is rejected alone.
        parse: jsonBody(MAX_BATCH_BYTES, { separateItems: "batch" }),
        body: BatchRequest,
        response: { 200: BatchResponse, ...errors },
        detail: { summary: path === "/import" ? "Import a batch of historical calls" : "Send a batch of calls", description: batchDescription, security, hide: routes.hide },
      },
    ) as unknown as typeof app;
  }
  return app;
}

/** The OpenAPI request body of an event route: JSON, or the same as text/plain (sendBeacon). */
function requestBodyOf(schema: object) {
  return { required: true, content: { "application/json": { schema }, "text/plain": { schema } } };
}

function toItemResult(outcome: Outcome): ItemResult {
  const result: ItemResult = { status: outcome.status };
  if (outcome.messageId !== undefined) result.messageId = outcome.messageId;
  if (outcome.errors) result.errors = outcome.errors;
  if (outcome.warnings) result.warnings = outcome.warnings;
  return result;
}
