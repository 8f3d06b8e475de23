/**
 * The composition root: builds the services from the configuration and an open database, and
 * the Elysia app from the services. Nothing here knows about the CLI or signals.
 */
import { Elysia } from "elysia";
import { cors } from "@elysiajs/cors";
import type { Config } from "./config";
import { LocalChangeFeed, type ChangeFeed } from "./db/change-feed";
import { PostgresBatchStore } from "./db/postgres/ingest";
import { bounded } from "./db/postgres/errors";
import { PostgresPrivacyStore, PostgresRetentionStore } from "./db/postgres/privacy";
import { sqliteSuppressionSource } from "./db/sqlite/privacy";
import { postgresReadiness } from "./db/postgres/health";
import { readStoresOf, tenantStoreOf, type PostgresStorage, type SqliteStorage, type Storage } from "./db/storage";
import { invalidateCachesOnChange } from "./modules/cache-invalidation";
import { BatchRecorder } from "./pipeline/batch-record";
import { type Recorder, SerialRecorder } from "./pipeline/record";
import type { DatabaseHandle } from "./db/client";
import { StoreHealth } from "./db/health";
import { EventStore } from "./db/sqlite/events";
import { SqliteIdentityRows } from "./db/sqlite/identity";
import { SqliteSessions } from "./db/sqlite/sessions";
import { VisitorStore } from "./db/sqlite/visitors";
import { GroupCommitWriter } from "./db/sqlite/writer";
import { Enricher } from "./enrich";
import { keyAuth } from "./http/auth";
import { errorHandler } from "./http/error-handler";
import { fallback } from "./http/fallback";
import { AuthFailureLimiter, TenantRateLimiter } from "./http/rate-limit";
import type { AuthGuard } from "./http/auth";
import { requestContext } from "./http/request-context";
import { ClientIpResolver } from "./enrich/client-ip";
import { docsController } from "./modules/docs";
import { operatorController, tenantKeysController } from "./modules/admin";
import { debuggerController } from "./modules/debugger";
import { debuggerRecorder } from "./modules/debugger/recorder";
import { DebuggerService } from "./modules/debugger/service";
import { eventsController } from "./modules/events";
import { callTypeOfPath } from "./modules/events/model";
import { readEventsController } from "./modules/export";
import { ExportService } from "./modules/export/service";
import { healthController, readiness, sqliteReadiness, type ReadinessDeps } from "./modules/health";
import { leadsController } from "./modules/leads";
import { LeadService } from "./modules/leads/service";
import { metricsController } from "./modules/metrics";
import { sdkController } from "./modules/sdk";
import { segmentSettingsController } from "./modules/segment";
import { statsController } from "./modules/stats";
import { KeyCache } from "./modules/tenants/key-cache";
import { TenantService } from "./modules/tenants/service";
import { privacyController } from "./modules/privacy";
import type { Privacy } from "./modules/privacy/contract";
import { ErasureService } from "./modules/privacy/erasure";
import { RetentionTask } from "./modules/privacy/retention";
import { SharedRetentionTask } from "./modules/privacy/shared-retention";
import { PrivacyService } from "./modules/privacy/service";
import type { PrivacyStore } from "./modules/privacy/store";
import { SuppressionList } from "./modules/privacy/suppressions";
import { BusinessStats } from "./observability/business";
import { Metrics } from "./observability/metrics";
import { startTracing } from "./observability/tracing";
import { Pipeline } from "./pipeline";
import { IdentityResolver } from "./pipeline/identity";
import { SessionTracker } from "./pipeline/sessions";
import { stepTimes } from "./lib/step-times";

export interface Services {
  config: Config;
  /** Where the data is: the SQLite file or PostgreSQL. */
  storage: Storage;
  /** What /ready checks. */
  health: ReadinessDeps;
  tenants: TenantService;
  keys: KeyCache;
  /** The pipeline's writer step (group commits); closed last on shutdown. */
  recorder: Recorder & { close(): Promise<void> };
  pipeline: Pipeline;
  enricher: Enricher;
  limiter: TenantRateLimiter;
  /** Failed authentications per client address. */
  authFailures: AuthFailureLimiter;
  metrics: Metrics;
  business: BusinessStats;
  /** Leads and visitors read back. */
  leads: LeadService;
  /** Stored events read back (export, GET /v1/events, the debugger). */
  exports: ExportService;
  /** The live debugger's per-tenant ring of recent calls. */
  debugger: DebuggerService;
  /** How instances sharing the store tell each other of changed keys, settings and suppressions. */
  changes: ChangeFeed;
  /** The request-tracing plugin; null when tracing is off. */
  tracing: ReturnType<typeof startTracing>;
  /** Erasure, suppression and their audit (docs/privacy.md), on either store. */
  privacy: Privacy;
  /** Suppressed people, in memory, asked for every event; `ready` once loaded at start. */
  suppressions: SuppressionList;
  /** Deletes what is older than each tenant's `retentionDays`; started by the server. */
  retention: Retention;
  /** The SQLite store's own parts (null on PostgreSQL). */
  sqlite: SqliteServices | null;
}

