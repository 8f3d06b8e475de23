/**
 * The ingestion endpoints. Each answers 200 only after its events are committed to SQLite.
 */
import { Elysia } from "elysia";
import { tenantAuth } from "../../http/auth";
import { jsonBody } from "../../http/body";
import { ErrorBody, invalidRequest } from "../../http/errors";
import type { KeyCache } from "../tenants/key-cache";
import type { Pipeline, RequestFacts } from "../../pipeline";
import { MAX_EVENT_BYTES, TrackCall, TrackResponse } from "./model";

export interface EventsDeps {
  keys: KeyCache;
  pipeline: Pipeline;
  /** The socket peer address of a request. */
  peerIp: (request: Request) => string | null;
}

const errors = { 400: ErrorBody, 401: ErrorBody, 413: ErrorBody, 429: ErrorBody, 503: ErrorBody };
const security: Record<string, string[]>[] = [{ bearer: [] }, { basic: [] }, { apiKey: [] }];

export function eventsController({ keys, pipeline, peerIp }: EventsDeps) {
  const facts = (request: Request): RequestFacts => ({
    peerIp: peerIp(request),
    header: (name) => request.headers.get(name),
  });

  return new Elysia({ prefix: "/v1/events", tags: ["Events"] })
    .use(tenantAuth(keys))
    .post(
      "/track",
      async ({ body, auth, request }) => {
        const [outcome] = await pipeline.ingest(auth, [{ call: { ...body, type: "track" } }], { receivedAt: Date.now() }, facts(request));
        if (outcome!.status === "rejected") throw invalidRequest("The event is invalid.", outcome!.errors);
        return { success: true, messageId: outcome!.messageId!, status: outcome!.status };
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
    );
}
