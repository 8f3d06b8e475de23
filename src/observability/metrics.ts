/**
 * Prometheus metrics (prom-client, one registry per server). The hot path only increments
 * counters and observes histograms; everything that the services already count (cache hits,
 * queue depth, session cache size) or that is a fact of the moment (database size, free disk,
 * readiness, memory) is read by collect() callbacks when /metrics is scraped, so it costs
 * nothing between scrapes. Per-tenant business metrics are SQL counts, recomputed on a scrape at
 * most every `businessTtlMs`.
 *
 * Labels are bounded: routes are route templates, tenants are tenant ids (bounded by the
 * tenants an operator creates), event types are the six Segment types. Never user ids.
 */
import { statSync } from "node:fs";
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import type { Activity } from "./business";

/** What the scrape-time collectors read: each service's own counters. */
export interface MetricSources {
  /** The SQLite file (null on PostgreSQL: no file sizes to report). */
  dbPath: string | null;
  maxQueuedEvents: number;
  queuedEvents(): number;
  /** Cumulative hits and misses per cache (keys, visitors, sessions, user_agents). */
  caches(): Record<string, { hits: number; misses: number }>;
  /** Visitors whose latest session is in the session cache. */
  cachedSessions(): number;
  ready(): boolean | Promise<boolean>;
  /** Free bytes on the database's file system. */
  diskFreeBytes(): number;
  /** Each tenant's activity over the last `BUSINESS_WINDOW_MS`. */
  tenantActivity(from: number, to: number): Promise<{ tenantId: string; activity: Activity }[]>;
}

/** The window of the per-tenant business metrics on /metrics. */
export const BUSINESS_WINDOW_MS = 60 * 60_000;

const SECONDS_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const EVENT_TYPES = new Set(["track", "identify", "page", "screen", "group", "alias"]);

/**
 * Counts by label values for a prom-client Counter, handed over when /metrics is scraped. An
 * `inc` with labels makes prom-client hash the labels object on every call (a batch of 100 calls
 * paid it 100 times, over a tenth of the CPU of a batched event on PostgreSQL); here one call costs
 * a string key and a Map lookup.
 */
class Tally<L extends string> {
  private readonly counts = new Map<string, { labels: Record<L, string>; n: number }>();

  constructor(private readonly names: readonly L[]) {}

  add(values: readonly string[], n = 1): void {
    const key = values.join("\u0000");
    let entry = this.counts.get(key);
    if (!entry) {
      const labels = {} as Record<L, string>;
      this.names.forEach((name, i) => {
        labels[name] = values[i]!;
      });
      entry = { labels, n: 0 };
      this.counts.set(key, entry);
    }
    entry.n += n;
  }

  /** Adds what was counted since the last scrape to `counter` (label sets are bounded: entries are kept). */
  drainInto(counter: Counter<L>): void {
    for (const entry of this.counts.values()) {
      if (entry.n === 0) continue;
      counter.inc(entry.labels, entry.n);
      entry.n = 0;
    }
  }
}

