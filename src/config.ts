/**
 * The one place configuration comes from: environment variables, overridden by CLI flags,
 * validated at start. A bad value stops the program with a message naming the setting.
 * configuration table in docs/operations.md lists the same settings (test/config.test.ts keeps them in step).
 */
import { isIP } from "node:net";
import { TrustedProxies } from "./enrich";

type Kind = "port" | "int" | "string" | "path" | "bool" | "list" | "enum";

interface Setting {
  env: string;
  flag: string;
  kind: Kind;
  default: string;
  values?: readonly string[];
  min?: number;
  max?: number;
  doc: string;
}

export const settings = {
  port: { env: "PORT", flag: "port", kind: "port", default: "3000", doc: "HTTP port (0 picks a free one)" },
  host: { env: "HOST", flag: "host", kind: "string", default: "0.0.0.0", doc: "Address to listen on" },
  db: { env: "INLET_DB", flag: "db", kind: "path", default: "./data/inlet.db", doc: "SQLite database file" },
  databaseUrl: {
    env: "DATABASE_URL",
    flag: "database-url",
    kind: "string",
    default: "",
    doc: "A PostgreSQL URL (`postgres://user@host:5432/db`, PostgreSQL 15 or newer): store there instead of the SQLite file, so that several instances share the data",
  },
  pgPoolSize: {
    env: "PG_POOL_SIZE",
    flag: "pg-pool-size",
    kind: "int",
    min: 2,
    max: 1000,
    default: "10",
    doc: "PostgreSQL connections each instance keeps at most",
  },
  pgStatementTimeoutMs: {
    env: "PG_STATEMENT_TIMEOUT_MS",
    flag: "pg-statement-timeout",
    kind: "int",
    min: 100,
    max: 3_600_000,
    default: "10000",
    doc: "How long a PostgreSQL statement, or a wait for a pooled connection, may take before the request is answered 503 with Retry-After",
  },
  synchronous: {
    env: "INLET_SYNCHRONOUS",
    flag: "synchronous",
    kind: "enum",
    values: ["NORMAL", "FULL"],
    default: "NORMAL",
    doc: "SQLite synchronous mode: NORMAL survives a crash, FULL also a power loss",
  },
  walLimitMb: {
    env: "WAL_LIMIT_MB",
    flag: "wal-limit",
    kind: "int",
    min: 1,
    max: 65_536,
    default: "64",
    doc: "WAL size (MiB) past which commits pause a moment so the WAL can start over; bounds the WAL file under steady load",
  },
  sessionTimeoutMinutes: {
    env: "SESSION_TIMEOUT_MINUTES",
    flag: "session-timeout",
    kind: "int",
    min: 1,
    max: 24 * 60,
    default: "30",
    doc: "Inactivity (minutes) after which a visitor's next event starts a new session",
  },
  keyCacheTtlSeconds: {
    env: "KEY_CACHE_TTL_SECONDS",
    flag: "key-cache-ttl",
    kind: "int",
    min: 0,
    max: 3600,
    default: "30",
    doc: "How long a resolved API key is cached; a revoked key stops working within this time",
  },
  keyCacheSize: { env: "KEY_CACHE_SIZE", flag: "key-cache-size", kind: "int", min: 1, max: 10_000_000, default: "10000", doc: "API keys kept in the LRU" },
  sessionCacheSize: {
    env: "SESSION_CACHE_SIZE",
    flag: "session-cache-size",
    kind: "int",
    min: 1,
    max: 10_000_000,
    default: "100000",
    doc: "Recent visitors and their latest sessions kept in the LRUs",
  },
  maxQueuedEvents: {
    env: "MAX_QUEUED_EVENTS",
    flag: "max-queued-events",
    kind: "int",
    min: 1,
    max: 10_000_000,
    default: "50000",
    doc: "Events waiting for a commit above which writes answer 503 with Retry-After",
  },
  tenantQueueShare: {
    env: "TENANT_QUEUE_SHARE",
    flag: "tenant-queue-share",
    kind: "int",
    min: 1,
    max: 100,
    default: "50",
    doc: "The most of MAX_QUEUED_EVENTS (percent) one tenant may fill; past it that tenant's writes get 503 with Retry-After while the others' still get in (100: no per-tenant bound)",
  },
  rateLimitRps: {
    env: "RATE_LIMIT_RPS",
    flag: "rate-limit-rps",
    kind: "int",
    min: 0,
    max: 10_000_000,
    default: "50000",
    doc: "Requests per second each tenant may send (0: no limit); a tenant's own setting wins",
  },
  rateLimitEps: {
    env: "RATE_LIMIT_EPS",
    flag: "rate-limit-eps",
    kind: "int",
    min: 0,
    max: 100_000_000,
    default: "500000",
    doc: "Events per second each tenant may send, batch items counted (0: no limit); a tenant's own setting wins",
  },
  rateLimitBurstSeconds: {
    env: "RATE_LIMIT_BURST_SECONDS",
    flag: "rate-limit-burst",
    kind: "int",
    min: 1,
    max: 3600,
    default: "2",
    doc: "Bursts allowed above the rates: a tenant's buckets hold this many seconds' worth",
  },
  redisUrl: {
    env: "REDIS_URL",
    flag: "redis-url",
    kind: "string",
    default: "",
    doc: "Redis (`redis://` or `rediss://` URL) that holds the tenants' rate-limit buckets, so a tenant's limits hold across all instances sharing it; empty: each instance enforces them alone",
  },
  authFailuresPerMinute: {
    env: "AUTH_FAILURES_PER_MINUTE",
    flag: "auth-failure-limit",
    kind: "int",
    min: 0,
    max: 1_000_000,
    default: "60",
    doc: "Failed authentications each client address (IPv6: each /64) may make per minute; past that, requests without a valid key get 429 before their body is read (0: no limit)",
  },
  trustProxy: {
    env: "TRUST_PROXY",
    flag: "trust-proxy",
    kind: "list",
    default: "",
    doc: "Comma-separated CIDRs of proxies whose X-Forwarded-For / X-Real-IP are trusted",
  },
  publicUrl: {
    env: "PUBLIC_URL",
    flag: "public-url",
    kind: "string",
    default: "",
    doc: "The URL browsers reach Inlet at (e.g. `https://events.example.com`); Segment's settings route names it. Empty: the request's host, never cached",
  },
  geoipDb: {
    env: "GEOIP_DB",
    flag: "geoip-db",
    kind: "path",
    default: "",
    doc: "GeoLite2/GeoIP2 City or Country mmdb (default: the embedded country database)",
  },
  geoipAsnDb: { env: "GEOIP_ASN_DB", flag: "geoip-asn-db", kind: "path", default: "", doc: "Optional GeoLite2 ASN mmdb" },
  demo: { env: "INLET_DEMO", flag: "demo", kind: "bool", default: "true", doc: "Create a demo tenant and print its key when the database is empty" },
  logLevel: {
    env: "LOG_LEVEL",
    flag: "log-level",
    kind: "enum",
    values: ["debug", "info", "warn", "error", "silent"],
    default: "info",
    doc: "Log level; `info` logs one line per request",
  },
  stepTimes: {
    env: "INLET_STEP_TIMES",
    flag: "step-times",
    kind: "bool",
    default: "false",
    doc: "Benchmarking aid: time each step of a request; SIGUSR2 writes the totals to stderr (see performance.md)",
  },
  shutdownTimeoutMs: {
    env: "SHUTDOWN_TIMEOUT_MS",
    flag: "shutdown-timeout",
    kind: "int",
    min: 0,
    max: 600_000,
    default: "10000",
    doc: "How long SIGTERM waits for in-flight requests before closing",
  },
  metricsToken: {
    env: "METRICS_TOKEN",
    flag: "metrics-token",
    kind: "string",
    default: "",
    doc: "When set, `GET /metrics` is served on the public port to callers with `Authorization: Bearer <token>`",
  },
  metricsHost: {
    env: "METRICS_HOST",
    flag: "metrics-host",
    kind: "string",
    default: "127.0.0.1",
    doc: "Address of the separate metrics listener (with METRICS_PORT)",
  },
  metricsPort: {
    env: "METRICS_PORT",
    flag: "metrics-port",
    kind: "int",
    min: 0,
    max: 65_535,
    default: "0",
    doc: "When set (and no METRICS_TOKEN), `GET /metrics` is served only on this port, at METRICS_HOST; 0: on the public port, to loopback callers only",
  },
  operatorToken: {
    env: "INLET_OPERATOR_TOKEN",
    flag: "operator-token",
    kind: "string",
    default: "",
    doc: "When set, the admin API (`/v1/admin/*`: tenants, settings, keys) accepts `Authorization: Bearer <token>`; unset, those routes answer 404",
  },
  businessMetricsTtlSeconds: {
    env: "BUSINESS_METRICS_TTL_SECONDS",
    flag: "business-metrics-ttl",
    kind: "int",
    min: 1,
    max: 86_400,
    default: "60",
    doc: "How long the per-tenant business metrics on `/metrics` (SQL counts) are reused before a scrape recomputes them",
  },
  otelEndpoint: {
    env: "OTEL_EXPORTER_OTLP_ENDPOINT",
    flag: "otel-endpoint",
    kind: "string",
    default: "",
    doc: "OTLP collector base URL (e.g. `http://localhost:4318`); setting it turns tracing on. The SDK reads the other standard `OTEL_*` variables itself",
  },
  otelTracesExporter: {
    env: "OTEL_TRACES_EXPORTER",
    flag: "otel-traces-exporter",
    kind: "string",
    default: "",
    doc: "Trace exporters (`otlp`, `console`, `zipkin`; `none` = off); setting it turns tracing on. Empty: `otlp` when an endpoint is set",
  },
  otelServiceName: { env: "OTEL_SERVICE_NAME", flag: "otel-service-name", kind: "string", default: "inlet", doc: "The service name on exported traces" },
} as const satisfies Record<string, Setting>;

