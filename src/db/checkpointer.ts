/**
 * WAL checkpoints off the event loop. With synchronous=NORMAL a commit does not wait for the
 * disk; the checkpoint (copying the WAL back into the database file, then fsync) does. SQLite
 * runs it inside whichever commit crosses `wal_autocheckpoint` pages, which would stall the one
 * thread that answers every request for the length of an fsync. So the server's connection
 * turns automatic checkpoints off and a worker thread, with its own connection to the same
 * file, runs PASSIVE checkpoints (they never block the writer) as the WAL grows.
 *
 * The worker's code is inline (a Blob URL) so that the compiled single-file binary needs no
 * second entry point.
 */
import type { Database } from "bun:sqlite";
import { logger } from "../logger";

const workerSource = `
import { Database } from "bun:sqlite";
let db = null;
self.onmessage = (message) => {
  const { path, intervalMs } = message.data;
  db = new Database(path);
  db.run("PRAGMA busy_timeout = 1000");
  setInterval(() => {
    try {
      db.run("PRAGMA wal_checkpoint(PASSIVE)");
    } catch (error) {
      postMessage({ error: String((error && error.message) || error) });
    }
  }, intervalMs);
};
`;

export interface Checkpointer {
  stop(): Promise<void>;
}

/**
 * Starts checkpointing `path` from a worker and turns automatic checkpoints off on `sqlite`.
 * For ":memory:" databases (tests) it does nothing.
 */
export function startCheckpointer(sqlite: Database, path: string, options: { intervalMs?: number } = {}): Checkpointer {
  if (path === ":memory:") return { stop: async () => {} };
  sqlite.run("PRAGMA wal_autocheckpoint = 0");
  const url = URL.createObjectURL(new Blob([workerSource], { type: "application/javascript" }));
  const worker = new Worker(url);
  worker.onmessage = (message: MessageEvent<{ error?: string }>) => {
    if (message.data.error) logger.warn("WAL checkpoint failed; it will be tried again", { error: message.data.error });
  };
  worker.postMessage({ path, intervalMs: options.intervalMs ?? 200 });
  (worker as Worker & { unref(): void }).unref(); // the checkpointer never keeps the process alive
  return {
    async stop() {
      worker.terminate();
      URL.revokeObjectURL(url);
      // Give the last word to the server's connection: closing it checkpoints what is left.
      sqlite.run("PRAGMA wal_autocheckpoint = 1000");
    },
  };
}
