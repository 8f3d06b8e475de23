/**
 * Maps every failure to the one error format; internals never reach the client. The one place
 * where domain failures get their status codes: storage busy or at fault is a 503 with
 * Retry-After (the client retries; nothing was stored).
 */
import { Elysia, type ValidationError, type TSchema } from "elysia";
import { logger } from "../logger";
import { StorageError } from "../pipeline/errors";
import { humanErrors } from "../schema-errors";
import { ApiError, errorBody, unavailable, type ErrorDetail } from "./errors";
import { requestInfo } from "./request-context";

/** A failure as the client is told it: ApiErrors as they are, domain failures mapped. */
function asApiError(error: unknown): unknown {
  if (error instanceof StorageError) return unavailable(error.message, error.retryAfter);
  return error;
}

function validationDetails(error: ValidationError): ErrorDetail[] {
  return humanErrors(error.all as Iterable<{ path?: unknown; schema?: TSchema; value?: unknown }>);
}

/** A failure as the client is told it; null for an unexpected error (a 500, logged). */
export interface Failure {
  status: number;
  code: string;
  message: string;
  details: ErrorDetail[];
  retryAfter?: number;
}

/** What the client is told of an error Elysia raised (`code`: Elysia's error code). */
export function describeFailure(code: string | number, raised: unknown, request: Request): Failure | null {
  // Elysia wraps what a parse hook throws in a ParseError; ours are ApiErrors with their own status,
  // or a storage failure of the key lookup that runs before the body is read (a 503, not bad JSON).
  const cause = code === "PARSE" ? (raised as Error).cause : undefined;
  const error = asApiError(cause instanceof ApiError || cause instanceof StorageError ? cause : raised);
  const reply = (status: number, code: string, message: string, details: ErrorDetail[] = []): Failure => ({ status, code, message, details });

  if (error instanceof ApiError) return { ...reply(error.status, error.code, error.message, error.details), retryAfter: error.retryAfter };
  switch (code) {
    case "VALIDATION":
      return reply(400, "invalid_request", "The request does not match the schema.", validationDetails(error as ValidationError));
    case "PARSE":
      return reply(400, "invalid_json", "The request body is not valid JSON.");
    case "NOT_FOUND":
      return reply(404, "not_found", `No route for ${request.method} ${new URL(request.url).pathname}.`);
    case "INVALID_COOKIE_SIGNATURE":
    case "INVALID_FILE_TYPE":
      return reply(400, "invalid_request", "The request is invalid.");
  }
  const status = (error as { status?: unknown }).status;
  if (typeof status === "number" && status >= 400 && status < 500) {
    return reply(status, status === 413 ? "payload_too_large" : "invalid_request", (error as Error).message || "The request is invalid.");
  }
  return null;
}

export const errorHandler = new Elysia({ name: "error-handler" }).onError({ as: "global" }, ({ code, error, request, set }) => {
  const requestId = requestInfo(request).id;
  const reply = (status: number, code: string, message: string, details: ErrorDetail[] = []) => {
    // For the request's log line: why it failed, without asking the client.
    const info = requestInfo(request);
    info.errorCode = code;
    info.errorPath = details[0]?.path;
    set.status = status;
    set.headers["content-type"] = "application/json";
    return errorBody(code, message, details, requestId);
  };
  const failure = describeFailure(code, error, request);
  if (!failure) {
    logger.error("unexpected error", { requestId, error });
    return reply(500, "internal_error", "Something went wrong on our side; the request id helps us find it.");
  }
  if (failure.retryAfter !== undefined) set.headers["retry-after"] = String(failure.retryAfter);
  return reply(failure.status, failure.code, failure.message, failure.details);
});
