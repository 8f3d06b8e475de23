/**
 * CPU per request in process, without sockets, wrk or the kernel in the way: the real services
 * (createServices on a real SQLite file in a temp directory, rate limits off) driven in groups of
 * concurrent requests (like the wrk bench, so that group commit behaves alike). Phases, alternated
 * in rounds so that each sees the same machine and the same database size:
 *
 *   GET /health         through the real app's `app.handle(new Request(...))`
 *   track (full)        POST /v1/events/track with realistic bodies (bench/lib/bodies.ts)
 *   track, bad key      the same with an unknown key (401)
 *   write path, track   the same calls straight into the pipeline: track - write path is what HTTP costs
 *   write path, identify  identify calls into the pipeline (30% new users, 50% returning, 20% anonymous)
 *
 * CPU is process.cpuUsage (user + system, all threads) around the handling only (building the
 * requests is outside the measured span), steadier than wall time on a shared machine.
 *
 *   bun run bench/handle.ts [requests per phase=20000] [concurrency=32] [rounds=5]
 *   LOG_LEVEL=info bun run bench/handle.ts   # with one (buffered, discarded) log line per request
 *   HANDLE_ONLY=track bun --cpu-prof-md run bench/handle.ts   # the phases whose name starts so, e.g. to profile one
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createApp, createServices } from "../src/app";
import { loadConfig } from "../src/config";
import { startCheckpointer } from "../src/db/checkpointer";
import { openDatabase } from "../src/db/client";
import { logger, type LogLevel } from "../src/logger";
import type { Validated } from "../src/pipeline";
import { identifyTemplates, MID, NEW, trackTemplates, visitors } from "./lib/bodies";

const [requests = 20_000, concurrency = 32, rounds = 5] = process.argv.slice(2, 5).map(Number);
const logLevel = (process.env.LOG_LEVEL as LogLevel | undefined) ?? "warn";
logger.setLevel(logLevel);
// Lines are still built, buffered and written; only not to the terminal.
if (logLevel === "info" || logLevel === "debug") process.stdout.write = (() => true) as typeof process.stdout.write;
const print = (line: string) => process.stderr.write(line + "\n");

const dir = mkdtempSync(join(tmpdir(), "inlet-handle-"));
const config = loadConfig({ INLET_DB: join(dir, "handle.db"), INLET_DEMO: "false", LOG_LEVEL: logLevel, RATE_LIMIT_RPS: "0", RATE_LIMIT_EPS: "0" });
const database = openDatabase(config.db, { synchronous: config.synchronous });
const services = createServices(config, database);
const checkpointer = startCheckpointer(database.sqlite, config.db, { writer: services.sqlite!.writer, walLimitBytes: config.walLimitMb * 1024 * 1024 });
const tenant = await services.tenants.createTenant("bench");
const auth = { tenantId: tenant.tenantId, keyId: tenant.keyId, settings: await services.tenants.getSettings(tenant.tenantId), serverSide: false };
const app = createApp(services);

/** Templates "<User-Agent>\t<JSON with {{MID}} and {{NEW}}>", split for fast filling. */
const split = (lines: string[]) =>
  lines.map((line) => {
    const tab = line.indexOf("\t");
    return { ua: line.slice(0, tab), json: line.slice(tab + 1) };
  });
const vs = visitors();
const tracks = split(trackTemplates(vs, Date.now()));
const identifies = split(identifyTemplates(vs, Date.now()));
let counter = 0;
/** A template's body with fresh ids. */
const fill = (json: string) => {
  const id = `h-${++counter}`;
  return json.replaceAll(MID, id).replaceAll(NEW, id);
};
const pickOf = <T>(list: T[], i: number) => list[(i * 7919) % list.length]!;

const base = "http://inlet.local";
const trackRequest = (i: number, key: string) => {
  const t = pickOf(tracks, i);
  const body = fill(t.json);
  const headers = { authorization: `Bearer ${key}`, "content-type": "application/json", "content-length": String(Buffer.byteLength(body)), "user-agent": t.ua };
  return new Request(`${base}/v1/events/track`, { method: "POST", headers, body });
};
const writePath = (template: { ua: string; json: string }, type: "track" | "identify") => {
  const calls = [{ call: { ...JSON.parse(fill(template.json)), type } } as Validated];
  const facts = { peerIp: null, header: (name: string) => (name === "user-agent" ? template.ua : null) };
  return () => services.pipeline.ingest(auth, calls, { receivedAt: Date.now() }, facts, null);
};

