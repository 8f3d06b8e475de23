/**
 * `GET /metrics`: Prometheus text exposition, optionally behind a bearer token (METRICS_TOKEN),
 * and the global hook that counts every answered request by route template and status.
 */
import { timingSafeEqual } from "node:crypto";
import { Elysia, t } from "elysia";
import { ApiError, ErrorBody } from "../../http/errors";
import { requestInfo } from "../../http/request-context";
import type { Metrics } from "../../observability/metrics";

export interface MetricsDeps {
  metrics: Metrics;
  /** Empty: /metrics is open (bind it to a private network or set a token). */
  token: string;
}

/** Requests that matched no route share one label, so scanners cannot create series. */
const UNMATCHED_ROUTE = "unmatched";

export function metricsController({ metrics, token }: MetricsDeps) {
  const expected = token ? digest(token) : null;
  return new Elysia({ name: "metrics", tags: ["Operations"] })
    .onAfterResponse({ as: "global" }, ({ request, route, set }) => {
      const info = requestInfo(request);
      const status = typeof set.status === "number" ? set.status : 200;
      metrics.requestDone(request.method, route || UNMATCHED_ROUTE, status, (performance.now() - info.start) / 1000, info.tenantId);
    })
    .get(
      "/metrics",
      async ({ headers, set }) => {
        if (expected && !matches(expected, bearer(headers.authorization))) {
          throw new ApiError(401, "unauthorized", "A metrics token is required: Authorization: Bearer <METRICS_TOKEN>.");
        }
        set.headers["content-type"] = metrics.contentType;
        return metrics.render();
      },
      {
        response: { 200: t.String({ description: "Prometheus text exposition format" }), 401: ErrorBody },
        detail: {
          summary: "Prometheus metrics",
          description:
            "Requests by route and status, latency, events by tenant, type and status, batch and group-commit sizes, queue depth, cache hits, rate limiting, database size, free disk, readiness, process memory, and per-tenant business metrics. With METRICS_TOKEN set, send `Authorization: Bearer <token>`.",
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
