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
import type { debuggerRecorder } from "../debugger/recorder";
import type { keyAuth } from "../../http/auth";
import { jsonBody } from "../../http/body";
import { errorResponses, invalidRequest } from "../../http/errors";
import type { Outcome, Pipeline, RequestFacts, TenantAuth } from "../../pipeline";
import { Kind } from "@sinclair/typebox";
import { t, type Static } from "elysia";
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
import { step, stepTimes } from "../../lib/step-times";

const VALIDATE = step("validate");
import { CURRENT_VERSION, deprecationNotice, resolveVersion, VERSION_HEADER, versionModels, type SchemaVersion } from "./versions";

export interface EventsDeps {
  /** The key-auth plugin (src/http/auth.ts): routes take `{ writeKey: true }`. */
  auth: ReturnType<typeof keyAuth>;
  pipeline: Pipeline;
  /** The socket peer address of a request. */
  peerIp: (request: Request) => string | null;
  /** Told every call and its outcome after the answer is sent: the live debugger's recorder. */
  recorder: ReturnType<typeof debuggerRecorder>;
}

const errors = errorResponses(400, 401, 403, 413, 415, 429, 503);
const security: Record<string, string[]>[] = [{ bearer: [] }, { basic: [] }, { apiKey: [] }];

/** A byte limit as the documentation writes it. */
const kb = (bytes: number) => `${bytes / 1024} KB`;

const descriptions: Record<CallType, { summary: string; description: string }> = {
  track: {
    summary: "Track an event",
    description: `A Segment-spec track call. Answers 200 after the event is committed; a repeated messageId answers 200 with status \`duplicate\` and is not stored twice. Bodies over ${kb(MAX_EVENT_BYTES)} get 413.`,
  },
  identify: {
    summary: "Identify a user",
    description:
      "A Segment identify call. Creates or updates the lead (keyed by userId, else by email), merges traits (newer time wins, a time past receipt counts as the receipt; null removes), and links the visitor (anonymousId) to the lead; the visitor's earlier events are attributed to it. An email that another userId's lead has merges the two only with a server key (sk_).",
  },
  alias: {
    summary: "Alias a previous id to a user",
    description:
      "Links previousId (an anonymousId or an earlier userId) to userId; two leads become one. Merging two leads that each have a userId takes a server key (sk_): with a write key they are kept apart.",
  },
  page: { summary: "Record a page view", description: "A Segment page call: name, category, properties (url, path, referrer, title...)." },
  screen: { summary: "Record a screen view", description: "A Segment screen call (mobile apps): name, category, properties." },
  group: { summary: "Associate a user with a group", description: "A Segment group call: groupId and traits; the group becomes the lead's account." },
};

const batchDescription = `A Segment batch: up to ${MAX_BATCH_EVENTS} calls of any type (${kb(MAX_BATCH_BYTES)} per request, ${kb(MAX_EVENT_BYTES)} per call). Each call is validated and stored on its own: the answer lists, in input order, accepted, duplicate, rejected (with reasons) or dropped. The status is 200 whenever the body parsed, even when some calls were rejected. All accepted calls are committed in one transaction before the answer.`;

/**
 * The payload version (Inlet-Version header) as a route option, `{ payloadVersion: true }`:
 * unknown is a 400; deprecated answers with Deprecation/Sunset headers and a warning in the body.
 * The payload itself is read in its version by validateEvent (service.ts). Runs after key auth
 * (whose route option comes first), before the handler.
 */
const payloadVersion = new Elysia({ name: "payload-version" }).model(versionModels()).macro({
  payloadVersion: {
    // An arrow function: Elysia's static analysis (Sucrose) misreads a minified method here.
    resolve: ({ headers, set }: { headers: Record<string, string | undefined>; set: { headers: Record<string, unknown> } }) => {
      const schemaVersion = resolveVersion(headers[VERSION_HEADER]);
      const notice = deprecationNotice(schemaVersion);
      if (notice) Object.assign(set.headers, notice.headers);
      return { schemaVersion, warnings: notice ? [notice.warning] : undefined };
    },
  },
});

/**
 * Every path the ingestion endpoints answer on (see the file's comment). Each path is written
 * out, not built in a loop: the exported App type then holds every route with its body, and
 * typed clients (eden) check calls at compile time.
 */
export function eventsController(deps: EventsDeps) {
  compileCallSchemas();
  return new Elysia({ name: "events" })
    .use(specRoutes(deps, "/v1/events", { tag: "Events" }))
    .use(specRoutes(deps, "/v1", { tag: "Segment compatibility" }).post("/import", ingestBatch(deps), batchRoute("/import")))
    .use(shortRoutes(deps, ""))
    .use(shortRoutes(deps, "/v1"))
    .use(rudderBeaconRoutes(deps));
}

interface RouteDoc {
  tag: string;
  /** Keeps near-duplicate paths out of the OpenAPI document. */
  hide?: boolean;
}