interface Phase {
  name: string;
  /** Prepares one request of the group (outside the measured span) and returns its run. */
  prepare(i: number): () => Promise<unknown>;
  expect?: number;
  cpuUs: number[];
  wallMs: number[];
  unexpected: number;
}
const phase = (name: string, prepare: Phase["prepare"], expect?: number): Phase => ({ name, prepare, expect, cpuUs: [], wallMs: [], unexpected: 0 });
const badKey = "wk_" + "x".repeat(40);
const handled = (request: Request) => () => app.handle(request);
const phases = [
  phase("GET /health", () => handled(new Request(`${base}/health`)), 200),
  phase("track (full)", (i) => handled(trackRequest(i, tenant.key)), 200),
  phase("track, bad key (401)", (i) => handled(trackRequest(i, badKey)), 401),
  phase("write path, track", (i) => writePath(pickOf(tracks, i), "track")),
  phase("write path, identify", (i) => writePath(pickOf(identifies, i), "identify")),
].filter((p) => !process.env.HANDLE_ONLY || p.name.startsWith(process.env.HANDLE_ONLY));

async function run(phase: Phase, count: number, offset: number): Promise<{ cpuUs: number; wallMs: number }> {
  let cpuUs = 0;
  let wallMs = 0;
  for (let i = 0; i < count; i += concurrency) {
    const group: (() => Promise<unknown>)[] = [];
    for (let k = 0; k < concurrency && i + k < count; k++) group.push(phase.prepare(offset + i + k));
    const wall = performance.now();
    const cpu = process.cpuUsage();
    const answers = await Promise.all(group.map((go) => go()));
    const used = process.cpuUsage(cpu);
    wallMs += performance.now() - wall;
    cpuUs += used.user + used.system;
    if (phase.expect !== undefined) for (const r of answers) if ((r as Response).status !== phase.expect) phase.unexpected++;
    // Consume the bodies outside the measured span (a server writes them to the socket natively).
    await Promise.all(answers.map((r) => (r instanceof Response ? r.arrayBuffer() : null)));
  }
  return { cpuUs, wallMs };
}

// Warm-up: every phase, so that the JIT, the key, user agent and session caches are warm.
for (const p of phases) await run(p, Math.min(5_000, requests / 2), 10_000_000);
for (const p of phases) p.unexpected = 0;

const perRound = Math.ceil(requests / rounds);
for (let round = 0; round < rounds; round++) {
  for (const p of phases) {
    Bun.gc(true); // not inside a measured span
    const { cpuUs, wallMs } = await run(p, perRound, round * perRound);
    p.cpuUs.push(cpuUs / perRound);
    p.wallMs.push(wallMs);
  }
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
print(`bench/handle.ts: ${perRound * rounds} requests per phase in ${rounds} rounds, groups of ${concurrency}, LOG_LEVEL=${logLevel}`);
print(`${"phase".padEnd(22)} ${"CPU µs/req".padStart(10)} ${"(min-max)".padStart(14)} ${"wall req/s".padStart(10)} unexpected`);
for (const p of phases) {
  const range = `${Math.min(...p.cpuUs).toFixed(0)}-${Math.max(...p.cpuUs).toFixed(0)}`;
  print(
    `${p.name.padEnd(22)} ${median(p.cpuUs).toFixed(1).padStart(10)} ${range.padStart(14)} ${String(Math.round((perRound / median(p.wallMs)) * 1000)).padStart(10)} ${p.unexpected}`,
  );
}
const cpuOf = (name: string) => median(phases.find((p) => p.name === name)?.cpuUs ?? [NaN]);
const http = cpuOf("track (full)") - cpuOf("write path, track");
if (!Number.isNaN(http))
  print(`HTTP share of a track request (track - write path): ${http.toFixed(1)} µs CPU (${Math.round((http / cpuOf("track (full)")) * 100)}%)`);
print(
  `user agent cache: ${JSON.stringify(services.enricher.stats().userAgent)}; writer commits: ${services.sqlite!.writer.stats.commits}; session cache hit rate: ${(services.sqlite!.sessions.hits / (services.sqlite!.sessions.hits + services.sqlite!.sessions.misses)).toFixed(3)}`,
);
print(
  JSON.stringify({
    bench: "handle",
    logLevel,
    requests: perRound * rounds,
    concurrency,
    median: Object.fromEntries(phases.map((p) => [p.name, Math.round(median(p.cpuUs) * 10) / 10])),
  }),
);

await services.sqlite!.writer.close();
services.enricher.close();
await checkpointer.stop();
database.close();
rmSync(dir, { recursive: true, force: true });
process.exit(0);