/** What only the SQLite store has: its file, single writer, session write-behind, retention and the privacy writes through the writer. */
export interface SqliteServices {
  database: DatabaseHandle;
  store: StoreHealth;
  writer: GroupCommitWriter;
  sessions: SessionTracker;
  identity: IdentityResolver;
  retention: RetentionTask;
  /** Where privacy work writes (the writer); `truncateWal` is set by the server once its checkpointer runs. */
  privacyStore: PrivacyStore;
}

const MS_PER_MINUTE = 60_000;

export interface ServiceOptions {
  /** The clock of the limits (milliseconds, monotonic): tests move it instead of waiting. */
  clock?: () => number;
  /** The prefix of the shared rate-limit keys in Redis (tests: one per run). */
  rateLimitKeyPrefix?: string;
  /** The change feed (started by the server on PostgreSQL); default: one within this process. */
  changes?: ChangeFeed;
}

/** The services of either store: a SQLite database (opened), or PostgreSQL (connected and migrated). */
export function createServices(config: Config, store: DatabaseHandle | PostgresStorage, options: ServiceOptions = {}): Services {
  const storage: Storage = "kind" in store ? store : { kind: "sqlite", database: store, applied: store.applied, close: async () => store.close() };
  const metrics = new Metrics();
  const changes = options.changes ?? new LocalChangeFeed();
  const limiter = new TenantRateLimiter(
    { requestsPerSecond: config.rateLimitRps, eventsPerSecond: config.rateLimitEps },
    config.rateLimitBurstSeconds,
    options.clock,
    config.redisUrl ? { url: config.redisUrl, keyPrefix: options.rateLimitKeyPrefix, onFallback: () => metrics.rateLimitFallback() } : undefined,
  );
  const authFailures = new AuthFailureLimiter(config.authFailuresPerMinute, options.clock);
  const enricher = new Enricher({
    geoDbPath: config.geoipDb || undefined,
    asnDbPath: config.geoipAsnDb || undefined,
    trustProxy: config.trustProxy,
  });
  const maxTenantEvents = Math.max(1, Math.floor((config.maxQueuedEvents * config.tenantQueueShare) / 100));
  const parts =
    storage.kind === "sqlite" ? sqliteParts(config, storage, metrics, maxTenantEvents) : postgresParts(config, storage, metrics, maxTenantEvents, changes);
  const { recorder, health, business, leads, exports } = parts;
  const tenants = new TenantService(tenantStoreOf(storage), changes);
  const keys = new KeyCache(tenants, { max: config.keyCacheSize, ttlSeconds: config.keyCacheTtlSeconds });
  invalidateCachesOnChange(changes, { keys, suppressions: parts.suppressions });
  const pipeline = new Pipeline({ recorder, enricher, observer: metrics });
  metrics.watch(
    {
      dbPath: storage.kind === "sqlite" ? storage.database.path : null,
      maxQueuedEvents: config.maxQueuedEvents,
      queuedEvents: () => recorder.queuedEvents,
      caches: () => ({ keys, ...parts.caches, user_agents: enricher.stats().userAgent }),
      cachedSessions: () => parts.sqlite?.sessions.size ?? 0,
      ready: async () => (await readiness(health)).ready,
      diskFreeBytes: () => parts.sqlite?.store.freeBytes() ?? Number.NaN,
      tenantActivity: async (from, to) =>
        business.allTenants(
          (await tenants.listTenants()).map(({ tenantId }) => tenantId),
          from,
          to,
        ),
    },
    config.businessMetricsTtlSeconds * 1000,
  );
  return {
    config,
    storage,
    health,
    tenants,
    keys,
    recorder,
    pipeline,
    enricher,
    limiter,
    authFailures,
    metrics,
    business,
    leads,
    exports,
    debugger: new DebuggerService(),
    changes,
    tracing: startTracing(config),
    privacy: parts.privacy,
    suppressions: parts.suppressions,
    retention: parts.retention,
    sqlite: parts.sqlite,
  };
}

/** The read side's services over the store's read stores. */
function readServices(storage: Storage): Pick<StoreParts, "business" | "leads" | "exports"> {
  const reads = readStoresOf(storage);
  return { business: new BusinessStats(reads.activity), leads: new LeadService(reads.leads), exports: new ExportService(reads.events) };
}

interface StoreParts {
  recorder: Recorder & { close(): Promise<void> };
  health: ReadinessDeps;
  business: BusinessStats;
  leads: LeadService;
  exports: ExportService;
  caches: Record<string, { hits: number; misses: number }>;
  privacy: Privacy;
  suppressions: SuppressionList;
  retention: Retention;
  sqlite: SqliteServices | null;
}

