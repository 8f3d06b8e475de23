/**
 * A floor: a server that does only part of what Inlet does per track call, and nothing else (no key
 * lookup, visitors, sessions, metrics or log lines), so that Inlet's track rate can be read against
 * it. bench/run.ts drives the bare one as its baseline; bench/floor.ts drives a ladder of them.
 *
 *   PORT=<port> [INLET_DB=<file>] bun run bench/floor-server.ts [--elysia] [--enrich] [--store=main|worker] [--threads=N]
 *
 * bare (no flag)  a Bun.serve that reads the body, JSON.parses it and answers {"ok":true}
 * --elysia        an Elysia route validating Inlet's own track schema (`t`, compiled by Elysia)
 *                 behind a derive, answering Inlet's shape
 * --enrich        also runs Inlet's Enricher (client IP, embedded geo database, user agent,
 *                 campaign, channel) on the context
 * --store=main    also stores each event as one row of Inlet's `events` table (its migrations and
 *                 indexes, so the unique messageId index dedupes) with `INSERT OR IGNORE` through
 *                 Inlet's own group-commit writer, and answers after the COMMIT; checkpoints as
 *                 Inlet runs them. `worker`: the SQLite writer on a worker thread, sent each
 *                 event-loop turn's rows and answering after their COMMIT.
 * --pipeline      instead of --enrich and --store: the Elysia route hands the body to Inlet's own
 *                 validation and pipeline (normalize, enrichment, and the writer's record step:
 *                 dedupe, visitor, session, identity, the event's row, the session's numbers;
 *                 group commit, answered after it), as Inlet's services build them for one tenant.
 *                 What separates it from Inlet is the HTTP layer's own work: key lookup, limits,
 *                 body limits, request ids, metrics, the debugger's recorder, log lines.
 * --threads=N     N HTTP threads, each a worker with its own server on the same port (reusePort:
 *                 the kernel spreads the connections), all handing rows to one writer on the main
 *                 thread: the most parallel shape a server on one SQLite file can take.
 */
import { Elysia } from "elysia";
import { startCheckpointer } from "../src/db/checkpointer";
import { openDatabase } from "../src/db/client";
import { Enricher } from "../src/enrich";
import { callSchemas, TrackResponse } from "../src/modules/events/model";
import { parseSettings } from "../src/modules/tenants/settings";
import { GroupCommitWriter } from "../src/db/sqlite/writer";
import { createServices } from "../src/app";
import { loadConfig } from "../src/config";
import { validateEvent } from "../src/modules/events/service";
import { CURRENT_VERSION } from "../src/modules/events/versions";
import { Pipeline, type TenantAuth } from "../src/pipeline";

type Row = (string | number | null)[];
type Store = (rows: Row[]) => Promise<void>;
/** A Worker, or `self` inside one. */
interface Port {
  postMessage(data: unknown): void;
  addEventListener(type: "message", listener: (event: MessageEvent) => void): void;
  onmessage: ((event: MessageEvent) => void) | null;
}
interface Options {
  elysia: boolean;
  pipeline: boolean;
  enrich: boolean;
  store: "none" | "main" | "worker";
  threads: number;
}

const COLUMNS = [
  "tenant_id",
  "message_id",
  "type",
  "event",
  "anonymous_id",
  "user_id",
  "visitor_id",
  "session_id",
  "timestamp",
  "sent_at",
  "received_at",
  "properties",
  "context",
  "schema_version",
];
const port = Number(process.env.PORT ?? 0);

function parseOptions(argv: string[]): Options {
  const value = (name: string) => argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
  const options: Options = {
    elysia: argv.includes("--elysia"),
    pipeline: argv.includes("--pipeline"),
    enrich: argv.includes("--enrich"),
    store: (value("store") ?? "none") as Options["store"],
    threads: Number(value("threads") ?? 1),
  };
  if (!["none", "main", "worker"].includes(options.store)) throw new Error(`--store must be main or worker, not ${options.store}`);
  if (options.threads > 1 && options.store === "worker") throw new Error("with --threads the writer is on the main thread: use --store=main");
  return options;
}

