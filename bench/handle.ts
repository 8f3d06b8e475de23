/**
 * The HTTP side's CPU per request, in process: the real app (createServices + createApp, the real
 * SQLite file in a temp directory, LOG_LEVEL=warn, rate limits off) driven by `app.handle(new
 * Request(...))` in groups of concurrent requests (like the wrk bench makes group commit behave),
 * without sockets, wrk or the kernel in the way. Phases, alternated in rounds so that each sees
 * the same machine and the same database size:
 *
 *   health   GET /health
 *   track    POST /v1/events/track with realistic bodies (bench/lib/bodies.ts: 20,000 visitors,
 *            300 user agents as header and context.userAgent, 300 IPs in context.ip, UTM urls)
 *   401      the same track requests with an unknown key
 *   write    the same calls straight into services.pipeline.ingest (the write path alone, like
 *            bench/pipeline.ts): track - write is what HTTP costs
 *
 * CPU is process.cpuUsage (user + system, all threads) around the handling only (building the
 * Request objects is outside the measured span), so it is steadier than wall time on a shared
 * machine. Repeat runs and compare medians.
 *
 *   bun run bench/handle.ts [requests per phase=20000] [concurrency=32] [rounds=5]
 *   LOG_LEVEL=info bun run bench/handle.ts   # with one (buffered, discarded) log line per request
 *   HANDLE_ONLY=track bun --cpu-prof-md run bench/handle.ts   # one phase (by name prefix), e.g. to profile it
 */
import { createApp } from "../src/app";
import { logger, type LogLevel } from "../src/logger";
import type { Validated } from "../src/pipeline";
import { MID, trackTemplates, visitors } from "./lib/bodies";
import { startInProcess } from "./lib/in-process";

const [requests = 20_000, concurrency = 32, rounds = 5] = process.argv.slice(2, 5).map(Number);
const logLevel = (process.env.LOG_LEVEL as LogLevel | undefined) ?? "warn";
logger.setLevel(logLevel);
if (logLevel === "info" || logLevel === "debug") {
  // Lines are still built, buffered and written; only not to the terminal.
  process.stdout.write = (() => true) as typeof process.stdout.write;
}
const print = (line: string) => process.stderr.write(line + "\n");

const inlet = startInProcess("handle", { INLET_DEMO: "false", LOG_LEVEL: logLevel });
const { services, tenant, auth } = inlet;
const app = createApp(services);

// Templates "<User-Agent>\t<JSON with {{MID}}>", one per visitor.
const templates = trackTemplates(visitors(), Date.now()).map((line) => {
  const tab = line.indexOf("\t");
  const json = line.slice(tab + 1);
  const [before, after] = json.split(MID) as [string, string];
  return { ua: line.slice(0, tab), before, after, parsed: JSON.parse(json) as Record<string, unknown> };
});

let counter = 0;
const nextId = () => `h-${++counter}`;

