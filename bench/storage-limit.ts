/**
 * The storage limit for the batch benchmark: how fast bare bun:sqlite stores the very rows the
 * server stored, with nothing else going on. Copies the `events` table (columns and indexes) and
 * up to 20,000 of its rows, then for the given time inserts them again (fresh messageIds) into a
 * fresh database through one prepared INSERT, `perTx` rows per transaction, with the server's
 * pragmas. `--indexes=no-dedupe` leaves out the unique (tenant_id, message_id) index, `none` every
 * index, for comparison: a random messageId lands each row in a random page of its index.
 *
 *   bun run bench/storage-limit.ts <server.db> <fresh.db> <seconds> [perTx=100] [--indexes=all|no-dedupe|none]
 *
 * Prints one JSON line: { rows, seconds, rowsPerSecond, rowsPerTransaction, sampleRows, indexes, cpu },
 * cpu being the CPU time per second of the run (below 1: it waited, for the disk or for a core).
 */
import { Database } from "bun:sqlite";

const args = process.argv.slice(2);
const indexes = (args.find((a) => a.startsWith("--indexes="))?.slice("--indexes=".length) ?? "all") as "all" | "no-dedupe" | "none";
if (!["all", "no-dedupe", "none"].includes(indexes)) throw new Error(`--indexes must be all, no-dedupe or none, not ${indexes}`);
const [source, target, secondsArg, perTxArg] = args.filter((a) => !a.startsWith("--"));
if (!source || !target || !secondsArg) {
  process.stderr.write("usage: bun run bench/storage-limit.ts <server.db> <fresh.db> <seconds> [rows per transaction] [--indexes=all|no-dedupe|none]\n");
  process.exit(2);
}
const seconds = Number(secondsArg);
const perTx = Number(perTxArg ?? 100);

const from = new Database(source, { readonly: true });
const ddl = from.query("SELECT sql FROM sqlite_master WHERE tbl_name = 'events' AND sql IS NOT NULL ORDER BY type DESC").all() as { sql: string }[];
const columns = (from.query("PRAGMA table_info(events)").all() as { name: string }[]).map((c) => c.name).filter((name) => name !== "id");
const rows = from.query(`SELECT ${columns.join(", ")} FROM events ORDER BY id LIMIT 20000`).values() as unknown[][];
from.close();
if (rows.length === 0) throw new Error(`no events in ${source}`);

const db = new Database(target, { create: true });
// The server's pragmas (src/db/client.ts).
db.run("PRAGMA journal_mode = WAL");
db.run("PRAGMA synchronous = NORMAL");
db.run("PRAGMA temp_store = MEMORY");
db.run("PRAGMA cache_size = -65536");
// The server checkpoints on a worker thread (src/db/checkpointer.ts), never inside a commit. Here
// the checkpoints run every CHECKPOINT_EVERY rows with the clock stopped, so the figure is the
// writer thread's own cost (an upper bound for it) and the WAL stays bounded.
db.run("PRAGMA wal_autocheckpoint = 0");
const CHECKPOINT_EVERY = 50_000;
const keep = (sql: string) => !/^CREATE (UNIQUE )?INDEX/i.test(sql) || indexes === "all" || (indexes === "no-dedupe" && !/events_tenant_message/.test(sql));
for (const { sql } of ddl) if (keep(sql)) db.run(sql);

const insert = db.prepare(`INSERT INTO events (${columns.join(", ")}) VALUES (${columns.map(() => "?").join(", ")})`);
const messageIdAt = columns.indexOf("message_id");
let n = 0;
const insertMany = db.transaction((count: number) => {
  for (let k = 0; k < count; k++) {
    const row = rows[n % rows.length]!.slice();
    row[messageIdAt] = `${row[messageIdAt]}-s${n}`;
    insert.run(...(row as string[]));
    n++;
  }
});

let measured = 0;
let cpuSeconds = 0;
let sinceCheckpoint = 0;
while (measured < seconds * 1000) {
  const cpu0 = process.cpuUsage();
  const started = performance.now();
  while (sinceCheckpoint < CHECKPOINT_EVERY && measured + (performance.now() - started) < seconds * 1000) {
    insertMany(perTx);
    sinceCheckpoint += perTx;
  }
  measured += performance.now() - started;
  const cpu = process.cpuUsage(cpu0);
  cpuSeconds += (cpu.user + cpu.system) / 1e6;
  db.run("PRAGMA wal_checkpoint(TRUNCATE)");
  sinceCheckpoint = 0;
}
const elapsed = measured / 1000;
db.close();

process.stdout.write(
  JSON.stringify({
    rows: n,
    seconds: elapsed,
    rowsPerSecond: n / elapsed,
    rowsPerTransaction: perTx,
    sampleRows: rows.length,
    indexes,
    cpu: cpuSeconds / elapsed,
  }) + "\n",
);
