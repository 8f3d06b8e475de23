/**
 * The one error format of every failure:
 * `{"error": {"code", "message", "details": [{"path", "message"}]}, "requestId"}`.
 */
import { t, type Static } from "elysia";

export const ErrorDetail = t.Object({ path: t.String(), message: t.String() });
export type ErrorDetail = Static<typeof ErrorDetail>;

const errorFields = {
  error: t.Object({
    code: t.String(),
    message: t.String(),
    details: t.Array(ErrorDetail),
  }),
  requestId: t.String(),
};

export const ErrorBody = t.Object(errorFields, { description: "The error format of every failure" });
export type ErrorBody = Static<typeof ErrorBody>;

const REQUEST_ID_EXAMPLE = "6f1c2a9e-3b7d-4c1a-9a0e-2d5b8f4e7c10";

/** What each error status means, with an example answer (the OpenAPI document shows both). */
const ERROR_STATUSES: Record<number, { description: string; code: string; message: string; details?: ErrorDetail[] }> = {
  400: {
    description: "Invalid request: not JSON, or an event that breaks the schema (each failing path in `details`)",
    code: "invalid_request",
    message: "The event is invalid.",
    details: [{ path: "/event", message: "Required: expected a non-empty string of at most 200 characters" }],
  },
  401: { description: "No valid key", code: "unauthorized", message: "A valid write key is required (Bearer, Basic, X-API-Key or writeKey in the body)." },
  403: {
    description: "Refused: an origin the key's tenant does not accept (or a write key on an admin route, or /metrics from outside loopback)",
    code: "origin_not_allowed",
    message: "This write key does not accept events from https://other.example.",
  },
  404: { description: "Not found", code: "not_found", message: "No route for GET /nowhere." },
  405: {
    description: "The path exists but not for this method (see the Allow header)",
    code: "method_not_allowed",
    message: "GET is not allowed on /v1/track; allowed: POST.",
  },
  409: {
    description: "A key prefix that names more than one live key",
    code: "ambiguous_key",
    message: "wk_ matches 3 keys (wk_Vb3k9QxZ, wk_8fJ2kLmQ, wk_Qa1b2C3d); give more of it or the key id.",
  },
  413: { description: "The body (or one event) is too large", code: "payload_too_large", message: "The request body is larger than 32768 bytes." },
  415: {
    description: "Unsupported Content-Type or Content-Encoding",
    code: "unsupported_media_type",
    message: "Content-Type application/xml is not accepted; send application/json or text/plain (JSON text).",
  },
  429: { description: "Over the tenant's rate limit (see Retry-After)", code: "rate_limited", message: "Too many requests for this tenant; retry after 1 s." },
  503: {
    description: "Storage is busy or unavailable; nothing was stored (see Retry-After)",
    code: "unavailable",
    message: "The server is busy; retry shortly.",
  },
};

/** OpenAPI responses for these error statuses: each with its own description and example. */
export function errorResponses<S extends number>(...statuses: S[]): Record<S, typeof ErrorBody> {
  const responses = {} as Record<S, typeof ErrorBody>;
  for (const status of statuses) {
    const { description, code, message, details = [] } = ERROR_STATUSES[status]!;
    // Examples on the properties: the OpenAPI generator keeps a response schema's properties only.
    responses[status] = t.Object(
      {
        error: t.Object(errorFields.error.properties, { example: { code, message, details } }),
        requestId: t.String({ example: REQUEST_ID_EXAMPLE }),
      },
      { description },
    );
  }
  return responses;
}

/** An error meant for the client: its status, code and message are safe to show. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: ErrorDetail[] = [],
    /** Seconds, for 429 and 503. */
    readonly retryAfter?: number,
  ) {
    super(message);
  }
}

export const invalidRequest = (message: string, details: ErrorDetail[] = []) => new ApiError(400, "invalid_request", message, details);
export const unauthorized = () => new ApiError(401, "unauthorized", "A valid write key is required (Bearer, Basic, X-API-Key or writeKey in the body).");
export const payloadTooLarge = (limit: number) => new ApiError(413, "payload_too_large", `The request body is larger than ${limit} bytes.`);
export const unavailable = (message: string, retryAfter = 1) => new ApiError(503, "unavailable", message, [], retryAfter);
/** The media types named to a client whose Content-Type is refused (see http/body.ts for all that are read). */
export const ACCEPTED_CONTENT_TYPES = ["application/json", "text/plain"];
export const unsupportedMediaType = (contentType: string) =>
  new ApiError(
    415,
    "unsupported_media_type",
    `Content-Type ${contentType.slice(0, 100)} is not accepted; send ${ACCEPTED_CONTENT_TYPES.join(" or ")} (JSON text).`,
    [{ path: "header:Content-Type", message: `Expected ${ACCEPTED_CONTENT_TYPES.join(" or ")}` }],
  );
export const methodNotAllowed = (method: string, path: string, allowed: string[]) =>
  new ApiError(405, "method_not_allowed", `${method} is not allowed on ${path}; allowed: ${allowed.join(", ")}.`);
export const tooManyRequests = (message: string, retryAfter: number) => new ApiError(429, "rate_limited", message, [], retryAfter);

export function errorBody(code: string, message: string, details: ErrorDetail[], requestId: string): ErrorBody {
  return { error: { code, message, details }, requestId };
}
