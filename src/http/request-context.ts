/**
 * Per-request bookkeeping: a request id (taken from `X-Request-Id` when the caller sends a sane
 * one), the start time, the tenant once authenticated, and one structured log line per request.
 */
import { Elysia } from "elysia";
import { logger } from "../logger";
import { redactKeys } from "../observability/redact";
import { step, stepTimes } from "../lib/step-times";

const REQUEST_ID = step("request id");
const LOG_LINE = step("log line");

export interface RequestInfo {
  id: string;
  start: number;
  tenantId?: string;
  /** The error code of a failed request, and the first failing path of an invalid one (logged). */
  errorCode?: string;
  errorPath?: string;
}

const infos = new WeakMap<Request, RequestInfo>();
const SANE_ID = /^[\w.:-]{1,128}$/;
let requestsSeen = 0;

/** Requests received since the process started (the heap pacer's sign of activity, src/heap-pacer.ts). */
export function requestCount(): number {
  return requestsSeen;
}

/** The bookkeeping of a request (created on first use, so it exists even for early failures). */
export function requestInfo(request: Request): RequestInfo {
  let info = infos.get(request);
  if (!info) {
    const given = request.headers.get("x-request-id");
    info = { id: given && SANE_ID.test(given) ? given : crypto.randomUUID(), start: performance.now() };
    infos.set(request, info);
  }
  return info;
}

export const requestContext = new Elysia({ name: "request-context" })
  .onRequest(({ request, set }) => {
    const started = stepTimes ? performance.now() : 0;
    requestsSeen++;
    set.headers["x-request-id"] = requestInfo(request).id;
    stepTimes?.add(REQUEST_ID, started);
  })
  .onAfterResponse({ as: "global" }, ({ request, set, path }) => {
    if (!logger.enabled("info")) return;
    const started = stepTimes ? performance.now() : 0;
    const info = requestInfo(request);
    logger.info("request", {
      method: request.method,
      // Never a whole key (Segment's settings route carries one in its path).
      path: redactKeys(path),
      status: typeof set.status === "number" ? set.status : 200,
      latencyMs: Math.round((performance.now() - info.start) * 100) / 100,
      tenantId: info.tenantId,
      requestId: info.id,
      errorCode: info.errorCode,
      errorPath: info.errorPath,
    });
    stepTimes?.add(LOG_LINE, started);
  });
