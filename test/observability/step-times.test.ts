/** INLET_STEP_TIMES: the benchmark's step-by-step accounting, read with SIGUSR2 from a real server process. */
import { afterAll, describe, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { STEP_TIMES_LINE, STEPS, type StepSnapshot } from "../../src/lib/step-times";
import { spawnServer, type ServerProcess } from "../helpers/process";
import { mainTs, tempDir } from "../helpers/server";

const dir = tempDir();
const db = join(dir, "inlet.db");
let server: ServerProcess | undefined;
afterAll(async () => {
  server?.proc.kill();
  await server?.proc.exited;
  rmSync(dir, { recursive: true, force: true });
});

function createTenant(): { key: string } {
  const out = Bun.spawnSync(["bun", "run", mainTs, "tenant", "create", "steps"], { env: { ...process.env, INLET_DB: db, LOG_LEVEL: "warn" } });
  return JSON.parse(out.stdout.toString());
}

async function snapshot(running: ServerProcess): Promise<StepSnapshot> {
  const seen = running.output().split(STEP_TIMES_LINE).length;
  running.proc.kill("SIGUSR2");
  for (let i = 0; i < 250; i++) {
    const parts = running.output().split(STEP_TIMES_LINE);
    if (parts.length > seen) return JSON.parse(parts.at(-1)!.split("\n", 1)[0]!);
    await Bun.sleep(20);
  }
  throw new Error(`no step times line:\n${running.output()}`);
}

describe("INLET_STEP_TIMES=1", () => {
  test("SIGUSR2 writes every step's total, the CPU time and the request count; a track call adds to its steps", async () => {
    const { key } = createTenant();
    server = await spawnServer({ INLET_DB: db, INLET_DEMO: "false", LOG_LEVEL: "info", INLET_STEP_TIMES: "1" }, 30_000);
    const before = await snapshot(server);
    expect(Object.keys(before.ms)).toEqual([...STEPS]);
    const response = await fetch(`${server.url}/v1/events/track`, {
      method: "POST",
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
      body: JSON.stringify({ event: "Signed Up", anonymousId: "a-1", properties: { plan: "pro" } }),
    });
    expect(response.status).toBe(200);
    // The request's log line (and its metrics) are written after the answer is sent: the first
    // snapshot may come before them, so snapshots are taken until they are counted (a few at most).
    let after = await snapshot(server);
    for (let tries = 0; tries < 20 && !(after.ms["log line"]! > before.ms["log line"]! && after.ms.metrics! > before.ms.metrics!); tries++) {
      after = await snapshot(server);
    }
    expect(after.requests).toBe(before.requests + 1);
    expect(after.cpuMicros).toBeGreaterThan(before.cpuMicros);
    // The main thread's share of it (the bench prints "-" when the runtime could not tell).
    expect(after.threadCpuMicros).toBeGreaterThanOrEqual(0);
    for (const name of ["auth", "body", "validate", "normalize", "enrich", "record: dedupe", "record: insert", "commit", "metrics", "log line"]) {
      expect({ name, ms: after.ms[name]! > before.ms[name]! }).toEqual({ name, ms: true });
    }
  });
});
