/**
 * The storage the floor servers share (bench/storage-floor-server.ts, bench/elysia-floor-server.ts
 * with --store): each track body becomes one row of Inlet's own `events` table (the migrations,
 * columns and indexes of src/db, so the unique (tenant, messageId) index dedupes as in Inlet),
 * written with one prepared `INSERT OR IGNORE` through Inlet's group commit, on this thread or a worker.
 */
import { startCheckpointer } from "../../src/db/checkpointer";
import { openDatabase } from "../../src/db/client";
import { GroupCommitWriter } from "../../src/db/sqlite/writer";

export type Row = (string | number | null)[];
const COLUMNS = ["tenant_id", "message_id", "type", "event", "anonymous_id", "user_id", "visitor_id", "session_id", "timestamp", "sent_at", "received_at", "properties", "context", "schema_version"];
const TENANT = "t_storage_floor";

/**
 * The events table on a fresh connection, written through Inlet's own group-commit writer
 * (src/pipeline/writer.ts): the rows of one `insert` are one writer job, and the jobs queued in
 * one event-loop turn share one transaction; the promise settles after its COMMIT. Checkpoints
 * run as in Inlet (src/db/checkpointer.ts), so no commit here waits for an fsync.
 */
export function openStore(path: string): (rows: Row[]) => Promise<void> {
  const { sqlite } = openDatabase(path);
  const insert = sqlite.prepare(`INSERT OR IGNORE INTO events (${COLUMNS.join(", ")}) VALUES (${COLUMNS.map(() => "?").join(", ")})`);
  const writer = new GroupCommitWriter(sqlite, { maxQueuedWeight: Number.MAX_SAFE_INTEGER });
  startCheckpointer(sqlite, path, { writer, walLimitBytes: 64 * 1024 * 1024 });
  return (rows) =>
    writer.submit(rows.length, () => {
      for (const row of rows) insert.run(...(row as string[]));
    });
}

/** A Worker, or `self` inside one. */
interface Port {
  postMessage(data: unknown): void;
  addEventListener(type: "message", listener: (event: MessageEvent) => void): void;
  onmessage: ((event: MessageEvent) => void) | null;
}

/**
 * Rows stored on the other side of `port`: the rows added within one event-loop turn go as one
 * message (not one per row), and their promises settle when the other side answers it (it
 * answers each message once, in order: `commitPosts`).
 */
export function postingStore(port: Port): (row: Row) => Promise<void> {
  const posted: (() => void)[] = [];
  port.addEventListener("message", () => posted.shift()!());
  let rows: Row[] = [];
  let sent: Promise<void> | null = null;
  return (row) => {
    rows.push(row);
    sent ??= new Promise<void>((resolve) => setImmediate(resolve)).then(
      () =>
        new Promise<void>((resolve) => {
          posted.push(resolve);
          port.postMessage(rows);
          rows = [];
          sent = null;
        }),
    );
    return sent;
  };
}

/** The other side of `postingStore`: commits each batch of rows `port` sends, and answers it after the COMMIT. */
export function commitPosts(port: Port, insert: (rows: Row[]) => Promise<void>): void {
  port.onmessage = (message: MessageEvent<Row[]>) => void insert(message.data).then(() => port.postMessage(0));
}

/** The row Inlet would store for a track body (its canonical fields; no enrichment). */
export function toRow(body: Record<string, unknown>, receivedAt: number, context: unknown = body.context): Row {
  const timestamp = typeof body.timestamp === "string" ? Date.parse(body.timestamp) : receivedAt;
  const anonymousId = typeof body.anonymousId === "string" ? body.anonymousId : null;
  const userId = typeof body.userId === "string" ? body.userId : null;
  const visitor = anonymousId ?? userId ?? "unknown";
  return [
    TENANT,
    typeof body.messageId === "string" ? body.messageId : crypto.randomUUID(),
    "track",
    typeof body.event === "string" ? body.event : null,
    anonymousId,
    userId,
    `v_${visitor}`,
    `s_${visitor}`,
    Number.isFinite(timestamp) ? timestamp : receivedAt,
    typeof body.sentAt === "string" ? Date.parse(body.sentAt) || null : null,
    receivedAt,
    body.properties === undefined ? null : JSON.stringify(body.properties),
    context === undefined ? null : JSON.stringify(context),
    "2026-11-01",
  ];
}

/**
 * `add(row)` settles once the row is committed. With `writer: "worker"` the SQLite writer runs on
 * a worker thread: this thread posts each event-loop turn's rows there, and their promises settle
 * when the worker answers that post.
 */
export async function startStore(path: string, writer: "main" | "worker"): Promise<(row: Row) => Promise<void>> {
  if (writer === "main") {
    const insert = openStore(path);
    return (row) => insert([row]);
  }
  // The worker (this module's other branch, below) gets the path, opens the file and applies the
  // migrations, then answers "ready".
  const worker = new Worker(import.meta.path);
  const ready = new Promise<void>((resolve) => worker.addEventListener("message", () => resolve(), { once: true }));
  worker.postMessage({ storePath: path });
  await ready;
  return postingStore(worker);
}

if (!Bun.isMainThread) {
  // Every worker that imports this module runs this (the parallel floor's HTTP threads too), but
  // only the one startStore started is sent a store path.
  self.addEventListener("message", (message: MessageEvent<{ storePath?: string }>) => {
    if (typeof message.data?.storePath !== "string") return;
    commitPosts(self, openStore(message.data.storePath));
    postMessage("ready");
  });
}
