/** Test helpers: a real Inlet server on a random port over a real SQLite file, and the real CLI. */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig, type Config } from "../../src/config";
import { startServer, type RunningServer } from "../../src/server";
import type { ServiceOptions } from "../../src/app";
import { createTestDatabase } from "./postgres";

export const repoRoot = join(import.meta.dir, "../..");
export const mainTs = join(repoRoot, "src/main.ts");

export function tempDir(prefix = "inlet-test-"): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export interface TestServer {
  url: string;
  tenantId: string;
  writeKey: string;
  dbPath: string;
  running: RunningServer;
  stop(): Promise<void>;
  track(body: unknown, init?: { key?: string; headers?: Record<string, string> }): Promise<Response>;
  post(path: string, body: unknown, init?: { key?: string; headers?: Record<string, string> }): Promise<Response>;
  /** A new tenant with its write key. */
  tenant(name?: string): Promise<{ tenantId: string; writeKey: string }>;
  /**
   * Waits (at most 5 s) until the session numbers the server keeps in memory are written, which
   * it does once its writer has been idle for ~50 ms (src/pipeline/sessions.ts); true when they are.
   */
  sessionsWritten(): Promise<boolean>;
}

/**
 * The store the tests' servers use: SQLite files, or with INLET_TEST_STORE=postgres a fresh
 * PostgreSQL database per server (test/helpers/postgres.ts), so that the same tests run on both.
 */
export const TEST_STORE = process.env.INLET_TEST_STORE === "postgres" ? "postgres" : "sqlite";

export async function startTestServer(env: Record<string, string> = {}, options: ServiceOptions = {}): Promise<TestServer> {
  const dir = tempDir();
  const database = TEST_STORE === "postgres" ? await createTestDatabase("server") : null;
  // On PostgreSQL, `dbPath` is the database's URL: the helpers below hand it to the CLI as DATABASE_URL.
  const dbPath = database?.url ?? join(dir, "inlet.db");
  const store = database ? { DATABASE_URL: database.url } : { INLET_DB: dbPath };
  const config: Config = loadConfig({ PORT: "0", HOST: "127.0.0.1", ...store, INLET_DEMO: "false", LOG_LEVEL: "silent", ...env });
  const running = await startServer(config, options);
  const url = `http://127.0.0.1:${running.port}`;
  const first = await running.services.tenants.createTenant("test");
  const post = (path: string, body: unknown, init: { key?: string; headers?: Record<string, string> } = {}) =>
    fetch(url + path, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${init.key ?? first.key}`, ...init.headers },
      body: typeof body === "string" ? body : JSON.stringify(body),
    });
  return {
    url,
    tenantId: first.tenantId,
    writeKey: first.key,
    dbPath,
    running,
    post,
    track: (body, init) => post("/v1/events/track", body, init),
    tenant: async (name = "other") => {
      const t = await running.services.tenants.createTenant(name);
      return { tenantId: t.tenantId, writeKey: t.key };
    },
    async sessionsWritten() {
      const deadline = Date.now() + 5_000;
      // PostgreSQL writes session numbers with each commit: nothing waits.
      const sessions = running.services.sqlite?.sessions;
      while (sessions?.pending && Date.now() < deadline) await Bun.sleep(10);
      return !sessions?.pending;
    },
    async stop() {
      await running.stop();
      await database?.drop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The environment naming a test server's store for the CLI: its SQLite file, or its PostgreSQL URL. */
export function storeEnv(dbPath: string): Record<string, string> {
  return dbPath.startsWith("postgres://") ? { DATABASE_URL: dbPath } : { INLET_DB: dbPath };
}

/**
 * The store of a server or CLI run that a test starts itself (a child process): a file in `dir`, or with
 * INLET_TEST_STORE=postgres a fresh PostgreSQL database. `path` is what `storeEnv` and `storeRows` take.
 */
export async function testStore(dir: string, label = "store"): Promise<{ path: string; env: Record<string, string>; drop(): Promise<void> }> {
  const database = TEST_STORE === "postgres" ? await createTestDatabase(label) : null;
  const path = database?.url ?? join(dir, "inlet.db");
  return { path, env: storeEnv(path), drop: async () => database?.drop() };
}

/** Runs the real CLI (`bun run src/main.ts ...`) and returns its exit code and output. */
export async function cli(args: string[], env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  const proc = Bun.spawn(["bun", "run", mainTs, ...args], {
    // A command needs one or two connections; with several commands at once on PostgreSQL, a pool of
    // the default size each would take what the shared server allows (max_connections).
    env: { ...process.env, LOG_LEVEL: "warn", PG_POOL_SIZE: "2", ...env },
    stdout: "pipe",
    stderr: "pipe",
  });
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { code, stdout, stderr };
}

/** Runs the real CLI and parses its JSON answer (null when it printed nothing); a non-zero exit throws with its stderr. */
export async function cliJson(args: string[], env: Record<string, string>): Promise<any> {
  const out = await cli(args, env);
  if (out.code !== 0) throw new Error(`inlet ${args.join(" ")}: ${out.stderr}`);
  return out.stdout.trim() === "" ? null : JSON.parse(out.stdout);
}

export function ndjson(text: string): Record<string, any>[] {
  return text
    .split("\n")
    .filter((line) => line.trim() !== "")
    .map((line) => JSON.parse(line));
}

/** Export a tenant's events through the real CLI. */
export async function exportEvents(dbPath: string, tenantId: string, extra: string[] = []): Promise<Record<string, any>[]> {
  const result = await cli(["export", "--tenant", tenantId, ...extra], storeEnv(dbPath));
  if (result.code !== 0) throw new Error(`export failed: ${result.stderr}`);
  return ndjson(result.stdout);
}
