/**
 * The two servers under load: the bare Bun.serve baseline and Inlet itself (a fresh SQLite file
 * per server, a tenant created up front with the CLI, started exactly as a user starts it).
 */
import type { Subprocess } from "bun";
import { Database } from "bun:sqlite";
import { openSync } from "node:fs";
import { join } from "node:path";
import { cpuSeconds, freePort, memoryMiB, spawn, stop, tail, waitUntilReady } from "./proc";

export const ROOT = join(import.meta.dir, "..", "..");

export interface RunningServer {
  name: string;
  url: string;
  pid: number;
  child: Subprocess;
  /** Where the server's stderr (and stdout, unless discarded) goes. */
  log: string;
  cpuSeconds(): number;
  memory(): { rss: number; peak: number };
  stop(): Promise<number | null>;
}

async function started(name: string, child: Subprocess, port: number, log: string): Promise<RunningServer> {
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitUntilReady(`${url}/ready`, child);
  } catch (error) {
    await stop(child);
    throw new Error(`${name}: ${(error as Error).message}\n${await tail(log)}`);
  }
  return {
    name,
    url,
    pid: child.pid,
    child,
    log,
    cpuSeconds: () => cpuSeconds(child.pid),
    memory: () => memoryMiB(child.pid),
    stop: () => stop(child),
  };
}

export function startBaseline(dir: string): Promise<RunningServer> {
  return startScript(dir, "baseline", "baseline-server.ts");
}

/**
 * bench/elysia-floor-server.ts: Elysia with Inlet's track schema and nothing else (bench/floor.ts);
 * `enrich` adds Inlet's enrichment, `store` the floor's storage (writer on the main thread).
 */
export function startElysiaFloor(dir: string, add: { enrich?: boolean; store?: boolean } = {}): Promise<RunningServer> {
  const flags = [...(add.enrich ? ["--enrich"] : []), ...(add.store ? ["--store"] : [])];
  const name = ["elysia floor", ...flags.map((f) => f.slice(2))].join(" ");
  return startScript(dir, name, "elysia-floor-server.ts", { args: flags, env: { INLET_DB: join(dir, `${name.replaceAll(" ", "-")}.db`) } });
}

/**
 * bench/storage-floor-server.ts: the bare server that also stores each event in Inlet's events
 * table before answering (bench/floor.ts); `writer` says on which thread SQLite writes.
 */
export function startStorageFloor(dir: string, writer: "main" | "worker"): Promise<RunningServer> {
  return startScript(dir, `storage floor ${writer}`, "storage-floor-server.ts", { args: [`--writer=${writer}`], env: { INLET_DB: join(dir, `storage-floor-${writer}.db`) } });
}

/** bench/parallel-floor-server.ts: the Elysia floor with enrichment on `threads` HTTP threads, the writer on the main thread. */
export function startParallelFloor(dir: string, threads = 2): Promise<RunningServer> {
  return startScript(dir, `parallel floor ${threads}`, "parallel-floor-server.ts", { args: [`--threads=${threads}`], env: { INLET_DB: join(dir, `parallel-floor-${threads}.db`) } });
}

/** A comparison server from bench/, on a free port, logging into `dir`. */
async function startScript(dir: string, name: string, script: string, extra: { args?: string[]; env?: Record<string, string> } = {}): Promise<RunningServer> {
  const port = freePort();
  const log = join(dir, `${name.replaceAll(" ", "-")}.log`);
  const fd = openSync(log, "a");
  const child = spawn(["bun", "run", join(ROOT, "bench", script), ...(extra.args ?? [])], {
    cwd: ROOT,
    env: { ...process.env, ...extra.env, PORT: String(port) },
    stdout: fd,
    stderr: fd,
  });
  return started(name, child, port, log);
}

export interface InletServer extends RunningServer {
  db: string;
  tenantId: string;
  writeKey: string;
}

/** Creates a tenant in a fresh database file `<dir>/<name>.db`, then starts `inlet serve` on it. */
export async function startInlet(dir: string, name: string, options: { logLevel?: string; discardStdout?: boolean; bunFlags?: string[] } = {}): Promise<InletServer> {
  const db = join(dir, `${name}.db`);
  const created = Bun.spawnSync(["bun", "run", "src/main.ts", "tenant", "create", `bench-${name}`], {
    cwd: ROOT,
    env: { ...process.env, INLET_DB: db, LOG_LEVEL: "warn" },
  });
  if (created.exitCode !== 0) throw new Error(`inlet tenant create failed:\n${created.stderr.toString()}`);
  const tenant = JSON.parse(created.stdout.toString()) as { tenantId: string; key: string };

  const port = freePort();
  const log = join(dir, `${name}.log`);
  const fd = openSync(log, "a");
  const child = spawn(["bun", ...(options.bunFlags ?? []), "run", "src/main.ts", "serve"], {
    cwd: ROOT,
    env: {
      ...process.env,
      INLET_DB: db,
      PORT: String(port),
      HOST: "127.0.0.1",
      INLET_DEMO: "false",
      LOG_LEVEL: options.logLevel ?? "warn",
    },
    stdout: options.discardStdout ? "ignore" : fd,
    stderr: fd,
  });
  const server = await started(`inlet (${name})`, child, port, log);
  return { ...server, db, tenantId: tenant.tenantId, writeKey: tenant.key };
}

/** Events stored in a database, by type (open read-only, after the server has stopped). */
export function storedEvents(db: string): Record<string, number> {
  const sqlite = new Database(db, { readonly: true });
  try {
    const rows = sqlite.query("SELECT type, count(*) AS n FROM events GROUP BY type").all() as { type: string; n: number }[];
    return Object.fromEntries(rows.map((r) => [r.type, r.n]));
  } finally {
    sqlite.close();
  }
}
