/**
 * `GET /metrics`: Prometheus text exposition, and the global hook that counts every answered
 * request by route template and status. Who may read it (docs/api.md "Metrics binding"): with
 * METRICS_TOKEN, anyone with the token; with METRICS_PORT, only callers of that separate listener;
 * otherwise only loopback callers that came through no proxy. It names every tenant and its volume.
 */
import { timingSafeEqual } from "node:crypto";
import { Elysia, t } from "elysia";
import { ApiError, errorResponses } from "../../http/errors";
import { FALLBACK_ROUTE } from "../../http/fallback";
import { requestInfo } from "../../http/request-context";
import type { Metrics } from "../../observability/metrics";
import { step, stepTimes } from "../../lib/step-times";

const METRICS = step("metrics");

export interface MetricsDeps {
  metrics: Metrics;
  /** Set: /metrics is served to callers with this bearer token. */
  token: string;
  /** The socket peer address of a request (the loopback-only default). */
  peerIp: (request: Request) => string | null;
  /**
   * `public`: the public port, which serves /metrics by the rule above; `elsewhere`: the public
   * port while a separate listener serves /metrics (404 here); `own`: that separate listener.
   */
  listener: "public" | "elsewhere" | "own";
}

/** Headers a proxy adds: a loopback peer that sends one is a local proxy for someone else. */
const PROXY_HEADERS = ["x-forwarded-for", "forwarded", "x-real-ip"];

/** Whether the default (no token, no separate listener) lets this request read /metrics. */
export function isLocalCaller(request: Request, peer: string | null): boolean {
  if (peer === null || PROXY_HEADERS.some((name) => request.headers.has(name))) return false;
  return peer === "::1" || peer.startsWith("127.") || peer.startsWith("::ffff:127.");
}

/** Requests that matched no route share one label, so scanners cannot create series. */
const UNMATCHED_ROUTE = "unmatched";

export function metricsController({ metrics, token, peerIp, listener }: MetricsDeps) {
  const expected = token ? digest(token) : null;
  return new Elysia({ name: "metrics", tags: ["Operations"] })
    .onAfterResponse({ as: "global" }, ({ request, route, set }) => {
      const started = stepTimes ? performance.now() : 0;
      const info = requestInfo(request);
      const status = typeof set.status === "number" ? set.status : 200;
      metrics.requestDone(
        request.method,
        route && route !== FALLBACK_ROUTE ? route : UNMATCHED_ROUTE,
        status,
        (performance.now() - info.start) / 1000,
        info.tenantId,
      );
      stepTimes?.add(METRICS, started);
    })
    .get(
      "/metrics",
      async ({ headers, set, request }) => {
        if (listener === "own") {
          // The operator bound this listener where scrapers reach it.
        } else if (expected) {
          if (!matches(expected, bearer(headers.authorization)))
            throw new ApiError(401, "unauthorized", "A metrics token is required: Authorization: Bearer <METRICS_TOKEN>.");
        } else if (listener === "elsewhere") {
          throw new ApiError(404, "not_found", "Metrics are served on the metrics port (METRICS_PORT), not here.");
        } else if (!isLocalCaller(request, peerIp(request))) {
          throw new ApiError(403, "forbidden", "Metrics are served to loopback callers only; set METRICS_TOKEN or METRICS_PORT to scrape from elsewhere.");
        }
        set.headers["content-type"] = metrics.contentType;
        return metrics.render();
      },
      {
        response: { 200: t.String({ description: "Prometheus text exposition format" }), ...errorResponses(401, 403, 404) },
        detail: {
          summary: "Prometheus metrics",
          description:
            "Requests by route and status, latency, events by tenant, type and status, batch and group-commit sizes, queue depth, cache hits, rate limiting, database size, free disk, readiness, process memory, and per-tenant business metrics. Loopback callers only by default; with METRICS_TOKEN set, send `Authorization: Bearer <token>`.",
        },
      },
    );
}

function bearer(authorization: string | undefined): string | null {
  const match = authorization ? /^Bearer\s+(.+)$/i.exec(authorization.trim()) : null;
  return match ? match[1]! : null;
}

function digest(value: string): Buffer {
  return Buffer.from(new Bun.CryptoHasher("sha256").update(value).digest());
}

/** Compares digests in constant time, so the answer time says nothing about the token. */
function matches(expected: Buffer, given: string | null): boolean {
  return given !== null && timingSafeEqual(expected, digest(given));
}