/** Inlet's events table on a fresh connection, written through Inlet's own group-commit writer. */
function openStore(path: string): Store {
  const { sqlite } = openDatabase(path);
  const insert = sqlite.prepare(`INSERT OR IGNORE INTO events (${COLUMNS.join(", ")}) VALUES (${COLUMNS.map(() => "?").join(", ")})`);
  const writer = new GroupCommitWriter(sqlite, { maxQueuedWeight: Number.MAX_SAFE_INTEGER });
  startCheckpointer(sqlite, path, { writer, walLimitBytes: 64 * 1024 * 1024 });
  return (rows) =>
    writer.submit(rows.length, () => {
      for (const row of rows) insert.run(...(row as string[]));
    });
}

/** Rows stored on the other side of `port`: one message per event-loop turn, settled when it is answered (in order). */
function postingStore(to: Port): (row: Row) => Promise<void> {
  const posted: (() => void)[] = [];
  to.addEventListener("message", () => posted.shift()!());
  let rows: Row[] = [];
  let sent: Promise<void> | null = null;
  return (row) => {
    rows.push(row);
    sent ??= new Promise<void>((resolve) => setImmediate(resolve)).then(
      () =>
        new Promise<void>((resolve) => {
          posted.push(resolve);
          to.postMessage(rows);
          rows = [];
          sent = null;
        }),
    );
    return sent;
  };
}

/** The other side of `postingStore`: commits each message's rows and answers it after the COMMIT. */
function commitPosts(from: Port, store: Store): void {
  from.onmessage = (message: MessageEvent<Row[]>) => void store(message.data).then(() => from.postMessage(0));
}

/** The row Inlet would store for a track body (its canonical fields). */
function toRow(body: Record<string, unknown>, receivedAt: number, context: unknown): Row {
  const str = (key: string) => (typeof body[key] === "string" ? (body[key] as string) : null);
  const timestamp = Date.parse(str("timestamp") ?? "");
  const visitor = str("anonymousId") ?? str("userId") ?? "unknown";
  const json = (value: unknown) => (value === undefined ? null : JSON.stringify(value));
  return [
    "t_floor",
    str("messageId") ?? crypto.randomUUID(),
    "track",
    str("event"),
    str("anonymousId"),
    str("userId"),
    `v_${visitor}`,
    `s_${visitor}`,
    Number.isFinite(timestamp) ? timestamp : receivedAt,
    Date.parse(str("sentAt") ?? "") || null,
    receivedAt,
    json(body.properties),
    json(context),
    "2026-11-01",
  ];
}

/** Listens with the floor's work per request; `add` stores a row (settled after its COMMIT). */
function serve(options: Options, add: ((row: Row) => Promise<void>) | null, reusePort: boolean): void {
  const enricher = options.enrich ? new Enricher() : null;
  const settings = parseSettings(null);
  const work = async (body: Record<string, unknown>, request: Request, peer: () => string | null) => {
    const context = enricher
      ? enricher.enrich({ context: body.context as Record<string, unknown> | undefined, peerIp: peer, header: (name) => request.headers.get(name), settings })
          .context
      : body.context;
    if (add) await add(toRow(body, Date.now(), context));
  };
  if (options.elysia) {
    new Elysia({ normalize: false, serve: { reusePort } })
      .derive(({ headers }) => ({ key: headers.authorization ?? null }))
      .get("/ready", () => "ok")
      .post(
        "/v1/events/track",
        async ({ body, request, server }) => {
          await work(body as Record<string, unknown>, request, () => server?.requestIP(request)?.address ?? null);
          return { success: true, messageId: body.messageId === undefined ? "generated" : String(body.messageId), status: "accepted" as const };
        },
        { body: callSchemas.track, response: { 200: TrackResponse } },
      )
      .listen({ port, hostname: "127.0.0.1" });
    return;
  }
  Bun.serve({
    hostname: "127.0.0.1",
    port,
    reusePort,
    async fetch(request, server) {
      if (request.method === "GET") return new Response("ok");
      await work(JSON.parse(await request.text()), request, () => server.requestIP(request)?.address ?? null);
      return Response.json({ ok: true });
    },
  });
}