type Settings = typeof settings;
type ValueOf<S extends Setting> = S["kind"] extends "port" | "int"
  ? number
  : S["kind"] extends "bool"
    ? boolean
    : S["kind"] extends "list"
      ? string[]
      : S["kind"] extends "enum"
        ? S extends { values: readonly (infer V)[] }
          ? V
          : string
        : string;

export type Config = { [K in keyof Settings]: ValueOf<Settings[K]> };

export class ConfigError extends Error {
  override name = "ConfigError";
}

function parseValue(name: string, spec: Setting, raw: string, source: string): unknown {
  const fail = (why: string): never => {
    throw new ConfigError(`Invalid ${source} = ${JSON.stringify(raw)}: ${why} (${spec.doc}).`);
  };
  switch (spec.kind) {
    case "port":
    case "int": {
      if (!/^\d+$/.test(raw.trim())) fail("expected a whole number");
      const n = Number(raw);
      const min = spec.kind === "port" ? 0 : (spec.min ?? 0);
      const max = spec.kind === "port" ? 65535 : (spec.max ?? Number.MAX_SAFE_INTEGER);
      if (n < min || n > max) fail(`expected ${min}..${max}`);
      return n;
    }
    case "bool": {
      const v = raw.trim().toLowerCase();
      if (["1", "true", "yes", "on"].includes(v)) return true;
      if (["0", "false", "no", "off"].includes(v)) return false;
      return fail("expected true or false");
    }
    case "list": {
      const list = raw
        .split(",")
        .map((s) => s.trim())
        .filter(Boolean);
      if (name === "trustProxy") {
        try {
          new TrustedProxies(list);
        } catch (error) {
          fail((error as Error).message);
        }
      }
      return list;
    }
    case "enum": {
      const v = spec.values!.find((x) => x.toLowerCase() === raw.trim().toLowerCase());
      if (v === undefined) fail(`expected one of ${spec.values!.join(", ")}`);
      return v;
    }
    case "string":
      if ((name === "host" || name === "metricsHost") && raw !== "localhost" && isIP(raw) === 0) fail("expected an IP address or localhost");
      if (name === "publicUrl" && raw.trim() !== "") return publicUrl(raw.trim(), fail);
      if (name === "databaseUrl" && raw.trim() !== "") return databaseUrl(raw.trim(), fail);
      if (name === "redisUrl" && raw.trim() !== "")
        return /^rediss?:\/\/[^/?#]/.test(raw.trim()) && URL.canParse(raw.trim()) ? raw.trim() : fail("expected a redis:// or rediss:// URL");
      return raw;
    case "path":
      return raw.trim();
  }
}

/** PUBLIC_URL: an absolute http(s) URL, without credentials, query or fragment; kept without a trailing slash. */
function publicUrl(raw: string, fail: (why: string) => never): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return fail("expected an absolute URL such as https://events.example.com");
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") fail("expected an http or https URL");
  if (url.username || url.password || url.search || url.hash) fail("expected no user, query or fragment");
  return `${url.protocol}//${url.host}${url.pathname.replace(/\/+$/, "")}`;
}

