/**
 * `inlet serve`: opens the database, creates the demo tenant on first start, serves HTTP, and
 * shuts down cleanly on SIGTERM/SIGINT (stop accepting, finish in-flight requests, commit, close).
 */
import type { Config } from "./config";
import { startCheckpointer } from "./db/checkpointer";
import { PostgresChangeFeed } from "./db/postgres/change-feed";
import { openFailure, openStorage, type Storage } from "./db/storage";
import { dataPermissionWarnings } from "./db/files";
import { createApp, createMetricsApp, createServices, separateMetricsListener, type App, type ServiceOptions, type Services } from "./app";
import { HEAP_PACER_INTERVAL_MS, startHeapPacer } from "./heap-pacer";
import { requestCount } from "./http/request-context";
import { logger } from "./logger";
import { enableStepTimes, STEP_TIMES_LINE } from "./lib/step-times";
import { flushTracing } from "./observability/tracing";

export interface RunningServer {
  url: URL;
  port: number;
  /** The separate metrics listener's URL (METRICS_PORT), or null when /metrics is on the public port. */
  metricsUrl: URL | null;
  services: Services;
  /** The Elysia app being served (its `routes` are what the server answers). */
  app: App;
  /** Graceful stop: no new requests, in-flight ones finish, pending writes commit, database closed. */
  stop(): Promise<void>;
}

/** How often the retention task runs (tenants with `retentionDays`); the first run is a minute after start. */
const RETENTION_INTERVAL_MS = 60 * 60_000;

/** How long a shutdown waits for the tracing collector to take the last spans. */
const TRACE_FLUSH_TIMEOUT_MS = 2_000;

/** Starting failed for a reason the operator can fix (the message says which). */
export class ServeError extends Error {}

/** Stopping lost something acknowledged (the cause says what and why); the process exits non-zero. */
export class ShutdownError extends Error {}

