/**
 * The storage the floor servers share (bench/storage-floor-server.ts, bench/elysia-floor-server.ts
 * with --store): each track body becomes one row of Inlet's own `events` table (the migrations,
 * columns and indexes of src/db, so the unique (tenant, messageId) index dedupes as in Inlet),
 * written with one prepared `INSERT OR IGNORE` in a group commit, on this thread or on a worker.
 */
import { startCheckpointer } from "../../src/db/checkpointer";
import { openDatabase } from "../../src/db/client";

export type Row = (string | number | null)[];
const COLUMNS = ["tenant_id", "message_id", "type", "event", "anonymous_id", "user_id", "visitor_id", "session_id", "timestamp", "sent_at", "received_at", "properties", "context", "schema_version"];
const TENANT = "t_storage_floor";

/**
 * The group commit on the thread that owns the connection: rows added in one event-loop turn
 * share one transaction, and each adder's `done` runs after its COMMIT. Checkpoints run as in
 * Inlet (src/db/checkpointer.ts: automatic ones off, PASSIVE on a worker thread, commits held a
 * moment when the WAL passes 64 MiB), so no commit here waits for an fsync.
 */
class GroupCommit {
  private rows: Row[] = [];
  private done: (() => void)[] = [];
  private scheduled = false;
  private pauses = 0;
  private readonly write: (rows: Row[]) => void;

  constructor(path: string) {
    const { sqlite } = openDatabase(path);
    const insert = sqlite.prepare(`INSERT OR IGNORE INTO events (${COLUMNS.join(", ")}) VALUES (${COLUMNS.map(() => "?").join(", ")})`);
    this.write = sqlite.transaction((rows: Row[]) => {
      for (const row of rows) insert.run(...(row as string[]));
    });
    startCheckpointer(sqlite, path, { writer: this, walLimitBytes: 64 * 1024 * 1024 });
  }

  add(rows: Row[], done: () => void): void {
    for (const row of rows) this.rows.push(row);
    this.done.push(done);
    this.schedule();
  }

  pauseCommits(): () => void {
    this.pauses++;
    let resumed = false;
    return () => {
      if (resumed) return;
      resumed = true;
      this.pauses--;
      this.schedule();
    };
  }

  private schedule(): void {
    if (this.scheduled || this.done.length === 0) return;
    this.scheduled = true;
    setImmediate(() => this.flush());
  }

  private flush(): void {
    this.scheduled = false;
    if (this.pauses > 0) return;
    const rows = this.rows;
    const done = this.done;
    this.rows = [];
    this.done = [];
    this.write(rows);
    for (const answer of done) answer();
  }
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
 * `add(row, done)`: `done` runs once the row is committed. With `writer: "worker"` the SQLite
 * writer runs on a worker thread: this thread posts each event-loop turn's rows there and runs
 * their `done`s when the worker answers that post.
 */
export async function startStore(path: string, writer: "main" | "worker"): Promise<(row: Row, done: () => void) => void> {
  if (writer === "main") {
    const commits = new GroupCommit(path);
    return (row, done) => commits.add([row], done);
  }
  // The worker (this module's other branch, below) gets the path in its first message, opens
  // the file and applies the migrations, then answers "ready".
  const worker = new Worker(import.meta.path);
  const ready = new Promise<void>((resolve) => worker.addEventListener("message", () => resolve(), { once: true }));
  worker.postMessage(path);
  await ready;
  // One post per event-loop turn; the worker answers each post once, in order.
  let rows: Row[] = [];
  let waiting: (() => void)[] = [];
  const posted: (() => void)[][] = [];
  worker.addEventListener("message", () => {
    for (const answer of posted.shift()!) answer();
  });
  return (row, done) => {
    rows.push(row);
    waiting.push(done);
    if (waiting.length > 1) return;
    setImmediate(() => {
      posted.push(waiting);
      worker.postMessage(rows);
      rows = [];
      waiting = [];
    });
  };
}

if (!Bun.isMainThread) {
  let commits: GroupCommit | null = null;
  self.onmessage = (message: MessageEvent<string | Row[]>) => {
    if (typeof message.data === "string") {
      commits = new GroupCommit(message.data);
      postMessage("ready");
    } else commits!.add(message.data, () => postMessage(0));
  };
}
