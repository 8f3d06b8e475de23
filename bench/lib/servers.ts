/**
 * The servers under load: the floors (bench/floor-server.ts, the bare one is the baseline) and
 * Inlet itself (a fresh SQLite file per server, a tenant created up front with the CLI, started
 * exactly as a user starts it). Each on a free loopback port, logging into the run's temp dir.
 */
import { Database } from "bun:sqlite";
import { openSync } from "node:fs";
import { join } from "node:path";
import { cpuSeconds, freePort, memoryMiB, spawn, stop, tail, waitUntilReady } from "./proc";

export const ROOT = join(import.meta.dir, "..", "..");

export interface RunningServer {
  name: string;
  url: string;
  cpuSeconds(): number;
  memory(): { rss: number; peak: number };
  stop(): Promise<number | null>;
  signal(signal: "SIGUSR2"): void;
  /** Its stderr (and stdout unless discarded). */
  log: string;
}

/** Starts `cmd` with PORT set, waits until its /ready answers 200; stderr (and stdout, unless discarded) into `<dir>/<file>.log`. */
async function launch(name: string, dir: string, file: string, cmd: string[], env: Record<string, string>, discardStdout = false): Promise<RunningServer> {
  const port = freePort();
  const log = join(dir, `${file}.log`);
  const fd = openSync(log, "a");
  const child = spawn(cmd, { cwd: ROOT, env: { ...process.env, ...env, PORT: String(port) }, stdout: discardStdout ? "ignore" : fd, stderr: fd });
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
    cpuSeconds: () => cpuSeconds(child.pid),
    memory: () => memoryMiB(child.pid),
    stop: () => stop(child),
    signal: (signal) => child.kill(signal),
    log,
  };
}

/** bench/floor-server.ts with `flags` (none: the bare Bun.serve, bench/run.ts's baseline), with a database file of its own. */
export function startFloor(dir: string, flags: string[] = []): Promise<RunningServer> {
  const name = flags.length ? `floor ${flags.map((f) => f.slice(2)).join(" ")}` : "bare";
  const file = name.replace(/\W+/g, "-");
  return launch(name, dir, file, ["bun", "run", join(ROOT, "bench", "floor-server.ts"), ...flags], { INLET_DB: join(dir, `${file}.db`) });
}

export interface InletServer extends RunningServer {
  db: string;
  tenantId: string;
  writeKey: string;
}

/**
 * Creates a tenant in a fresh database file `<dir>/<name>.db` (or, with `databaseUrl`, in that
 * PostgreSQL database; `tenant` reuses one made before), then starts `inlet serve` on it.
 */
export async function startInlet(
  dir: string,
  name: string,
  options: {
    logLevel?: string;
    discardStdout?: boolean;
    bunFlags?: string[];
    databaseUrl?: string;
    tenant?: { tenantId: string; key: string };
    stepTimes?: boolean;
  } = {},
): Promise<InletServer> {
  const db = join(dir, `${name}.db`);
  const store = { INLET_DB: db, DATABASE_URL: options.databaseUrl ?? "" };
  let tenant = options.tenant;
  if (!tenant) {
    const created = Bun.spawnSync(["bun", "run", "src/main.ts", "tenant", "create", `bench-${name}`], {
      cwd: ROOT,
      env: { ...process.env, ...store, LOG_LEVEL: "warn" },
    });
    if (created.exitCode !== 0) throw new Error(`inlet tenant create failed:\n${created.stderr.toString()}`);
    tenant = JSON.parse(created.stdout.toString()) as { tenantId: string; key: string };
  }
  const env = { ...store, HOST: "127.0.0.1", INLET_DEMO: "false", LOG_LEVEL: options.logLevel ?? "warn", INLET_STEP_TIMES: String(options.stepTimes ?? false) };
  const server = await launch(`inlet (${name})`, dir, name, ["bun", ...(options.bunFlags ?? []), "run", "src/main.ts", "serve"], env, options.discardStdout);
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