/** The retention task of either store. */
export type Retention = Pick<RetentionTask, "start" | "stop" | "run">;

function sqliteParts(config: Config, storage: SqliteStorage, metrics: Metrics, maxTenantEvents: number): StoreParts {
  const { database } = storage;
  const { db, sqlite } = database;
  const store = new StoreHealth(sqlite, database.path);
  const sessions = new SessionTracker(new SqliteSessions(db), { timeoutMs: config.sessionTimeoutMinutes * MS_PER_MINUTE, cacheSize: config.sessionCacheSize });
  const visitors = new VisitorStore(db, config.sessionCacheSize);
  const identity = new IdentityResolver(new SqliteIdentityRows(db), () => visitors.clear());
  sessions.start((work) => sqlite.transaction(work)());
  const writer = new GroupCommitWriter(sqlite, {
    maxQueuedWeight: config.maxQueuedEvents,
    maxOwnerWeight: maxTenantEvents,
    hooks: sessions.hooks([visitors]),
    onCommit: (jobs, ms) => {
      stepTimes?.committed(ms);
      metrics.committed(jobs, ms);
    },
  });
  const suppressions = new SuppressionList(sqliteSuppressionSource(db));
  const serial = new SerialRecorder({ writer, events: new EventStore(db), visitors, sessions, identity, suppression: suppressions });
  const privacyStore: PrivacyStore = {
    sqlite,
    db,
    // Privacy work can wait: while the WAL is about to be drained, its pages would lengthen the hold of every commit.
    write: async (work) => {
      await privacyStore.calm?.();
      return writer.submit(1, work);
    },
    forget: (tenantId, deleted) => {
      visitors.forget(tenantId, deleted.visitorKeys);
      sessions.forget(deleted.sessions);
    },
    // Without the server's checkpointer (e.g. an in-memory database): on this connection.
    truncateWal: async () => (sqlite.query("PRAGMA wal_checkpoint(TRUNCATE)").get() as { busy: number } | null)?.busy === 0,
  };
  const privacy = new PrivacyService(privacyStore, suppressions, { onErased: (tenantId, counts) => metrics.deleted("privacy", tenantId, { ...counts }) });
  const retention = new RetentionTask(privacyStore, {
    sessionTimeoutMs: config.sessionTimeoutMinutes * 60_000,
    onDeleted: (tenantId, counts) => metrics.deleted("retention", tenantId, { ...counts }),
  });
  return {
    recorder: Object.assign(serial, { close: () => writer.close() }),
    health: sqliteReadiness(store, writer),
    ...readServices(storage),
    caches: { visitors, sessions },
    privacy,
    suppressions,
    retention,
    sqlite: { database, store, writer, sessions, identity, retention, privacyStore },
  };
}

function postgresParts(config: Config, storage: PostgresStorage, metrics: Metrics, maxTenantEvents: number, changes: ChangeFeed): StoreParts {
  // Failures as the pipeline knows them (a timeout is a 503, not a bug); not given up on: a deletion runs to its end.
  const privacyStore = bounded(new PostgresPrivacyStore(storage.sql), 0);
  // Loaded now; the server waits for it before it listens. Kept in step by the change feed.
  const suppressions = new SuppressionList(privacyStore);
  const recorder = new BatchRecorder(new PostgresBatchStore(storage.sql, config.pgStatementTimeoutMs), {
    maxQueuedEvents: config.maxQueuedEvents,
    maxTenantEvents,
    sessionTimeoutMs: config.sessionTimeoutMinutes * MS_PER_MINUTE,
    concurrentCommits: Math.max(1, Math.floor(config.pgPoolSize / 2)),
    onCommit: (jobs, ms) => metrics.committed(jobs, ms),
    suppression: suppressions,
  });
  const privacy = new ErasureService(privacyStore, suppressions, {
    publish: (change, via) => changes.publish(change, via),
    onErased: (tenantId, counts) => metrics.deleted("privacy", tenantId, { ...counts }),
  });
  const retention = new SharedRetentionTask(new PostgresRetentionStore(storage.sql), {
    sessionTimeoutMs: config.sessionTimeoutMinutes * MS_PER_MINUTE,
    onDeleted: (tenantId, counts) => metrics.deleted("retention", tenantId, { ...counts }),
  });
  return {
    recorder,
    health: postgresReadiness(storage.sql, config.pgStatementTimeoutMs),
    ...readServices(storage),
    caches: {},
    privacy,
    suppressions,
    retention,
    sqlite: null,
  };
}