export class Metrics {
  readonly registry = new Registry();
  private readonly requestTally = new Tally(["method", "route", "status"] as const);
  private readonly eventTally = new Tally(["tenant", "type", "status"] as const);
  private readonly requests: Counter<"method" | "route" | "status"> = new Counter({
    name: "inlet_http_requests_total",
    help: "HTTP requests answered, by method, route template and status",
    labelNames: ["method", "route", "status"] as const,
    registers: [this.registry],
    collect: () => this.requestTally.drainInto(this.requests),
  });
  private readonly latency = new Histogram({
    name: "inlet_http_request_duration_seconds",
    help: "Time from receiving a request to having answered it, by method and route template",
    labelNames: ["method", "route"] as const,
    buckets: SECONDS_BUCKETS,
    registers: [this.registry],
  });
  private readonly events: Counter<"tenant" | "type" | "status"> = new Counter({
    name: "inlet_events_total",
    help: "Calls ingested, by tenant, type (unknown when rejected before its type was known) and status (accepted, duplicate, rejected, dropped, suppressed)",
    labelNames: ["tenant", "type", "status"] as const,
    registers: [this.registry],
    collect: () => this.eventTally.drainInto(this.events),
  });
  private readonly versions = new Counter({
    name: "inlet_events_by_schema_version_total",
    help: "Calls ingested, by the payload schema version they arrived in (the Inlet-Version header, or the default)",
    labelNames: ["version"] as const,
    registers: [this.registry],
  });
  private readonly batchSize = new Histogram({
    name: "inlet_batch_size",
    help: "Calls per ingestion request (1 for track, identify and alias; the item count for batch)",
    buckets: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2500],
    registers: [this.registry],
  });
  private readonly commitJobs = new Histogram({
    name: "inlet_group_commit_size",
    help: "Requests (writer jobs) committed together in one SQLite transaction",
    buckets: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000],
    registers: [this.registry],
  });
  private readonly commitDuration = new Histogram({
    name: "inlet_group_commit_duration_seconds",
    help: "Time to run and commit one group commit's transaction",
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [this.registry],
  });
  private readonly identityConflicts = new Counter({
    name: "inlet_identity_conflicts_total",
    help: "Calls kept apart from another person's lead instead of merging two identified leads (a client-side key may not), by tenant and reason (same_email, alias, email_only)",
    labelNames: ["tenant", "reason"] as const,
    registers: [this.registry],
  });
  private readonly rateLimited = new Counter({
    name: "inlet_rate_limited_requests_total",
    help: "Requests refused with 429 by a tenant's rate limit, by tenant",
    labelNames: ["tenant"] as const,
    registers: [this.registry],
  });
  private readonly rateLimitFallbacks = new Counter({
    name: "inlet_rate_limit_local_fallbacks_total",
    help: "Requests whose rate limits this instance decided alone because Redis (REDIS_URL) did not answer",
    registers: [this.registry],
  });

  private readonly retentionDeleted = new Counter({
    name: "inlet_retention_deleted_total",
    help: "Rows deleted by the retention task (kind: events, sessions, visitors, leads), by tenant",
    labelNames: ["tenant", "kind"] as const,
    registers: [this.registry],
  });
  private readonly privacyDeleted = new Counter({
    name: "inlet_privacy_deleted_total",
    help: "Rows deleted by erasures of people (kind: events, sessions, visitors, leads), by tenant",
    labelNames: ["tenant", "kind"] as const,
    registers: [this.registry],
  });

  /** A request whose rate limits this instance decided alone, Redis not answering. */
  rateLimitFallback(): void {
    this.rateLimitFallbacks.inc();
  }

  /** What a retention run (`retention`) or an erasure (`privacy`) deleted. */
  deleted(source: "retention" | "privacy", tenantId: string, counts: Record<string, number>): void {
    const counter = source === "retention" ? this.retentionDeleted : this.privacyDeleted;
    for (const [kind, n] of Object.entries(counts)) if (n > 0) counter.inc({ tenant: tenantId, kind }, n);
  }

  /** Registers the scrape-time collectors; call once the services exist. */
  watch(sources: MetricSources, businessTtlMs: number): void {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    new Gauge({
      name: "inlet_write_queue_events",
      help: "Events waiting for the next group commit",
      registers,
      collect() {
        this.set(sources.queuedEvents());
      },
    });
    new Gauge({
      name: "inlet_write_queue_limit_events",
      help: "Queued events above which writes answer 503 (MAX_QUEUED_EVENTS)",
      registers,
      collect() {
        this.set(sources.maxQueuedEvents);
      },
    });
    // Mirrors of counters the caches keep themselves: reset and re-set on every scrape.
    new Counter({
      name: "inlet_cache_hits_total",
      help: "Cache hits, by cache (keys, visitors, sessions, user_agents)",
      labelNames: ["cache"] as const,
      registers,
      collect() {
        this.reset();
        for (const [cache, { hits }] of Object.entries(sources.caches())) this.inc({ cache }, hits);
      },
    });
    new Counter({
      name: "inlet_cache_misses_total",
      help: "Cache misses, by cache (keys, visitors, sessions, user_agents)",
      labelNames: ["cache"] as const,
      registers,
      collect() {
        this.reset();
        for (const [cache, { misses }] of Object.entries(sources.caches())) this.inc({ cache }, misses);
      },
    });
    new Gauge({
      name: "inlet_active_sessions",
      help: "Sessions in the session cache: the latest session of each recently active visitor (at most SESSION_CACHE_SIZE)",
      registers,
      collect() {
        this.set(sources.cachedSessions());
      },
    });
    new Gauge({
      name: "inlet_db_size_bytes",
      help: "Size of the SQLite database files (file: database, wal)",
      labelNames: ["file"] as const,
      registers,
      collect() {
        if (sources.dbPath === null) return;
        this.set({ file: "database" }, fileSize(sources.dbPath));
        this.set({ file: "wal" }, fileSize(`${sources.dbPath}-wal`));
      },
    });
    new Gauge({
      name: "inlet_disk_free_bytes",
      help: "Free bytes (for unprivileged users) on the file system holding the database",
      registers,
      collect() {
        this.set(sources.diskFreeBytes());
      },
    });
    new Gauge({
      name: "inlet_ready",
      help: "1 when /ready would answer 200 (migrations, writable database, free disk, no storage fault), else 0",
      registers,
      async collect() {
        this.set((await sources.ready()) ? 1 : 0);
      },
    });
    this.watchBusiness(sources, businessTtlMs);
  }

  /** One ingestion request of `calls` calls, in payload version `schemaVersion` (the pipeline tells). */
  request(calls: number, schemaVersion: string | null): void {
    this.batchSize.observe(calls);
    if (schemaVersion !== null) this.versions.inc({ version: schemaVersion }, calls);
  }

  /** One call's outcome by tenant, type and status (the pipeline tells). */
  call(tenantId: string, type: string, status: string): void {
    this.eventTally.add([tenantId, EVENT_TYPES.has(type) ? type : "unknown", status]);
  }

  /** A call kept apart from another person's lead (the pipeline tells; src/pipeline/ports.ts). */
  identityConflict(tenantId: string, reason: string): void {
    this.identityConflicts.inc({ tenant: tenantId, reason });
  }

  /** One answered HTTP request. `route` must be a route template (bounded), never a raw path. */
  requestDone(method: string, route: string, status: number, seconds: number, tenantId: string | undefined): void {
    this.requestTally.add([method, route, String(status)]);
    this.latency.observe({ method, route }, seconds);
    if (status === 429 && tenantId) this.rateLimited.inc({ tenant: tenantId });
  }

  /** One group commit (the writer's onCommit). */
  committed(jobs: number, ms: number): void {
    this.commitJobs.observe(jobs);
    this.commitDuration.observe(ms / 1000);
  }

  render(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  private watchBusiness(sources: MetricSources, ttlMs: number): void {
    let computedAt = -Infinity;
    let cached: Promise<{ tenantId: string; activity: Activity }[]> = Promise.resolve([]);
    // One computation for the four gauges of a scrape (they collect at the same time).
    const current = () => {
      const now = Date.now();
      if (now - computedAt >= ttlMs) {
        const attempt = sources.tenantActivity(now - BUSINESS_WINDOW_MS, now);
        cached = attempt;
        computedAt = now;
        // A failed computation is not kept: the next scrape tries again.
        attempt.catch(() => {
          if (cached === attempt) computedAt = -Infinity;
        });
      }
      return cached;
    };
    const perTenant = (name: string, help: string, value: (a: Activity) => number) =>
      new Gauge({
        name,
        help: `${help}, per tenant, over the last hour (recomputed at most every BUSINESS_METRICS_TTL_SECONDS)`,
        labelNames: ["tenant"] as const,
        registers: [this.registry],
        async collect() {
          const rows = await current();
          this.reset();
          for (const { tenantId, activity } of rows) this.set({ tenant: tenantId }, value(activity));
        },
      });
    perTenant("inlet_tenant_events_per_minute", "Events per minute", (a) => a.eventsPerMinute);
    perTenant("inlet_tenant_new_visitors", "Visitors first seen by Inlet", (a) => a.newVisitors);
    perTenant("inlet_tenant_sessions", "Sessions started", (a) => a.sessions);
    perTenant("inlet_tenant_identify_conversion_ratio", "Share of the new visitors linked to a lead", (a) => a.identifyConversion);
  }
}

function fileSize(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0; // no WAL file right after a checkpoint, or an in-memory database
  }
}