type Ingest = (body: unknown, request: Request, peer: () => string | null) => Promise<{ messageId?: string; status: string }>;

/** Inlet's validation and pipeline (without its metrics) over Inlet's services on `path`, for one tenant. */
async function openPipeline(path: string): Promise<Ingest> {
  const config = loadConfig({ INLET_DB: path, INLET_DEMO: "false", LOG_LEVEL: "warn" });
  const database = openDatabase(path);
  const services = createServices(config, database);
  startCheckpointer(database.sqlite, path, { writer: services.sqlite!.writer, walLimitBytes: config.walLimitMb * 1024 * 1024 });
  const tenant = await services.tenants.createTenant("floor");
  const auth: TenantAuth = { tenantId: tenant.tenantId, keyId: tenant.keyId, settings: parseSettings(null), serverSide: false };
  const pipeline = new Pipeline({ recorder: services.recorder, enricher: services.enricher });
  return async (body, request, peer) => {
    const validated = validateEvent(body, "track", CURRENT_VERSION, true);
    const [outcome] = await pipeline.ingest(auth, [validated], { receivedAt: Date.now() }, { peerIp: peer, header: (name) => request.headers.get(name) });
    if (outcome!.status === "rejected") throw new Error(JSON.stringify(outcome!.errors));
    return outcome!;
  };
}

/** Listens with Elysia and Inlet's pipeline (--pipeline). */
function servePipeline(ingest: Ingest): void {
  new Elysia({ normalize: false, serve: { reusePort: false } })
    .derive(({ headers }) => ({ key: headers.authorization ?? null }))
    .get("/ready", () => "ok")
    .post(
      "/v1/events/track",
      async ({ body, request, server }) => {
        const outcome = await ingest(body, request, () => server?.requestIP(request)?.address ?? null);
        return { success: true, messageId: outcome.messageId ?? "generated", status: outcome.status as "accepted" };
      },
      { response: { 200: TrackResponse } },
    )
    .listen({ port, hostname: "127.0.0.1" });
}

/** A worker thread of this file, told its role; resolves when it says it is ready. */
async function startWorker(role: { http: Options } | { storePath: string }): Promise<Worker> {
  const worker = new Worker(import.meta.path);
  const ready = new Promise<void>((resolve) => worker.addEventListener("message", () => resolve(), { once: true }));
  worker.postMessage(role);
  await ready;
  return worker;
}

if (Bun.isMainThread) {
  const options = parseOptions(process.argv.slice(2));
  const db = process.env.INLET_DB;
  if ((options.store !== "none" || options.pipeline) && !db) throw new Error("--store and --pipeline need INLET_DB (the database file)");
  if (options.pipeline) {
    servePipeline(await openPipeline(db!));
  } else if (options.threads > 1) {
    if (!port) throw new Error("PORT must be set: every thread listens on it");
    const store = options.store === "none" ? null : openStore(db!);
    for (let i = 0; i < options.threads; i++) {
      const worker = await startWorker({ http: options });
      if (store) commitPosts(worker, store);
    }
  } else if (options.store === "worker") {
    serve(options, postingStore(await startWorker({ storePath: db! })), false);
  } else {
    const store = options.store === "main" ? openStore(db!) : null;
    serve(options, store && ((row) => store([row])), false);
  }
  process.stderr.write(`floor ${process.argv.slice(2).join(" ") || "(bare)"} listening on port ${port}\n`);
  process.on("SIGTERM", () => process.exit(0));
} else {
  self.addEventListener(
    "message",
    (message: MessageEvent<{ http: Options } | { storePath: string }>) => {
      const role = message.data;
      if ("storePath" in role) commitPosts(self, openStore(role.storePath));
      else serve(role.http, role.http.store === "none" ? null : postingStore(self), true);
      postMessage("ready");
    },
    { once: true },
  );
}
