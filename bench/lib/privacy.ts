/**
 * The privacy phases of `bun run bench` (opt-in: BENCH_ONLY=erase,retention):
 * - erase: one person with BENCH_ERASE_EVENTS (100,000) events is erased through
 *   POST /v1/privacy/deletions while wrk sends track calls at full speed; the deletion's duration
 *   and the track latency while it ran (1-second wrk slices, worst slice's p99), beside track
 *   alone on the same server just before, measured the same way (the reference for the ratio).
 * - retention: BENCH_RETENTION_EVENTS (1,000,000) events 40 days old, a 30-day retention, one run
 *   of `inlet privacy retention`: rows deleted per second and the file's size before and after.
 */
import { statSync } from "node:fs";
import { sleep } from "./proc";
import { ROOT, startInlet, type InletServer } from "./servers";
import { combine, runLoad, type LoadResult } from "./wrk";

const DAY = 86_400_000;
/** Items per import request (a request body may hold at most 500 KB). */
const BATCH = 1_000;
/** 1-second slices of track alone, the erasure's reference. */
const REFERENCE_SLICES = 3;
/**
 * A pause before each measurement: once the load stops, the writer goes idle and writes behind
 * the session numbers of every visitor seen (src/pipeline/sessions), one longer commit that the
 * next burst would otherwise meet; it belongs to neither measurement.
 */
const SETTLE_MS = 1_000;

/** Stores `count` events through /v1/import in batches, `concurrency` requests at a time. */
async function load(server: InletServer, count: number, item: (i: number) => Record<string, unknown>, concurrency = 4): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const start = next;
      next = Math.min(count, next + BATCH);
      const batch = Array.from({ length: next - start }, (_, k) => item(start + k));
      const response = await fetch(`${server.url}/v1/import`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${server.writeKey}` },
        body: JSON.stringify({ batch }),
      });
      if (response.status !== 200) throw new Error(`import answered ${response.status}: ${(await response.text()).slice(0, 300)}`);
      await response.arrayBuffer();
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
}

function cliJson(db: string, args: string[]): any {
  const out = Bun.spawnSync(["bun", "run", "src/main.ts", ...args], { cwd: ROOT, env: { ...process.env, INLET_DB: db, LOG_LEVEL: "warn" } });
  if (out.exitCode !== 0) throw new Error(`inlet ${args.join(" ")} failed:\n${out.stderr.toString()}`);
  return JSON.parse(out.stdout.toString());
}

const fileBytes = (path: string) => {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
};

export interface EraseResult {
  events: number;
  deleted: Record<string, number>;
  deletionSeconds: number;
  walTruncated: boolean;
  /** Track alone on the same server, just before the erasure, in the same 1-second slices. */
  alone: LoadResult;
  track: LoadResult;
  /** Track calls answered 2xx over every wrk run (warm-up included), and how many runs. */
  acknowledged: number;
  runs: number;
  server: InletServer;
}

export async function erasePhase(
  dir: string,
  wrk: { path: string; track: { path: string; data: string }; connections: number; threads: number; warmup: number },
  events: number,
  step: (text: string) => void,
): Promise<EraseResult> {
  const server = await startInlet(dir, "erase", { logLevel: "warn" });
  try {
    const base = Date.now() - 20 * DAY;
    step(`erase: storing ${events} events of one person (3 visitors, one lead)`);
    await load(server, events, (i) => ({
      type: i === 0 ? "identify" : "track",
      event: i === 0 ? undefined : "Viewed Product",
      userId: "bench-erase-user",
      anonymousId: `bench-erase-anon-${i % 3}`,
      messageId: `erase-${i}`,
      timestamp: new Date(base + i * 10_000).toISOString(),
      traits: i === 0 ? { email: "erase.me@bench.example" } : undefined,
      properties: { sku: `sku-${i % 500}`, price: i % 100 },
      context: { page: { url: `https://shop.example/p/${i % 500}` }, userAgent: "Mozilla/5.0 (bench)" },
    }));
    const admin = cliJson(server.db, ["key", "create", "--tenant", server.tenantId, "--admin"]).key as string;
    let acknowledged = 0;
    let runs = 0;
    const run = async (tag: string, seconds: number) => {
      const result = await runLoad(wrk.path, {
        server,
        path: wrk.track.path,
        data: wrk.track.data,
        connections: wrk.connections,
        threads: wrk.threads,
        writeKey: server.writeKey,
        tag,
        seconds,
      });
      acknowledged += result.ok;
      runs++;
      return result;
    };
    if (wrk.warmup > 0) {
      step(`erase: track warm-up ${wrk.warmup} s`);
      await run("Ew", wrk.warmup);
    }
    await sleep(SETTLE_MS);
    step(`erase: track alone, ${REFERENCE_SLICES} slices of 1 s`);
    const reference: LoadResult[] = [];
    for (let k = 0; k < REFERENCE_SLICES; k++) reference.push(await run(`Ea${k}`, 1));
    await sleep(SETTLE_MS);
    step("erase: deleting the person while track runs at full speed");
    const started = performance.now();
    let finished = 0;
    const deletion = fetch(`${server.url}/v1/privacy/deletions`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${admin}` },
      body: JSON.stringify({ subject: { userId: "bench-erase-user" } }),
    }).then(async (response) => {
      finished = performance.now();
      const text = await response.text();
      if (response.status !== 200) throw new Error(`the deletion answered ${response.status}: ${text.slice(0, 300)}`);
      return JSON.parse(text);
    });
    const slices: LoadResult[] = [];
    for (let k = 0; finished === 0; k++) slices.push(await run(`E${k}`, 1));
    const receipt = await deletion;
    return {
      events,
      deleted: receipt.deleted,
      deletionSeconds: (finished - started) / 1000,
      walTruncated: receipt.walTruncated,
      alone: combine(reference),
      track: combine(slices),
      acknowledged,
      runs,
      server,
    };
  } finally {
    await server.stop();
  }
}

export interface RetentionResult {
  events: number;
  deleted: Record<string, number>;
  seconds: number;
  rowsPerSecond: number;
  bytesBefore: number;
  bytesAfter: number;
  pagesFreed: number;
}

export async function retentionPhase(dir: string, events: number, step: (text: string) => void): Promise<RetentionResult> {
  const server = await startInlet(dir, "retention", { logLevel: "warn" });
  const base = Date.now() - 40 * DAY;
  try {
    step(`retention: storing ${events} events 40 days old (10,000 visitors)`);
    await load(server, events, (i) => ({
      type: "track",
      event: "Viewed Product",
      anonymousId: `bench-old-${i % 10_000}`,
      messageId: `old-${i}`,
      timestamp: new Date(base + i * 100).toISOString(),
      properties: { sku: `sku-${i % 500}`, price: i % 100 },
      context: { page: { url: `https://shop.example/p/${i % 500}` }, userAgent: "Mozilla/5.0 (bench)" },
    }));
  } finally {
    await server.stop();
  }
  cliJson(server.db, ["tenant", "set", server.tenantId, "--retention-days", "30"]);
  const bytesBefore = fileBytes(server.db) + fileBytes(`${server.db}-wal`);
  step("retention: inlet privacy retention");
  const started = performance.now();
  const run = cliJson(server.db, ["privacy", "retention"]);
  const seconds = (performance.now() - started) / 1000;
  const deleted = run.tenants[0].deleted as Record<string, number>;
  return {
    events,
    deleted,
    seconds,
    rowsPerSecond: deleted.events! / seconds,
    bytesBefore,
    bytesAfter: fileBytes(server.db) + fileBytes(`${server.db}-wal`),
    pagesFreed: run.pagesFreed,
  };
}
