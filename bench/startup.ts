/**
 * Start-up time of the executable: from exec to `/ready` answering 200, with an empty database
 * (a new one each run, so every run also creates the schema and the demo tenant, as a first start
 * does). Also `inlet --version` alone, the floor set by the runtime itself.
 *
 *   bun run build && bun run bench/startup.ts [--runs 20] [--binary dist/inlet] [--source]
 *
 * --source measures `bun run src/main.ts` instead of the binary, for comparison.
 */
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { freePort } from "./lib/proc";

const root = join(import.meta.dir, "..");
const { values } = parseArgs({
  args: Bun.argv.slice(2),
  options: {
    runs: { type: "string", default: "20" },
    binary: { type: "string", default: join(root, "dist/inlet") },
    source: { type: "boolean", default: false },
  },
});
const runs = Number(values.runs);
const binary = resolve(values.binary);
const command = values.source ? ["bun", "run", join(root, "src/main.ts")] : [binary];
if (!values.source && !(await Bun.file(binary).exists())) {
  console.error(`${binary} does not exist: run \`bun run build\` first.`);
  process.exit(1);
}

/** Milliseconds from spawn until GET /ready answers 200. */
async function timeToReady(): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), "inlet-startup-"));
  const port = freePort();
  const started = performance.now();
  const child = Bun.spawn([...command, "serve"], {
    cwd: dir,
    env: { PATH: process.env.PATH ?? "", HOME: dir, PORT: String(port), HOST: "127.0.0.1", INLET_DB: join(dir, "inlet.db") },
    stdout: "ignore",
    stderr: "ignore",
  });
  try {
    for (;;) {
      if (child.exitCode !== null) throw new Error(`inlet exited with ${child.exitCode} before it was ready`);
      try {
        const response = await fetch(`http://127.0.0.1:${port}/ready`);
        if (response.status === 200) return performance.now() - started;
      } catch {
        // not listening yet
      }
      if (performance.now() - started > 10_000) throw new Error("not ready after 10 s");
      await Bun.sleep(1);
    }
  } finally {
    child.kill("SIGTERM");
    await child.exited;
    rmSync(dir, { recursive: true, force: true });
  }
}

async function timeToVersion(): Promise<number> {
  const started = performance.now();
  const child = Bun.spawn([...command, "--version"], { stdout: "ignore", stderr: "ignore" });
  await child.exited;
  return performance.now() - started;
}

function summary(label: string, samples: number[]): string {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!;
  const f = (ms: number) => `${ms.toFixed(1)} ms`;
  return `${label.padEnd(22)} median ${f(at(0.5))}  p90 ${f(at(0.9))}  min ${f(sorted[0]!)}  max ${f(sorted.at(-1)!)}  (${samples.length} runs)`;
}

await timeToReady(); // warm the page cache once, as on a server that has run the binary before
const ready: number[] = [];
const version: number[] = [];
for (let i = 0; i < runs; i++) {
  ready.push(await timeToReady());
  version.push(await timeToVersion());
}
console.log(values.source ? "bun run src/main.ts" : `${binary} (${(statSync(binary).size / 1024 / 1024).toFixed(1)} MiB)`);
console.log(summary("exec → /ready 200", ready));
console.log(summary("exec → --version exit", version));