/** DATABASE_URL: a postgres:// or postgresql:// URL with a database name. */
function databaseUrl(raw: string, fail: (why: string) => never): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return fail("expected a URL such as postgres://inlet@db.example.com:5432/inlet");
  }
  if (url.protocol !== "postgres:" && url.protocol !== "postgresql:") fail("expected a postgres:// URL");
  if (url.pathname.replace(/^\//, "") === "") fail("expected a database name in the URL's path");
  return raw;
}

/**
 * Builds the configuration from the environment and flags (flags win). `flags` holds the values
 * given on the command line by flag name, e.g. `{ port: "8080" }`.
 */
export function loadConfig(env: Record<string, string | undefined> = process.env, flags: Record<string, string | boolean | undefined> = {}): Config {
  const out: Record<string, unknown> = {};
  for (const [name, spec] of Object.entries(settings) as [string, Setting][]) {
    const flag = flags[spec.flag];
    let raw = spec.default;
    let source = `default ${spec.env}`;
    if (env[spec.env] !== undefined && env[spec.env] !== "") {
      raw = env[spec.env]!;
      source = spec.env;
    }
    if (flag !== undefined) {
      raw = typeof flag === "boolean" ? String(flag) : flag;
      source = `--${spec.flag}`;
    }
    out[name] = parseValue(name, spec, raw, source);
  }
  return out as Config;
}

/** The flag names and whether they take a value, for the CLI's argument parser. */
export function configFlagOptions(): Record<string, { type: "string" }> {
  const options: Record<string, { type: "string" }> = {};
  for (const spec of Object.values(settings) as Setting[]) options[spec.flag] = { type: "string" };
  return options;
}