/** Inlet's own paths (`/v1/events/track` ...) and the Segment HTTP Tracking API's (`/v1/track` ...). */
function specRoutes<const Prefix extends "/v1/events" | "/v1">(deps: EventsDeps, prefix: Prefix, doc: RouteDoc) {
  return new Elysia({ prefix, tags: [doc.tag] })
    .use(deps.recorder)
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

/**
 * The short paths: the first letter of the type, and /b for batches. Segment's browser libraries
 * post to `<apiHost>/t` ..., and analytics-swift, analytics-kotlin and Analytics-CSharp to
 * `<apiHost>/b`; apiHost is the host alone or the host with `/v1` (Segment's proxy setup).
 */
function shortRoutes<const Prefix extends "" | "/v1">(deps: EventsDeps, prefix: Prefix) {
  const doc = { tag: "Segment compatibility", hide: true };
  return new Elysia({ prefix, tags: [doc.tag] })
    .use(deps.recorder)
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

/** RudderStack's beacon transport (rudder-sdk-js): a text/plain batch, the write key in the query string. */
function rudderBeaconRoutes(deps: EventsDeps) {
  const doc = { tag: "RudderStack compatibility", hide: true };
  return new Elysia({ prefix: "/beacon/v1", tags: [doc.tag] })
    .use(deps.recorder)
    .use(deps.auth)
    .use(payloadVersion)
    .post("/batch", ingestBatch(deps), batchRoute("/batch", doc));
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
async function ingestCall({ pipeline, peerIp }: EventsDeps, type: CallType, { body, auth, request, schemaVersion, warnings }: IngestContext<unknown>) {
  // The route's parser (jsonBody(MAX_EVENT_BYTES)) applied the JSON and size limits to the body.
  const started = stepTimes ? performance.now() : 0;
  const validated = validateEvent(body, type, schemaVersion, true);
  stepTimes?.add(VALIDATE, started);
  const [outcome] = await pipeline.ingest(auth, [validated], { receivedAt: Date.now() }, requestFacts(peerIp, request), schemaVersion.id);
  if (outcome!.status === "rejected") {
    throw invalidRequest(
      schemaVersion === CURRENT_VERSION ? "The event is invalid." : `The event does not match version ${schemaVersion.id}.`,
      outcome!.errors,
    );
  }
  const allWarnings = [...(warnings ?? []), ...(outcome!.warnings ?? [])];
  return {
    outcome: outcome!,
    answer: { success: true, messageId: outcome!.messageId!, status: outcome!.status, warnings: allWarnings.length > 0 ? allWarnings : undefined },
  };
}

// The handlers name the context's parts they read: Elysia computes only those (a context passed
// on whole makes it parse every request's cookies too).
function ingestOne(deps: EventsDeps, type: Exclude<CallType, "identify" | "alias">) {
  return async ({ body, auth, request, schemaVersion, warnings }: IngestContext<unknown>) =>
    (await ingestCall(deps, type, { body, auth, request, schemaVersion, warnings })).answer;
}

/** identify and alias also answer the lead. */
function ingestIdentifying(deps: EventsDeps, type: "identify" | "alias") {
  return async ({ body, auth, request, schemaVersion, warnings }: IngestContext<unknown>) => {
    const { outcome, answer } = await ingestCall(deps, type, { body, auth, request, schemaVersion, warnings });
    return { ...answer, leadId: outcome.leadId ?? null, created: outcome.created ?? false };
  };
}

/** identify and alias answer the lead; the other calls only their status. */
const responses = {
  track: TrackResponse,
  identify: IdentifyResponse,
  alias: IdentifyResponse,
  page: TrackResponse,
  screen: TrackResponse,
  group: TrackResponse,
} as const;

/**
 * The route's body: the call's schema as typed clients and the OpenAPI document see it, but of
 * TypeBox's kind Unknown, so that Elysia checks nothing at run time. validateEvent (service.ts)
 * validates every event the one way, single call or batch item, nulls and empty ids included.
 */
const typedBody = <T extends CallType>(type: T) => t.Unsafe<Static<(typeof callSchemas)[T]>>({ ...callSchemas[type], [Kind]: "Unknown" });

function singleRoute<T extends CallType>(type: T, doc: RouteDoc) {
  return {
    writeKey: true,
    payloadVersion: true,
    parse: jsonBody(MAX_EVENT_BYTES),
    body: typedBody(type),
    response: { 200: responses[type], ...errors },
    detail: { ...descriptions[type], security, hide: doc.hide, requestBody: requestBodyOf(callSchemas[type]) },
  } as const;
}

function ingestBatch({ pipeline, peerIp }: EventsDeps) {
  return async ({ body, auth, request, schemaVersion, warnings }: IngestContext<BatchRequest>) => {
    if (body.batch.length > MAX_BATCH_EVENTS) {
      throw invalidRequest(`A batch holds at most ${MAX_BATCH_EVENTS} events; this one has ${body.batch.length}.`, [
        { path: "/batch", message: `Expected at most ${MAX_BATCH_EVENTS} items` },
      ]);
    }
    const started = stepTimes ? performance.now() : 0;
    const calls = body.batch.map((item) => validateEvent(item, undefined, schemaVersion));
    stepTimes?.add(VALIDATE, started);
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
    // Items are checked against the JSON limits one by one (validateEvent): a hostile item is rejected alone.
    parse: jsonBody(MAX_BATCH_BYTES, { separateItems: "batch" }),
    body: BatchRequest,
    response: { 200: BatchResponse, ...errors },
    detail: {
      summary: path === "/import" ? "Import a batch of historical calls" : "Send a batch of calls",
      description: batchDescription,
      security,
      hide: doc.hide,
    },
  } as const;
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
