/**
 * The ingestion endpoints. Each answers 200 only after its events are committed to SQLite.
 *
 * The same handlers serve three sets of paths (see src/app.ts): Inlet's own (`/v1/events/track`
 * ...), the Segment HTTP Tracking API's (`/v1/track`, `/v1/batch`, `/v1/import` ...) and the short
 * ones Segment's browser library posts to (`/t`, `/i`, `/p`, `/s`, `/g`, `/a`, `/b`).
 */
import { Elysia } from "elysia";
import type { keyAuth } from "../../http/auth";
import { jsonBody } from "../../http/body";
import { findJsonViolation } from "../../http/json-limits";
import { ErrorBody, invalidRequest } from "../../http/errors";
import type { Outcome, Pipeline, RequestFacts, TenantAuth, Validated } from "../../pipeline";
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
  /** The key-auth plugin (src/http/auth.ts): routes take `{ writeKey: true }`. */
  auth: ReturnType<typeof keyAuth>;
  pipeline: Pipeline;
  /** The socket peer address of a request. */
  peerIp: (request: Request) => string | null;
}

const errors = { 400: ErrorBody, 401: ErrorBody, 413: ErrorBody, 429: ErrorBody, 503: ErrorBody };
const security: Record<string, string[]>[] = [{ bearer: [] }, { basic: [] }, { apiKey: [] }];

/** A byte limit as the documentation writes it. */
const kb = (bytes: number) => `${bytes / 1024} KB`;