export async function startServer(config: Config, options: ServiceOptions = {}): Promise<RunningServer> {
  logger.setLevel(config.logLevel);
  let storage: Storage;
  try {
    storage = await openStorage(config);
  } catch (error) {
    const { where, reason } = openFailure(config, error);
    throw new ServeError(`cannot open the database (${where}): ${reason}`);
  }
  // On PostgreSQL, before any cache fills: a change made meanwhile is heard.
  const changes = storage.kind === "postgres" ? await PostgresChangeFeed.start({ url: config.databaseUrl, publisher: storage.sql }) : undefined;
  const services = createServices(config, storage.kind === "sqlite" ? storage.database : storage, { ...options, changes });
  // Suppressed people are refused from the first request on.
  await services.suppressions.ready.catch(async (error) => {
    await services.changes.close();
    await storage.close();
    throw error;
  });
  const local = services.sqlite;
  const checkpointer = local
    ? startCheckpointer(local.database.sqlite, config.db, { writer: local.writer, walLimitBytes: config.walLimitMb * 1024 * 1024 })
    : null;
  if (local && checkpointer) {
    local.privacyStore.truncateWal = () => checkpointer.truncate();
    local.privacyStore.calm = () => checkpointer.calm();
  }
  services.retention.start(RETENTION_INTERVAL_MS);
  // Suppressions added from the command line beside a SQLite server apply within this time (on PostgreSQL the change feed tells).
  const reloadSuppressions = local ? setInterval(() => services.suppressions.reload(), Math.max(1, config.keyCacheTtlSeconds) * 1000) : undefined;
  reloadSuppressions?.unref();
  const stopHeapPacer = startHeapPacer({ intervalMs: HEAP_PACER_INTERVAL_MS, activity: requestCount });
  const closeStore = async () => {
    await services.changes.close();
    await checkpointer?.stop();
    await storage.close();
  };

  let app: ReturnType<typeof createApp> | undefined;
  let metricsApp: ReturnType<typeof createMetricsApp> | null = null;
  try {
    app = createApp(services).listen({ port: config.port, hostname: config.host });
    if (separateMetricsListener(config)) metricsApp = createMetricsApp(services).listen({ port: config.metricsPort, hostname: config.metricsHost });
  } catch (error) {
    void app?.stop();
    // Leave nothing half-started (and no demo tenant in a database nobody serves).
    services.enricher.close();
    services.limiter.close();
    services.retention.stop();
    clearInterval(reloadSuppressions);
    stopHeapPacer();
    await closeStore();
    const inUse = (error as { code?: string }).code === "EADDRINUSE";
    const where = app ? `${config.metricsHost}:${config.metricsPort}` : `${config.host}:${config.port}`;
    throw new ServeError(`Cannot listen on ${where}: ${inUse ? "the port is in use (another Inlet?); set PORT or --port" : (error as Error).message}`);
  }
  const server = app!.server!;
  const db = storage.kind === "sqlite" ? config.db : storage.where;
  logger.info("listening", { url: server.url.href, db, metricsUrl: metricsApp?.server?.url.href });
  // The first requests need not wait for the connection; a failure here is logged by the first check.
  services.limiter.shared?.connect().catch(() => {});
  if (storage.kind === "sqlite" && config.db !== ":memory:") for (const warning of dataPermissionWarnings(config.db)) logger.warn(warning);
  if (config.demo && (await services.tenants.countTenants()) === 0) {
    const demo = await services.tenants.createTenant("demo");
    logger.info("demo tenant created; its write key is shown only now", { tenantId: demo.tenantId, writeKey: demo.key });
    logger.flush();
    process.stderr.write(
      `\n  Inlet created a demo tenant.\n  tenant id: ${demo.tenantId}\n  write key: ${demo.key}\n  (shown once; keep it, or create another with \`inlet key create --tenant ${demo.tenantId}\`)\n\n`,
    );
  }

  let stopping: Promise<void> | null = null;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      const deadline = new Promise<void>((resolve) => setTimeout(resolve, config.shutdownTimeoutMs).unref());
      await Promise.race([Promise.all([server.stop(false), metricsApp?.server?.stop(false)]), deadline]);
      services.retention.stop();
      clearInterval(reloadSuppressions);
      // What could not be written is reported after everything else is closed: the rest still closes.
      const unwritten = await services.recorder.close().then(
        () => null,
        (error: unknown) => error,
      );
      services.enricher.close();
      services.limiter.close();
      stopHeapPacer();
      await closeStore();
      // Last: the spans of the final requests and commits have ended by now.
      await flushTracing(TRACE_FLUSH_TIMEOUT_MS);
      // Elysia runs a response's afterResponse hooks (the request's log line, its metrics) on a later turn
      // of the event loop than the response: one turn here, or the last responses' lines are never written.
      await new Promise<void>((resolve) => setImmediate(resolve));
      if (unwritten !== null) throw new ShutdownError("stopped, but acknowledged data could not be written", { cause: unwritten });
      logger.info("stopped");
      logger.flush();
    })();
    return stopping;
  };
  return { url: server.url, port: server.port!, metricsUrl: metricsApp?.server?.url ?? null, services, app: app!, stop };
}

/** Runs until SIGTERM or SIGINT, then stops gracefully and exits 0 (1 when the stop lost something). */
export async function serveForever(config: Config): Promise<void> {
  if (config.stepTimes) {
    const clock = enableStepTimes();
    process.on("SIGUSR2", () => process.stderr.write(STEP_TIMES_LINE + JSON.stringify(clock.snapshot(requestCount())) + "\n"));
  }
  const running = await startServer(config);
  const onSignal = (signal: string) => {
    logger.info("shutting down", { signal });
    running.stop().then(
      () => process.exit(0),
      (error) => {
        logger.error("shutdown failed", { error });
        logger.flush();
        process.exit(1);
      },
    );
  };
  // SIGHUP re-reads the geo databases (they are also watched for changes).
  process.on("SIGHUP", () => {
    logger.info("SIGHUP: reloading geo databases");
    running.services.enricher.reload();
  });
  process.once("SIGTERM", () => onSignal("SIGTERM"));
  process.once("SIGINT", () => onSignal("SIGINT"));
}
