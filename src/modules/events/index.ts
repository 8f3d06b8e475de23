/**
 * The ingestion endpoints. Each answers 200 only after its events are committed to SQLite.
 */
import { Elysia } from "elysia";
import { tenantAuth } from "../../http/auth";
import { jsonBody } from "../../http/body";
import { ErrorBody, invalidRequest } from "../../http/errors";
import type { KeyCache } from "../tenants/key-cache";
import type { Outcome, Pipeline, RequestFacts, TenantAuth, Validated } from "../../pipeline";
import {
  AliasCall,
  BatchRequest,
  BatchResponse,
  IdentifyCall,
  IdentifyResponse,
  MAX_BATCH_BYTES,
  MAX_BATCH_EVENTS,
  MAX_EVENT_BYTES,
  TrackCall,
  TrackResponse,
  validateCall,
  type Call,
  type ItemResult,
} from "./model";

export interface EventsDeps {
  keys: KeyCache;
  pipeline: Pipeline;
  /** The socket peer address of a request. */
  peerIp: (request: Request) => string | null;
}

const errors = { 400: ErrorBody, 401: ErrorBody, 413: ErrorBody, 429: ErrorBody, 503: ErrorBody };
const security: Record<string, string[]>[] = [{ bearer: [] }, { basic: [] }, { apiKey: [] }];
const utf8 = new TextEncoder();

export function eventsController({ keys, pipeline, peerIp }: EventsDeps) {
  const facts = (request: Request): RequestFacts => ({
    peerIp: peerIp(request),
    header: (name) => request.headers.get(name),
  });

  /** One call through the pipeline; a call the pipeline rejects is a 400. */
  const ingestOne = async (auth: TenantAuth, call: Call, request: Request): Promise<Outcome> => {
    const [outcome] = await pipeline.ingest(auth, [{ call }], { receivedAt: Date.now() }, facts(request));
    if (outcome!.status === "rejected") throw invalidRequest("The event is invalid.", outcome!.errors);
    return outcome!;
  };

  return new Elysia({ prefix: "/v1/events", tags: ["Events"] })
    .use(tenantAuth(keys))
    .post(
      "/track",
      async ({ body, auth, request }) => {
        const outcome = await ingestOne(auth, { ...body, type: "track" }, request);
        return { success: true, messageId: outcome.messageId!, status: outcome.status };
      },
      {
        parse: jsonBody(MAX_EVENT_BYTES),
        body: TrackCall,
        response: { 200: TrackResponse, ...errors },
        detail: {
          summary: "Track an event",
          description:
            "A Segment-spec track call. Answers 200 after the event is committed; a repeated messageId answers 200 with status `duplicate` and is not stored twice. Bodies over 32 KB get 413.",
          security,
        },
      },
    )
    .post(
      "/identify",
      async ({ body, auth, request }) => {
        const outcome = await ingestOne(auth, { ...body, type: "identify" }, request);
        return { success: true, messageId: outcome.messageId!, status: outcome.status, leadId: outcome.leadId ?? null, created: outcome.created ?? false };
      },
      {
        parse: jsonBody(MAX_EVENT_BYTES),
        body: IdentifyCall,
        response: { 200: IdentifyResponse, ...errors },
        detail: {
          summary: "Identify a user",
          description:
            "A Segment identify call. Creates or updates the lead (keyed by userId, else by email), merges traits (newer timestamp wins, null removes), and links the visitor (anonymousId) to the lead; the visitor's earlier events are attributed to it.",
          security,
        },
      },
    )
    .post(
      "/alias",
      async ({ body, auth, request }) => {
        const outcome = await ingestOne(auth, { ...body, type: "alias" }, request);
        return { success: true, messageId: outcome.messageId!, status: outcome.status, leadId: outcome.leadId ?? null, created: outcome.created ?? false };
      },
      {
        parse: jsonBody(MAX_EVENT_BYTES),
        body: AliasCall,
        response: { 200: IdentifyResponse, ...errors },
        detail: {
          summary: "Alias a previous id to a user",
          description: "Links previousId (an anonymousId or an earlier userId) to userId; two leads become one.",
          security,
        },
      },
    )
    .post(
      "/batch",
      async ({ body, auth, request }) => {
        if (body.batch.length > MAX_BATCH_EVENTS) {
          throw invalidRequest(`A batch holds at most ${MAX_BATCH_EVENTS} events; this one has ${body.batch.length}.`, [
            { path: "/batch", message: `Expected at most ${MAX_BATCH_EVENTS} items` },
          ]);
        }
        const calls: Validated[] = body.batch.map((item) => {
          const bytes = utf8.encode(JSON.stringify(item) ?? "").byteLength;
          if (bytes > MAX_EVENT_BYTES) {
            const id = item && typeof item === "object" ? (item as { messageId?: unknown }).messageId : undefined;
            return {
              errors: [{ path: "", message: `The event is ${bytes} bytes; at most ${MAX_EVENT_BYTES} are allowed` }],
              messageId: typeof id === "string" ? id : undefined,
            };
          }
          return validateCall(item);
        });
        const outcomes = await pipeline.ingest(
          auth,
          calls,
          { receivedAt: Date.now(), sentAt: body.sentAt, context: body.context, integrations: body.integrations },
          facts(request),
        );
        return { success: true, results: outcomes.map(toItemResult) };
      },
      {
        parse: jsonBody(MAX_BATCH_BYTES),
        body: BatchRequest,
        response: { 200: BatchResponse, ...errors },
        detail: {
          summary: "Send a batch of calls",
          description: `A Segment batch: up to ${MAX_BATCH_EVENTS} calls of any type (500 KB per request, 32 KB per call). Each call is validated and stored on its own: the answer lists, in input order, accepted, duplicate, rejected (with reasons) or dropped. The status is 200 whenever the body parsed, even when some calls were rejected. All accepted calls are committed in one transaction before the answer.`,
          security,
        },
      },
    );
}

function toItemResult(outcome: Outcome): ItemResult {
  const result: ItemResult = { status: outcome.status };
  if (outcome.messageId !== undefined) result.messageId = outcome.messageId;
  if (outcome.errors) result.errors = outcome.errors;
  return result;
}
