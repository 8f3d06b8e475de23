/**
 * Child processes of the benchmark: every one is registered so that it is killed when the
 * benchmark exits, fails, or is interrupted (Ctrl-C). Plus /proc readers for RSS and CPU time.
 */
import type { Subprocess } from "bun";
import { readFileSync } from "node:fs";

const children = new Set<Subprocess>();
let hooked = false;

function killAll(): void {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  }
  children.clear();
}

/** Kills all children on exit and on SIGINT/SIGTERM; runs `cleanup` (sync) after. */
export function killChildrenOnExit(cleanup: () => void = () => {}): void {
  if (hooked) return;
  hooked = true;
  process.on("exit", () => {
    killAll();
    cleanup();
  });
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    process.on(signal, () => {
      process.stderr.write(`\nbench: ${signal}, stopping child processes\n`);
      process.exit(130);
    });
  }
}

export type SpawnOptions = Parameters<typeof Bun.spawn>[1];

export function spawn(cmd: string[], options: NonNullable<SpawnOptions>): Subprocess {
  const child = Bun.spawn(cmd, options);
  children.add(child);
  child.exited.then(() => children.delete(child));
  return child;
}

/** Sends SIGTERM, waits up to `ms`, then SIGKILL. Resolves with the exit code. */
export async function stop(child: Subprocess, ms = 20_000): Promise<number | null> {
  if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), ms);
  await child.exited;
  clearTimeout(timer);
  return child.exitCode;
}

/** A free TCP port on loopback (bind port 0, read it, release it). */
export function freePort(): number {
  const listener = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = listener.port;
  listener.stop(true);
  return port;
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Polls `url` until it answers 200; fails early if `child` exits. */
export async function waitUntilReady(url: string, child: Subprocess, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`process exited (${child.exitCode ?? child.signalCode}) before ${url} was ready`);
    try {
      const response = await fetch(url);
      if (response.status === 200) return;
    } catch {
      // not listening yet
    }
    await sleep(100);
  }
  throw new Error(`${url} not ready after ${timeoutMs} ms`);
}

/** Resident set size and its peak (VmHWM) of a process, in MiB. */
export function memoryMiB(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? NaN);
  return { rss: kb("VmRSS") / 1024, peak: kb("VmHWM") / 1024 };
}

const CLOCK_TICKS = 100; // USER_HZ on Linux

/** User + system CPU seconds a process (all its threads) has used so far. */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // After the command name: state is field 3, so utime (14) and stime (15) are at 11 and 12.
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
}

/** Machine-wide CPU seconds so far (all cores): busy (user, nice, system) and idle. */
export function machineCpuSeconds(): { busy: number; idle: number } {
  const [user, nice, system, idle, iowait] = readFileSync("/proc/stat", "utf8").split("\n", 1)[0]!.trim().split(/\s+/).slice(1).map(Number);
  return { busy: (user! + nice! + system!) / CLOCK_TICKS, idle: (idle! + iowait!) / CLOCK_TICKS };
}

/** Last lines of a log file, for error messages. */
export async function tail(path: string, lines = 20): Promise<string> {
  try {
    return (await Bun.file(path).text()).trimEnd().split("\n").slice(-lines).join("\n");
  } catch {
    return "";
  }
}
