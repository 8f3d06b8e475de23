/**
 * A PostgreSQL server of a test's own (initdb into a temp dir, a free port), for tests that stop,
 * restart or kill the database under load without disturbing the shared server other tests use.
 * Needs the PostgreSQL server binaries (Debian: /usr/lib/postgresql/<version>/bin); as root it runs
 * them as the `postgres` user, since PostgreSQL refuses to run as root.
 */
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir, userInfo } from "node:os";
import { join } from "node:path";
import { freePort } from "./process";

export interface PrivatePostgres {
  url: string;
  stop(mode?: "fast" | "immediate"): Promise<void>;
  start(): Promise<void>;
  destroy(): Promise<void>;
}

/** The server binaries' folder, or null. */
function binaries(): string | null {
  const root = "/usr/lib/postgresql";
  if (!existsSync(root)) return null;
  const versions = readdirSync(root).sort((a, b) => Number(b) - Number(a));
  for (const v of versions) if (existsSync(join(root, v, "bin", "pg_ctl"))) return join(root, v, "bin");
  return null;
}

/** Why a private server cannot run here, or null when it can. */
export function privatePostgresUnavailable(): string | null {
  if (!binaries()) return "the PostgreSQL server binaries (/usr/lib/postgresql/*/bin/pg_ctl) are not installed";
  if (userInfo().uid === 0 && !Bun.which("runuser")) return "running as root without runuser, and PostgreSQL refuses to run as root";
  return null;
}

export async function startPrivatePostgres(): Promise<PrivatePostgres> {
  const bin = binaries()!;
  const dir = mkdtempSync(join(tmpdir(), "inlet-pg-"));
  const asRoot = userInfo().uid === 0;
  if (asRoot) chownSync(dir, Number(Bun.spawnSync(["id", "-u", "postgres"]).stdout.toString().trim()), -1);
  const run = async (args: string[]) => {
    const command = asRoot ? ["runuser", "-u", "postgres", "--", ...args] : args;
    const child = Bun.spawn(command, { stdout: "pipe", stderr: "pipe" });
    const [out, err, code] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited]);
    if (code !== 0) throw new Error(`${args.join(" ")} failed (${code}): ${out}${err}`);
  };
  const data = join(dir, "data");
  const port = freePort();
  await run([join(bin, "initdb"), "-D", data, "-A", "trust", "-U", "postgres", "--no-sync"]);
  const options = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c max_connections=100`;
  const start = () => run([join(bin, "pg_ctl"), "-D", data, "-o", options, "-l", join(dir, "log"), "-w", "-t", "30", "start"]);
  const stop = (mode: "fast" | "immediate" = "fast") => run([join(bin, "pg_ctl"), "-D", data, "-m", mode, "-w", "-t", "30", "stop"]);
  await start();
  let running = true;
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    async stop(mode) {
      await stop(mode);
      running = false;
    },
    async start() {
      await start();
      running = true;
    },
    async destroy() {
      if (running) await stop("immediate").catch(() => {});
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