const base = "http://inlet.local";
const healthRequest = () => new Request(`${base}/health`);
const trackRequest = (i: number, key: string) => {
  const t = templates[(i * 7919) % templates.length]!;
  const body = t.before + nextId() + t.after;
  return new Request(`${base}/v1/events/track`, {
    method: "POST",
    headers: {
      authorization: `Bearer ${key}`,
      "content-type": "application/json",
      "content-length": String(Buffer.byteLength(body)),
      "user-agent": t.ua,
    },
    body,
  });
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

const badKey = "wk_" + "x".repeat(40);
const phases: Phase[] = [
  { name: "GET /health", prepare: () => { const r = healthRequest(); return () => app.handle(r); }, expect: 200, cpuUs: [], wallMs: [], unexpected: 0 },
  { name: "track (full)", prepare: (i) => { const r = trackRequest(i, tenant.key); return () => app.handle(r); }, expect: 200, cpuUs: [], wallMs: [], unexpected: 0 },
  { name: "track, bad key (401)", prepare: (i) => { const r = trackRequest(i, badKey); return () => app.handle(r); }, expect: 401, cpuUs: [], wallMs: [], unexpected: 0 },
  {
    name: "write path alone",
    prepare: (i) => {
      const t = templates[(i * 7919) % templates.length]!;
      const calls = [{ call: { ...t.parsed, messageId: nextId(), type: "track" } } as Validated];
      const facts = { peerIp: null, header: (name: string) => (name === "user-agent" ? t.ua : null) };
      return () => services.pipeline.ingest(auth, calls, { receivedAt: Date.now() }, facts, null);
    },
    cpuUs: [],
    wallMs: [],
    unexpected: 0,
  },
];

const only = process.env.HANDLE_ONLY;
if (only) phases.splice(0, phases.length, ...phases.filter((p) => p.name.startsWith(only)));

async function run(phase: Phase, count: number, offset: number): Promise<{ cpuUs: number; wallMs: number }> {
  let cpuUs = 0;
  let wallMs = 0;
  for (let i = 0; i < count; i += concurrency) {
    const group: (() => Promise<unknown>)[] = [];
    for (let k = 0; k < concurrency && i + k < count; k++) group.push(phase.prepare(offset + i + k));
    const wall = performance.now();
    const cpu = process.cpuUsage();
    const results = await Promise.all(group.map((go) => go()));
    const used = process.cpuUsage(cpu);
    wallMs += performance.now() - wall;
    cpuUs += used.user + used.system;
    if (phase.expect !== undefined) {
      for (const r of results) if ((r as Response).status !== phase.expect) phase.unexpected++;
    }
    // Consume the bodies outside the measured span (a server writes them to the socket natively).
    await Promise.all(results.map((r) => (r instanceof Response ? r.arrayBuffer() : null)));
  }
  return { cpuUs, wallMs };
}

// Warm-up: every phase, so that the JIT, the key, user agent and session caches are warm.
for (const phase of phases) await run(phase, Math.min(5_000, requests / 2), 10_000_000);
for (const phase of phases) phase.unexpected = 0;

const perRound = Math.ceil(requests / rounds);
for (let round = 0; round < rounds; round++) {
  for (const phase of phases) {
    Bun.gc(true); // not inside a measured span
    const { cpuUs, wallMs } = await run(phase, perRound, round * perRound);
    phase.cpuUs.push(cpuUs / perRound);
    phase.wallMs.push(wallMs);
  }
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const fmt = (n: number, width: number) => n.toFixed(1).padStart(width);
print(`bench/handle.ts: ${perRound * rounds} requests per phase in ${rounds} rounds, groups of ${concurrency}, LOG_LEVEL=${logLevel}`);
print(`${"phase".padEnd(22)} ${"CPU µs/req".padStart(10)} ${"(min-max)".padStart(14)} ${"wall req/s".padStart(10)} unexpected`);
for (const p of phases) {
  const cpu = median(p.cpuUs);
  const wall = median(p.wallMs);
  const range = `${Math.min(...p.cpuUs).toFixed(0)}-${Math.max(...p.cpuUs).toFixed(0)}`;
  print(`${p.name.padEnd(22)} ${fmt(cpu, 10)} ${range.padStart(14)} ${String(Math.round((perRound / wall) * 1000)).padStart(10)} ${p.unexpected}`);
}
const track = median(phases.find((p) => p.name === "track (full)")?.cpuUs ?? [NaN]);
const write = median(phases.find((p) => p.name === "write path alone")?.cpuUs ?? [NaN]);
if (!Number.isNaN(track - write)) print(`HTTP share of a track request (track - write path): ${(track - write).toFixed(1)} µs CPU (${Math.round(((track - write) / track) * 100)}%)`);
print(`user agent cache: ${JSON.stringify(services.enricher.stats().userAgent)}; writer commits: ${services.writer.stats.commits}`);
const round1 = (n: number) => Math.round(n * 10) / 10;
print(JSON.stringify({ bench: "handle", logLevel, requests: perRound * rounds, concurrency, median: Object.fromEntries(phases.map((p) => [p.name, round1(median(p.cpuUs))])), min: Object.fromEntries(phases.map((p) => [p.name, round1(Math.min(...p.cpuUs))])) }));

await inlet.close();
process.exit(0);