const descriptions: Record<CallType, { summary: string; description: string }> = {
  track: {
    summary: "Track an event",
    description:
      `A Segment-spec track call. Answers 200 after the event is committed; a repeated messageId answers 200 with status \`duplicate\` and is not stored twice. Bodies over ${kb(MAX_EVENT_BYTES)} get 413.`,
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

const batchDescription = `A Segment batch: up to ${MAX_BATCH_EVENTS} calls of any type (${kb(MAX_BATCH_BYTES)} per request, ${kb(MAX_EVENT_BYTES)} per call). Each call is validated and stored on its own: the answer lists, in input order, accepted, duplicate, rejected (with reasons) or dropped. The status is 200 whenever the body parsed, even when some calls were rejected. All accepted calls are committed in one transaction before the answer.`;

/**
 * The payload version (Inlet-Version header) as a route option, `{ payloadVersion: true }`:
 * unknown is a 400; deprecated answers with Deprecation/Sunset headers and a warning in the body.
 * On a single-call route an older payload is validated against its own schema and upgraded
 * before the route's (current) schema validates it; a batch leaves that to each item. Runs after
 * key auth (whose route option comes first), before validation.
 */
const payloadVersion = new Elysia({ name: "payload-version" }).model(versionModels()).macro({
  payloadVersion: {
    // Arrow functions: Elysia's static analysis (Sucrose) misreads a minified method here.
    transform: (context: { headers: Record<string, string | undefined>; set: { headers: Record<string, unknown> }; request: Request; route: string; body: unknown }) => {
      const version = resolveVersion(context.headers[VERSION_HEADER]);
      const notice = deprecationNotice(version);
      if (notice) Object.assign(context.set.headers, notice.headers);
      versions.set(context.request, { schemaVersion: version, warnings: notice ? [notice.warning] : undefined });
      const type = singleCallRoutes.get(context.route);
      if (type === undefined) return;
      const upgraded = upgradeToCurrent(context.body, type, version);
      if ("errors" in upgraded) throw invalidRequest(`The event does not match version ${version.id}.`, upgraded.errors);
      context.body = upgraded.value;
    },
    resolve: ({ request }: { request: Request }) => versions.get(request)!,
  },
});
const versions = new WeakMap<Request, { schemaVersion: SchemaVersion; warnings: string[] | undefined }>();
/** Route (its full path) → the call type it takes, for the single-call routes. */
const singleCallRoutes = new Map<string, CallType>();

/**
 * The three sets of paths the ingestion endpoints answer on (see the file's comment). Each path
 * is written out, not built in a loop: the exported App type then holds every route with its
 * body, and typed clients (eden) check calls at compile time.
 */
export function eventsController(deps: EventsDeps) {
  return new Elysia({ name: "events" })
    .use(specRoutes(deps, "/v1/events", { tag: "Events" }))
    .use(specRoutes(deps, "/v1", { tag: "Segment compatibility" }).post("/import", ingestBatch(deps), batchRoute("/import")))
    .use(analyticsNextRoutes(deps));
}

interface RouteDoc {
  tag: string;
  /** Keeps near-duplicate paths out of the OpenAPI document. */
  hide?: boolean;
}

/** Inlet's own paths (`/v1/events/track` ...) and the Segment HTTP Tracking API's (`/v1/track` ...). */
function specRoutes<const Prefix extends "/v1/events" | "/v1">(deps: EventsDeps, prefix: Prefix, doc: RouteDoc) {
  track(prefix, { track: "/track", identify: "/identify", alias: "/alias", page: "/page", screen: "/screen", group: "/group" });
  return new Elysia({ prefix, tags: [doc.tag] })
    .use(deps.auth)
    .use(payloadVersion)
    .post("/track", ingestOne(deps, "track"), singleRoute("track", doc))
    .post("/identify", ingestIdentifying(deps, "identify"), singleRoute("identify", doc))
    .post("/alias", ingestIdentifying(deps, "alias"), singleRoute("alias", doc))
    .post("/page", ingestOne(deps, "page"), singleRoute("page", doc))
    .post("/screen", ingestOne(deps, "screen"), singleRoute("screen", doc))
    .post("/group", ingestOne(deps, "group"), singleRoute("group", doc))
    .post("/batch", ingestBatch(deps), batchRoute("/batch", doc));
}

/** Where Segment's browser library (analytics-next) posts: the first letter of the type, and /b for batches. */
function analyticsNextRoutes(deps: EventsDeps) {
  const doc = { tag: "Segment compatibility", hide: true };
  track("", { track: "/t", identify: "/i", alias: "/a", page: "/p", screen: "/s", group: "/g" });
  return new Elysia({ tags: [doc.tag] })
    .use(deps.auth)
    .use(payloadVersion)
    .post("/t", ingestOne(deps, "track"), singleRoute("track", doc))
    .post("/i", ingestIdentifying(deps, "identify"), singleRoute("identify", doc))
    .post("/a", ingestIdentifying(deps, "alias"), singleRoute("alias", doc))
    .post("/p", ingestOne(deps, "page"), singleRoute("page", doc))
    .post("/s", ingestOne(deps, "screen"), singleRoute("screen", doc))
    .post("/g", ingestOne(deps, "group"), singleRoute("group", doc))
    .post("/b", ingestBatch(deps), batchRoute("/b", doc));
}

/** Remembers which call type each single-call route takes (the payload-version upgrade needs it). */
function track(prefix: string, paths: Record<CallType, string>): void {
  for (const [type, path] of Object.entries(paths)) singleCallRoutes.set(prefix + path, type as CallType);
}

/** What a handler reads of its context (Elysia's, with the auth and version route options resolved). */
interface IngestContext<Body> {
  body: Body;
  auth: TenantAuth;
  request: Request;
  schemaVersion: SchemaVersion;
  warnings: string[] | undefined;
}

function requestFacts(peerIp: EventsDeps["peerIp"], request: Request): RequestFacts {
  // Looked up once per request, and only if an event has no context.ip of its own.
  let peer: string | null | undefined;
  return { peerIp: () => (peer === undefined ? (peer = peerIp(request)) : peer), header: (name) => request.headers.get(name) };
}

/** A single call: 200 once committed; a rejected call is a 400 with its reasons. */
async function ingestCall({ pipeline, peerIp }: EventsDeps, type: CallType, { body, auth, request, schemaVersion }: IngestContext<object>): Promise<Outcome> {
  const call = { ...body, type } as Call;
  const [outcome] = await pipeline.ingest(auth, [{ call }], { receivedAt: Date.now() }, requestFacts(peerIp, request), schemaVersion.id);
  if (outcome!.status === "rejected") throw invalidRequest("The event is invalid.", outcome!.errors);
  return outcome!;
}

function ingestOne(deps: EventsDeps, type: Exclude<CallType, "identify" | "alias">) {
  return async (context: IngestContext<object>) => {
    const outcome = await ingestCall(deps, type, context);
    return { success: true, messageId: outcome.messageId!, status: outcome.status, warnings: context.warnings };
  };
}

/** identify and alias also answer the lead. */
function ingestIdentifying(deps: EventsDeps, type: "identify" | "alias") {
  return async (context: IngestContext<object>) => {
    const outcome = await ingestCall(deps, type, context);
    return { success: true, messageId: outcome.messageId!, status: outcome.status, warnings: context.warnings, leadId: outcome.leadId ?? null, created: outcome.created ?? false };
  };
}

/** identify and alias answer the lead; the other calls only their status. */
const responses = { track: TrackResponse, identify: IdentifyResponse, alias: IdentifyResponse, page: TrackResponse, screen: TrackResponse, group: TrackResponse } as const;

function singleRoute<T extends CallType>(type: T, doc: RouteDoc) {
  return {
    writeKey: true,
    payloadVersion: true,
    parse: jsonBody(MAX_EVENT_BYTES),
    body: callSchemas[type],
    response: { 200: responses[type], ...errors },
    detail: { ...descriptions[type], security, hide: doc.hide },
  } as const;
}

function ingestBatch({ pipeline, peerIp }: EventsDeps) {
  return async ({ body, auth, request, schemaVersion, warnings }: IngestContext<BatchRequest>) => {
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
      requestFacts(peerIp, request),
      schemaVersion.id,
    );
    return { success: true, results: outcomes.map(toItemResult), warnings };
  };
}

function batchRoute(path: string, doc: RouteDoc = { tag: "Segment compatibility" }) {
  return {
    writeKey: true,
    payloadVersion: true,
    // Items are checked against the JSON limits one by one (validateBatchItem): a hostile item is rejected alone.
    parse: jsonBody(MAX_BATCH_BYTES, { separateItems: "batch" }),
    body: BatchRequest,
    response: { 200: BatchResponse, ...errors },
    detail: { summary: path === "/import" ? "Import a batch of historical calls" : "Send a batch of calls", description: batchDescription, security, hide: doc.hide },
  } as const;
}

/**
 * A batch item: over MAX_EVENT_BYTES it is rejected alone; otherwise validated against its type's schema
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
