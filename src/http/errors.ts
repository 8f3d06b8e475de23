/**
 * The one error format of every failure:
 * `{"error": {"code", "message", "details": [{"path", "message"}]}, "requestId"}`.
 */
import { t, type Static } from "elysia";

export const ErrorDetail = t.Object({ path: t.String(), message: t.String() });
export type ErrorDetail = Static<typeof ErrorDetail>;

export const ErrorBody = t.Object(
  {
    error: t.Object({
      code: t.String({ examples: ["invalid_request"] }),
      message: t.String(),
      details: t.Array(ErrorDetail),
    }),
    requestId: t.String(),
  },
  { description: "The error format of every failure" },
);
export type ErrorBody = Static<typeof ErrorBody>;

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

export const invalidRequest = (message: string, details: ErrorDetail[] = []) =>
  new ApiError(400, "invalid_request", message, details);
export const unauthorized = () =>
  new ApiError(401, "unauthorized", "A valid write key is required (Bearer, Basic, X-API-Key or writeKey in the body).");
export const payloadTooLarge = (limit: number) =>
  new ApiError(413, "payload_too_large", `The request body is larger than ${limit} bytes.`);
export const unavailable = (message: string, retryAfter = 1) =>
  new ApiError(503, "unavailable", message, [], retryAfter);
export const tooManyRequests = (message: string, retryAfter: number) =>
  new ApiError(429, "rate_limited", message, [], retryAfter);

export function errorBody(code: string, message: string, details: ErrorDetail[], requestId: string): ErrorBody {
  return { error: { code, message, details }, requestId };
}