/** Every header an SDK sends (Segment's, RudderStack's AnonymousId, Inlet's own). */
export const CORS_ALLOWED_HEADERS = ["Content-Type", "Content-Encoding", "Authorization", "X-API-Key", "X-Request-Id", "Inlet-Version", "AnonymousId"];

export function createApp(services: Services) {
  // The socket address is known to the server only; the app is created before it listens.
  let server: { requestIP(request: Request): { address: string } | null } | null = null;
  const peerIp = (request: Request): string | null => server?.requestIP(request)?.address ?? null;
  // Failed authentications count against the client address, seen through TRUST_PROXY proxies.
  const clientIp = new ClientIpResolver(services.config.trustProxy);
  const guard: AuthGuard = {
    failures: services.authFailures,
    address: (request) => clientIp.resolve({ peerIp: () => peerIp(request), header: (name) => request.headers.get(name), payloadIp: undefined }),
  };
  const auth = keyAuth(services.keys, services.limiter, guard);
  const recorder = debuggerRecorder(services.debugger, services.keys, callTypeOfPath);
  const reading = { auth, leads: services.leads, exports: services.exports };
  // The fallback reads the routes at its first request, when every one is registered.
  let routes: readonly { method: string; path: string }[] = [];
  // normalize: false — Elysia's normalization coerces e.g. a string into an object before
  // validating; Inlet must reject such input instead of storing a garbled value.
  // reusePort: false — Elysia turns it on, which lets a second Inlet bind the same port and silently
  // take half the traffic into another database; a busy port must be an error instead.
  // maxRequestBodySize: no limit at the socket (Bun's own refusal is a bare 413 without our error
  // format, request id or log line); each route reads at most its own limit (http/body.ts), and
  // routes that take no body read none (http/fallback.ts).
  const app = new Elysia({ normalize: false, serve: { maxRequestBodySize: UNLIMITED_AT_SOCKET, reusePort: false } })
    // First, so that the request span encloses every other hook.
    .use(services.tracing ?? new Elysia({ name: "tracing-off" }))
    .use(requestContext)
    .use(errorHandler)
    // Browsers send from any site; a tenant can restrict origins (checked with its key, see http/auth.ts).
    // No credentials: keys travel in headers or the body, never in cookies. Retry-After must be
    // readable cross-origin for SDKs to honour it.
    // (A function rather than `true`: the plugin answers `Vary: *` for `true`, which defeats
    // caching of /sdk/inlet.js and the Swagger assets; this way it is `Vary: Origin`.)
    // The headers a preflight may ask for are listed rather than echoed: echoing makes the plugin
    // join every request's header names on every request, preflight or not (~6 µs each, measured).
    .use(cors({ origin: () => true, credentials: false, maxAge: 86400, allowedHeaders: CORS_ALLOWED_HEADERS, exposeHeaders: ["Retry-After", "X-Request-Id"] }))
    .use(docsController())
    .use(healthController(services.health))
    .use(sdkController())
    .use(
      metricsController({
        metrics: services.metrics,
        token: services.config.metricsToken,
        peerIp,
        listener: separateMetricsListener(services.config) ? "elsewhere" : "public",
      }),
    )
    .use(statsController({ auth, business: services.business }))
    .use(privacyController({ auth, privacy: services.privacy }))
    .use(eventsController({ auth, pipeline: services.pipeline, peerIp, recorder }))
    .use(segmentSettingsController({ keys: services.keys, publicUrl: services.config.publicUrl, trustProxy: services.config.trustProxy, peerIp, guard }))
    .use(readEventsController(reading))
    .use(leadsController(reading))
    .use(operatorController({ tenants: services.tenants, keys: services.keys, operatorToken: services.config.operatorToken, guard }))
    .use(tenantKeysController({ tenants: services.tenants, keys: services.keys, auth }))
    .use(debuggerController({ ...reading, debugger: services.debugger }))
    // Last: what no route above takes (405 with Allow, or 404).
    .use(fallback(() => routes))
    .onStart(({ server: started }) => {
      server = started;
    });
  routes = app.routes;
  return app;
}
export type App = ReturnType<typeof createApp>;

/** Bun's largest body size setting: the routes enforce their own limits while reading. */
const UNLIMITED_AT_SOCKET = 2 ** 53 - 1;

/** METRICS_PORT without METRICS_TOKEN: /metrics has its own listener (see server.ts). */
export function separateMetricsListener(config: Config): boolean {
  return config.metricsPort > 0 && config.metricsToken === "";
}

/** The separate metrics listener's app: /metrics only, to whoever reaches METRICS_HOST:METRICS_PORT. */
export function createMetricsApp(services: Services) {
  return new Elysia({ normalize: false, serve: { reusePort: false } })
    .use(requestContext)
    .use(errorHandler)
    .use(metricsController({ metrics: services.metrics, token: "", peerIp: () => null, listener: "own" }))
    .use(fallback(() => []));
}
