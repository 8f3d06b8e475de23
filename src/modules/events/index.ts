/**
 * The ingestion endpoints. Each answers 200 only after its events are committed to SQLite.
 *
 * The same handlers serve three sets of paths (see src/app.ts): Inlet's own (`/v1/events/track`
 * ...), the Segment HTTP Tracking API's (`/v1/track`, `/v1/batch`, `/v1/import` ...) and the short
 * ones Segment's browser library posts to (`/t`, `/i`, `/p`, `/s`, `/g`, `/a`, `/b`).
 */
import { Elysia } from "elysia";
import { tenantAuth } from "../../http/auth";
import { jsonBody } from "../../http/body";
import { findJsonViolation } from "../../http/json-limits";
import type { TenantRateLimiter } from "../../http/rate-limit";
import { ErrorBody, invalidRequest } from "../../http/errors";
import type { KeyCache } from "../tenants/key-cache";
import { debuggerRecorder } from "../debugger/recorder";
import type { DebuggerService } from "../debugger/service";
import type { Outcome, Pipeline, RequestFacts, Validated } from "../../pipeline";
import {
  BatchRequest,
  BatchResponse,
  callSchemas,
  IdentifyResponse,
  MAX_BATCH_BYTES,
  MAX_BATCH_EVENTS,
  MAX_EVENT_BYTES,
  TrackResponse,
  messageIdOf,
  validateCall,
  type Call,
  type CallType,
  type ItemResult,
} from "./model";
import {
  CURRENT_VERSION,
  deprecationNotice,
  resolveVersion,
  upgradeToCurrent,
  VERSION_HEADER,
  versionModels,
  type SchemaVersion,
} from "./versions";

export interface EventsDeps {
  keys: KeyCache;
  pipeline: Pipeline;
  /** The socket peer address of a request. */
  peerIp: (request: Request) => string | null;
  /** Per-tenant rate limits, applied as soon as the key names the tenant. */
  limiter?: TenantRateLimiter;
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

/** Where Segment's browser library (analytics-next) posts: the first letter of the type, and /b for batches. */
export const analyticsNextRoutes: EventRoutes = {
  prefix: "",
  single: { "/t": "track", "/i": "identify", "/a": "alias", "/p": "page", "/s": "screen", "/g": "group" },
  batch: ["/b"],
  tag: "Segment compatibility",
  hide: true,
};

const errors = { 400: ErrorBody, 401: ErrorBody, 413: ErrorBody, 429: ErrorBody, 503: ErrorBody };
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

export function eventsController({ keys, pipeline, peerIp, limiter, debugger: debug }: EventsDeps, routes: EventRoutes) {
  const facts = (request: Request): RequestFacts => {
    // Looked up once per request, and only if an event has no context.ip of its own.
    let peer: string | null | undefined;
    return { peerIp: () => (peer === undefined ? (peer = peerIp(request)) : peer), header: (name) => request.headers.get(name) };
  };

  const typeOf = (path: string): string => routes.single[path.slice(routes.prefix.length)] ?? "batch";
  let app = new Elysia({ prefix: routes.prefix, tags: [routes.tag] })
    .use(debug ? debuggerRecorder(debug, keys, typeOf) : new Elysia())
    .use(tenantAuth(keys, limiter))
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
        const call = { ...(body as object), type } as Call;
        const [outcome] = await pipeline.ingest(auth, [{ call }], { receivedAt: Date.now() }, facts(request), schemaVersion.id);
        if (outcome!.status === "rejected") throw invalidRequest("The event is invalid.", outcome!.errors);
        const answer = { success: true, messageId: outcome!.messageId!, status: outcome!.status, warnings };
        return identifies ? { ...answer, leadId: outcome!.leadId ?? null, created: outcome!.created ?? false } : answer;
      },
      {
        parse: jsonBody(MAX_EVENT_BYTES),
        // An older payload version is validated against its own schema and upgraded before the
        // route's (current) schema validates it.
        // An arrow function: Elysia's static analysis (Sucrose) misreads a minified method here.
        transform: (context) => {
          // The derive above resolved the header already (instance transforms run before the route's).
          const version = context.schemaVersion;
          const upgraded = upgradeToCurrent(context.body, type, version);
          if ("errors" in upgraded) throw invalidRequest(`The event does not match version ${version.id}.`, upgraded.errors);
          context.body = upgraded.value as typeof context.body;
        },
        body: callSchemas[type],
        response: { 200: identifies ? IdentifyResponse : TrackResponse, ...errors },
        detail: { ...descriptions[type], security, hide: routes.hide },
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
        const calls: Validated[] = body.batch.map((item) => validateBatchItem(item, schemaVersion));
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
        // Items are checked against the JSON limits one by one (validateBatchItem): a hostile item is rejected alone.
        parse: jsonBody(MAX_BATCH_BYTES, { separateItems: "batch" }),
        body: BatchRequest,
        response: { 200: BatchResponse, ...errors },
        detail: { summary: path === "/import" ? "Import a batch of historical calls" : "Send a batch of calls", description: batchDescription, security, hide: routes.hide },
      },
    ) as unknown as typeof app;
  }
  return app;
}

/**
 * A batch item: over 32 KB it is rejected alone; otherwise validated against its type's schema
 * in the request's payload version, upgraded to the current version, and validated again.
 */
function validateBatchItem(item: unknown, version: SchemaVersion): Validated {
  // First: the JSON limits (depth, keys, string lengths, prototype keys), before anything walks the item.
  const violation = findJsonViolation(item);
  if (violation) return { errors: [violation], messageId: messageIdOf(item) };
  const bytes = Buffer.byteLength(JSON.stringify(item) ?? "");
  if (bytes > MAX_EVENT_BYTES) {
    return { errors: [{ path: "", message: `The event is ${bytes} bytes; at most ${MAX_EVENT_BYTES} are allowed` }], messageId: messageIdOf(item) };
  }
  if (version === CURRENT_VERSION) return validateCall(item);
  const type = item && typeof item === "object" ? (item as { type?: unknown }).type : undefined;
  if (typeof type !== "string" || !(type in callSchemas)) return validateCall(item);
  const upgraded = upgradeToCurrent(item, type as CallType, version);
  if ("errors" in upgraded) return { errors: upgraded.errors, messageId: messageIdOf(item) };
  return validateCall(upgraded.value);
}

function toItemResult(outcome: Outcome): ItemResult {
  const result: ItemResult = { status: outcome.status };
  if (outcome.messageId !== undefined) result.messageId = outcome.messageId;
  if (outcome.errors) result.errors = outcome.errors;
  return result;
}
