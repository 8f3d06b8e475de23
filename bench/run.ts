/**
 * `bun run bench`: Inlet's benchmark, every figure beside its baseline from the same run.
 * See bench/README.md for what each phase measures and how to read the table.
 *
 * Environment: BENCH_SECONDS (10) per measured phase, BENCH_WARMUP (3), BENCH_CONNECTIONS (50),
 * BENCH_THREADS (2, wrk threads), BENCH_ROUNDS (5: track and baseline alternate in 5 slices each), BENCH_MILLION=1 (also 1M track events, then RSS),
 * BENCH_ONLY=track,info,batch,identify (a subset; the baseline always runs; add `debugger` for track with
 * the live debugger's stream open, beside track alone), BENCH_PROFILE=1
 * (CPU profile of each Inlet server into bench/results/profile/<phase>/), BENCH_KEEP=1 (keep the temp dir).
 */
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { cpus, loadavg, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import { writeBodyFiles } from "./lib/bodies";
import { killChildrenOnExit, sleep } from "./lib/proc";
import { f1, f2, n0, pct, phaseTable, verdictTable, type PhaseRow, type Verdict } from "./lib/report";
import { ROOT, startBaseline, startInlet, storedEvents, type InletServer, type RunningServer } from "./lib/servers";
import { combine, findWrk, runLoad, type LoadResult } from "./lib/wrk";

const env = process.env;
const cfg = {
  seconds: Number(env.BENCH_SECONDS ?? 10),
  warmup: Number(env.BENCH_WARMUP ?? 3),
  connections: Number(env.BENCH_CONNECTIONS ?? 50),
  threads: Number(env.BENCH_THREADS ?? 2),
  rounds: Math.max(1, Number(env.BENCH_ROUNDS ?? 5)),
  million: env.BENCH_MILLION === "1",
  only: (env.BENCH_ONLY ?? "track,info,batch,identify").split(",").map((s) => s.trim()),
  profile: env.BENCH_PROFILE === "1",
  keep: env.BENCH_KEEP === "1",
};
const RESULTS = join(ROOT, "bench", "results");
const BATCH_SIZE = 100;

const say = (text = "") => process.stdout.write(text + "\n");
const step = (text: string) => process.stderr.write(`· ${text}\n`);

let wrkPath = "";
let dir = "";
/** The bare Bun.serve, up for the whole run: compared phases alternate with it. */
let baseline: RunningServer;

// What the report collects.
const rows: PhaseRow[] = [];
const checks: StoredCheck[] = [];
const verdicts: Verdict[] = [];
const memory: Record<string, { rss: number; peak: number }> = {};
const notes: string[] = [];
const results: Record<string, unknown> = {};
let failed = false;

/** Runs one phase; a failure is reported and the other phases still run. */
async function phase(name: string, run: () => Promise<void>): Promise<void> {
  try {
    await run();
  } catch (error) {
    failed = true;
    notes.push(`${name} FAILED: ${error instanceof Error ? error.message : String(error)}`);
    process.stderr.write(`bench: ${name} failed\n`);
  }
}

interface Driven {
  load: LoadResult;
  /** With `against`: the baseline's slices, combined, and each round's ratio. */
  base?: LoadResult;
  ratios?: number[];
  /** 2xx answers of every run against the server (warm-up included), and how many wrk runs. */
  acknowledged: number;
  runs: number;
}

/**
 * Warm-up, then the measured load. With `against` (the baseline), the measured time is cut into
 * BENCH_ROUNDS slices that alternate between the baseline and the server, so that both see the
 * same machine: on a shared machine, conditions change within seconds.
 */
async function drive(server: RunningServer, o: { path: string; data: string; tag: string; writeKey: string; batch?: number }, against?: RunningServer): Promise<Driven> {
  const run = (target: RunningServer, tag: string, seconds: number) =>
    runLoad(wrkPath, { server: target, path: o.path, data: o.data, connections: cfg.connections, threads: cfg.threads, writeKey: o.writeKey, batch: o.batch, tag, seconds });
  let acknowledged = 0;
  let runs = 0;
  if (cfg.warmup > 0) {
    step(`${server.name}: warm-up ${cfg.warmup} s`);
    acknowledged += (await run(server, `${o.tag}w`, cfg.warmup)).ok;
    runs++;
  }
  if (!against) {
    step(`${server.name}: measuring ${cfg.seconds} s`);
    const load = await run(server, o.tag, cfg.seconds);
    return { load, acknowledged: acknowledged + load.ok, runs: runs + 1 };
  }
  const slice = cfg.seconds / cfg.rounds;
  step(`${server.name}: measuring ${cfg.rounds} x ${slice} s, alternating with ${against.name}`);
  const slices: LoadResult[] = [];
  const baseSlices: LoadResult[] = [];
  for (let r = 0; r < cfg.rounds; r++) {
    baseSlices.push(await run(against, `${o.tag}b${r}`, slice));
    const load = await run(server, `${o.tag}${r}`, slice);
    slices.push(load);
    acknowledged += load.ok;
    runs++;
  }
  const ratios = slices.map((load, r) => load.rps / baseSlices[r]!.rps);
  return { load: combine(slices), base: combine(baseSlices), ratios, acknowledged, runs };
}

interface StoredCheck {
  phase: string;
  type: string;
  acknowledged: number;
  stored: number;
  /** Requests wrk had sent but not yet counted when it stopped: the server may have stored them. */
  inFlightBound: number;
  ok: boolean;
}

/** "2xx means stored": every acknowledged event is in the database (read after a graceful stop). */
function checkStored(phase: string, server: InletServer, type: string, acknowledged: number, inFlightBound: number): void {
  const stored = storedEvents(server.db)[type] ?? 0;
  checks.push({ phase, type, acknowledged, stored, inFlightBound, ok: stored >= acknowledged && stored - acknowledged <= inFlightBound });
}

/**
 * What the server's Prometheus /metrics (if it has one) says about the phase: cache hit rates
 * (issue 4 asks for them; every `...hits...{labels} n` / `...misses...{labels} n` pair) and the
 * mean group commit (events per commit, ms per commit). Counts include the warm-up.
 */
async function serverMetrics(server: RunningServer): Promise<string | null> {
  let text: string;
  try {
    const response = await fetch(`${server.url}/metrics`);
    if (response.status !== 200) return null;
    text = await response.text();
  } catch {
    return null;
  }
  const counts = new Map<string, { hits: number; misses: number }>();
  for (const m of text.matchAll(/^\w*?(hits|misses)\w*\{([^}]*)\}\s+([\d.e+]+)$/gm)) {
    const key = m[2]!.replace(/\w+="([^"]*)"/g, "$1");
    const entry = counts.get(key) ?? { hits: 0, misses: 0 };
    entry[m[1] as "hits" | "misses"] += Number(m[3]);
    counts.set(key, entry);
  }
  const value = (name: string) => Number(new RegExp(`^${name}\\s+([\\d.e+]+)$`, "m").exec(text)?.[1] ?? NaN);
  const parts: string[] = [];
  if (counts.size) parts.push("cache hit rates " + [...counts].map(([key, c]) => `${key} ${((100 * c.hits) / Math.max(1, c.hits + c.misses)).toFixed(1)}% (${n0(c.misses)} misses)`).join(", "));
  const commits = value("inlet_group_commit_size_count");
  if (commits > 0) {
    const ms = (1000 * value("inlet_group_commit_duration_seconds_sum")) / commits;
    parts.push(`${n0(commits)} group commits of ${f1(value("inlet_group_commit_size_sum") / commits)} requests and ${f2(ms)} ms on average`);
  }
  return parts.length ? parts.join("; ") : null;
}

/** One request to find out whether an endpoint exists yet: 404 = not built, skip the phase. */
async function probe(server: InletServer, path: string, body: unknown): Promise<string | null> {
  const response = await fetch(`${server.url}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${server.writeKey}` },
    body: JSON.stringify(body),
  });
  const text = await response.text();
  if (response.status === 404) return `POST ${path} answers 404 (not built yet); skipped`;
  if (response.status !== 200) return `the probe of POST ${path} got ${response.status} ${text.slice(0, 300)}; skipped`;
  return null;
}

interface InletPhase {
  /** The server's name, also its database file's. */
  name: string;
  label: string;
  server?: Parameters<typeof startInlet>[2];
  path: string;
  data: string;
  tag: string;
  /** The type the endpoint stores, for the stored-count check. */
  type: "track" | "identify";
  batch?: number;
  /** A body to probe the endpoint with first (it stores one event); 404 skips the phase. */
  probe?: unknown;
  /** Alternate the measured slices with the baseline, for a ratio. */
  compare?: boolean;
  /** Keep the live debugger's stream (GET /v1/debugger/stream) open and read while measuring. */
  watch?: boolean;
}

/** Opens the debugger's stream with a new admin key of the server's tenant and reads it until stopped. */
function watchDebugger(server: InletServer): () => void {
  const created = Bun.spawnSync(["bun", "run", "src/main.ts", "key", "create", "--tenant", server.tenantId, "--admin"], {
    cwd: ROOT,
    env: { ...process.env, INLET_DB: server.db, LOG_LEVEL: "warn" },
  });
  if (created.exitCode !== 0) throw new Error(`inlet key create --admin failed:\n${created.stderr.toString()}`);
  const { key } = JSON.parse(created.stdout.toString()) as { key: string };
  const abort = new AbortController();
  void (async () => {
    const response = await fetch(`${server.url}/v1/debugger/stream`, { headers: { authorization: `Bearer ${key}` }, signal: abort.signal });
    if (response.status !== 200) throw new Error(`the debugger stream answered ${response.status}`);
    const reader = response.body!.getReader();
    for (;;) if ((await reader.read()).done) break;
  })().catch((error) => {
    if (!abort.signal.aborted) notes.push(`the debugger stream failed: ${error instanceof Error ? error.message : String(error)}`);
  });
  return () => abort.abort();
}

/**
 * One Inlet phase: a fresh server, warm-up and measured load, a graceful stop, and the check that
 * every acknowledged event was stored. Returns null when the probe found no endpoint.
 */
async function inletPhase(o: InletPhase): Promise<(Driven & { server: InletServer }) | null> {
  const bunFlags = cfg.profile ? ["--cpu-prof", "--cpu-prof-md", `--cpu-prof-dir=${join(RESULTS, "profile", o.name)}`] : [];
  const server = await startInlet(dir, o.name, { ...o.server, bunFlags });
  let measured: Driven;
  try {
    if (o.probe !== undefined) {
      const skipped = await probe(server, o.path, o.probe);
      if (skipped) return void notes.push(`${o.name}: ${skipped}`), null;
    }
    const unwatch = o.watch ? watchDebugger(server) : () => {};
    try {
      measured = await drive(server, { path: o.path, data: o.data, tag: o.tag, writeKey: server.writeKey, batch: o.batch }, o.compare ? baseline : undefined);
    } finally {
      unwatch();
    }
    memory[o.name] = server.memory();
    const metrics = await serverMetrics(server);
    if (metrics) notes.push(`${o.name} (server /metrics, warm-up included): ${metrics}`);
  } finally {
    const code = await server.stop();
    if (code !== 0) notes.push(`the ${o.name} server exited with ${code} on SIGTERM (expected 0)`);
  }
  const perRequest = o.batch || 1;
  const probed = o.probe === undefined ? 0 : 1;
  checkStored(o.name, server, o.type, probed + measured.acknowledged * perRequest, measured.runs * cfg.connections * perRequest);
  if (measured.base) rows.push({ name: "bare Bun.serve, alternating with:", load: measured.base });
  rows.push({ name: o.label, load: measured.load, perRequest });
  return { ...measured, server };
}

async function main() {
  const wrk = findWrk();
  wrkPath = wrk.path;
  dir = mkdtempSync(join(tmpdir(), "inlet-bench-"));
  killChildrenOnExit(() => {
    if (!cfg.keep) rmSync(dir, { recursive: true, force: true });
  });
  const meta = { ...machine(), wrk: wrk.version, ...cfg };
  step(`temp dir ${dir}; generating bodies`);
  const bodies = await writeBodyFiles(dir);
  const track = { path: "/v1/events/track", data: bodies.track };

  // 1. The baseline server, up for the whole run, warmed up once.
  baseline = await startBaseline(dir);
  if (cfg.warmup > 0) {
    step(`baseline: warm-up ${cfg.warmup} s`);
    await runLoad(wrkPath, { server: baseline, ...track, tag: "bw", seconds: cfg.warmup, connections: cfg.connections, threads: cfg.threads, writeKey: "none" });
  }
  const compared: { name: string; base: LoadResult; load: LoadResult }[] = [];
  const ratioVerdict = (what: string, d: Driven) => {
    const ratio = d.load.rps / d.base!.rps;
    const range = `${f2(Math.min(...d.ratios!))}-${f2(Math.max(...d.ratios!))}`;
    verdicts.push({ what, value: `${f2(ratio)} (rounds ${range})`, target: ">= 0.5", met: ratio >= 0.5 });
  };

  // 2. Track, LOG_LEVEL=warn (no line per request), alternating with the baseline.
  let trackLoad: LoadResult | undefined;
  if (cfg.only.includes("track")) {
    await phase("track", async () => {
      const done = await inletPhase({ name: "track", label: "track  (LOG_LEVEL=warn)", server: { logLevel: "warn" }, ...track, tag: "t", type: "track", compare: true });
      if (!done) return;
      trackLoad = done.load;
      compared.push({ name: "track", base: done.base!, load: done.load });
      ratioVerdict("track / bare Bun.serve (req/s)", done);
      verdicts.push({ what: "track p99 latency, 50 connections", value: `${f1(done.load.latencyMs.p99)} ms`, target: "< 20 ms", met: done.load.latencyMs.p99 < 20 });
      verdicts.push({ what: "track non-2xx", value: n0(done.load.non2xx), target: "0", met: done.load.non2xx === 0 });
      results.track = { load: done.load, baseline: done.base, ratios: done.ratios };
    });
  }

  // 2b. Track with the live debugger's stream open (BENCH_ONLY=...,debugger): recording every call
  // in the ring and sending it to a watcher should cost next to nothing.
  if (cfg.only.includes("debugger")) {
    await phase("track (debugger)", async () => {
      const label = "track  (LOG_LEVEL=warn, debugger open)";
      const done = await inletPhase({ name: "track-debugger", label, server: { logLevel: "warn" }, ...track, tag: "d", type: "track", compare: true, watch: true });
      if (!done) return;
      compared.push({ name: "track-debugger", base: done.base!, load: done.load });
      ratioVerdict("track with /debugger open / bare Bun.serve (req/s)", done);
      if (trackLoad) {
        const ratio = done.load.rps / trackLoad.rps;
        verdicts.push({ what: "track with /debugger open / track alone (req/s)", value: f2(ratio), target: ">= 0.95", met: ratio >= 0.95 });
      }
      results.trackDebugger = { load: done.load, baseline: done.base, ratios: done.ratios };
    });
  }

  // 3. Track, LOG_LEVEL=info (the default: one JSON line per request), stdout to /dev/null.
  if (cfg.only.includes("info")) {
    await phase("track (info)", async () => {
      const server = { logLevel: "info", discardStdout: true };
      const done = await inletPhase({ name: "track-info", label: "track  (LOG_LEVEL=info, >/dev/null)", server, ...track, tag: "i", type: "track", compare: true });
      if (!done) return;
      compared.push({ name: "track-info", base: done.base!, load: done.load });
      ratioVerdict("track, LOG_LEVEL=info / bare", done);
      results.trackInfo = { load: done.load, baseline: done.base, ratios: done.ratios };
    });
  }
  await baseline.stop();

  // 5. Batches of 100 track events, beside the storage limit (bare bun:sqlite, same rows).
  if (cfg.only.includes("batch")) {
    await phase("batch", async () => {
      const item = JSON.parse((await Bun.file(bodies.batch).text()).split("\n", 1)[0]!.split("\t")[1]!.replace("{{MID}}", "probe-batch-1"));
      const done = await inletPhase({
        name: "batch",
        label: `batch of ${BATCH_SIZE} track events`,
        path: "/v1/events/batch",
        data: bodies.batch,
        tag: "B",
        type: "track",
        batch: BATCH_SIZE,
        probe: { batch: [item], sentAt: new Date().toISOString() },
      });
      if (!done) return;
      step(`storage limit: bare bun:sqlite INSERT, ${cfg.seconds} s`);
      const limit = storageLimit(done.server.db, join(dir, "storage-limit.db"), cfg.seconds);
      rows.push({ name: `storage limit: bun:sqlite INSERT, ${BATCH_SIZE}/tx`, eventsPerSecond: limit.rowsPerSecond, cpu: limit.cpu });
      // For context only: what the same rows cost without the exact-dedupe index, and with no index.
      const context: Record<string, { rowsPerSecond: number; cpu: number }> = {};
      for (const [indexes, label] of [["no-dedupe", "no messageId index"], ["none", "no index at all"]] as const) {
        step(`storage limit, ${label} (context): bare bun:sqlite INSERT, ${cfg.seconds} s`);
        context[indexes] = storageLimit(done.server.db, join(dir, `storage-limit-${indexes}.db`), cfg.seconds, [`--indexes=${indexes}`]);
        rows.push({ name: `  same, ${label} (context)`, eventsPerSecond: context[indexes]!.rowsPerSecond, cpu: context[indexes]!.cpu });
      }
      notes.push(
        `storage: bare bun:sqlite stores these rows at ${n0(limit.rowsPerSecond)}/s with the server's indexes, ` +
          `${n0(context["no-dedupe"]!.rowsPerSecond)}/s without the unique (tenant, messageId) index, ${n0(context.none!.rowsPerSecond)}/s with no index at all`,
      );
      const events = (done.load.ok * BATCH_SIZE) / done.load.seconds;
      verdicts.push({ what: "batch events/s", value: n0(events), target: ">= 150,000", met: events >= 150_000 });
      verdicts.push({ what: "batch / storage limit", value: f2(events / limit.rowsPerSecond), target: ">= 0.4", met: events / limit.rowsPerSecond >= 0.4 });
      results.batch = { ...done.load, eventsPerSecond: events };
      results.storageLimit = limit;
      results.storageLimitContext = context;
    });
  }

  // 6. Identify: new users, returning users, anonymous visitors leaving an email.
  if (cfg.only.includes("identify")) {
    await phase("identify", async () => {
      const done = await inletPhase({
        name: "identify",
        label: "identify (30% new, 50% returning, 20% anon.)",
        path: "/v1/events/identify",
        data: bodies.identify,
        tag: "I",
        type: "identify",
        probe: { userId: "probe-user", traits: { email: "probe@mail.example.net" }, messageId: "probe-identify-1" },
      });
      if (!done) return;
      verdicts.push({ what: "identify req/s, 50 connections", value: n0(done.load.rps), target: ">= 10,000", met: done.load.rps >= 10_000 });
      verdicts.push({ what: "identify non-2xx", value: n0(done.load.non2xx), target: "0", met: done.load.non2xx === 0 });
      results.identify = done.load;
    });
  }

  // 7. Optional: one million track events into one server, then its RSS.
  if (cfg.million) {
    await phase("million", async () => {
      let acknowledged = 0;
      let runs = 0;
      const rss: { acknowledged: number; rss: number }[] = [];
      let idleRss = NaN;
      const started = performance.now();
      const server = await startInlet(dir, "million", {});
      try {
        while (acknowledged < 1_000_000) {
          const seconds = Math.max(10, Math.min(60, Math.ceil((1_000_000 - acknowledged) / Math.max(1000, trackLoad?.rps ?? 5000))));
          step(`million: ${n0(acknowledged)} acknowledged so far; ${seconds} s more`);
          const load = await runLoad(wrkPath, { server, ...track, tag: `m${runs}`, seconds, connections: cfg.connections, threads: cfg.threads, writeKey: server.writeKey });
          acknowledged += load.ok;
          runs++;
          rss.push({ acknowledged, rss: Math.round(server.memory().rss) });
        }
        memory.million = server.memory();
        // For context (the verdict uses the reading above, taken as the load stops).
        await sleep(5_000);
        idleRss = server.memory().rss;
      } finally {
        await server.stop();
      }
      const elapsed = (performance.now() - started) / 1000;
      checkStored("1M track", server, "track", acknowledged, runs * cfg.connections);
      const end = memory.million!.rss;
      verdicts.push({ what: `RSS after ${n0(acknowledged)} track events`, value: `${f1(end)} MiB`, target: "< 150 MiB", met: end < 150 });
      notes.push(`million: RSS (MiB) by events acknowledged: ${rss.map((r) => `${n0(r.acknowledged)}: ${r.rss}`).join(", ")}; 5 s after the load stopped: ${f1(idleRss)}`);
      results.million = { acknowledged, seconds: elapsed, rps: acknowledged / elapsed, memory: memory.million, rss, idleRss };
    });
  } else {
    verdicts.push({ what: "RSS after 1M track events", value: "BENCH_MILLION=1", target: "< 150 MiB", met: null });
  }

  // Report.
  const loadAfter = loadavg().map((x) => Number(x.toFixed(2)));
  say();
  say(`Inlet benchmark  ${meta.date}  commit ${meta.commit}${meta.uncommitted ? ` + ${meta.uncommitted} uncommitted file(s) in src/, drizzle/` : ""}`);
  say(`machine: ${meta.cpus} x ${meta.cpuModel}, ${meta.memoryGiB} GiB, shared; load avg before ${meta.loadBefore.join(" ")}, after ${loadAfter.join(" ")}; bun ${meta.bun}`);
  say(`load generator: wrk ${wrk.version}, ${cfg.threads} threads, ${cfg.connections} keep-alive connections on loopback, bench/wrk/post.lua`);
  say(`phases: ${cfg.warmup} s warm-up + ${cfg.seconds} s measured; each Inlet phase on a fresh database; same bodies and connections for baseline and track`);
  say(`bodies: ${n0(bodies.distinct.visitors)} visitors, ${bodies.distinct.userAgents} user agents, ${bodies.distinct.ips} IPs; track body ${bodies.trackBytes.min}-${bodies.trackBytes.max} B (mean ${bodies.trackBytes.mean})`);
  say();
  say(phaseTable(rows));
  say();
  say(`Compared phases run ${cfg.rounds} rounds of ${f1(cfg.seconds / cfg.rounds)} s: bare Bun.serve, then Inlet, then again; rates are over all rounds,`);
  say(`  p50 the median round's, p99/p99.9 the worst round's. The ratio's range over rounds shows how noisy the machine was.`);
  say(`CPU columns: share of one core during the phase (100% = one core busy; ${meta.cpus} cores in all) used by the server process,`);
  say(`  by wrk, by every other process on this shared machine; and idle. wrk counts a status >= 400 as non-2xx.`);
  say();
  say(verdictTable(verdicts));
  say();
  say("2xx means stored (events counted in SQLite after a graceful stop):");
  for (const c of checks) {
    const extra = c.stored - c.acknowledged;
    say(`  ${c.ok ? "ok  " : "FAIL"} ${c.phase}: ${n0(c.stored)} ${c.type} events stored, ${n0(c.acknowledged)} acknowledged` +
      (extra > 0 ? ` (+${n0(extra)} sent before wrk stopped; bound ${n0(c.inFlightBound)})` : extra < 0 ? ` (${n0(-extra)} ACKNOWLEDGED BUT NOT STORED)` : ""));
  }
  say();
  say("server memory at the end of each phase (VmRSS / peak VmHWM): " + Object.entries(memory).map(([k, m]) => `${k} ${f1(m.rss)} / ${f1(m.peak)} MiB`).join("; "));
  if (compared.length) say(generatorNote(combine(compared.map((c) => c.base)), trackLoad, meta.cpus));
  for (const note of notes) say(`note: ${note}`);

  mkdirSync(RESULTS, { recursive: true });
  await Bun.write(join(RESULTS, "latest.json"), JSON.stringify({ meta: { ...meta, loadAfter, bodies: { distinct: bodies.distinct, trackBytes: bodies.trackBytes } }, results, verdicts, checks, memory, notes }, null, 2) + "\n");
  say(`\nresults: bench/results/latest.json${cfg.profile ? "; CPU profile: bench/results/profile/" : ""}`);
  if (checks.some((c) => !c.ok)) {
    process.stderr.write("bench: the stored count does not match the acknowledged count (see above)\n");
    failed = true;
  }
  if (failed) process.exitCode = 1;
}

function machine() {
  const git = (args: string[]) => Bun.spawnSync(["git", ...args], { cwd: ROOT }).stdout.toString().trim();
  return {
    date: new Date().toISOString(),
    commit: git(["rev-parse", "--short", "HEAD"]) || "?",
    uncommitted: git(["status", "--porcelain", "--", "src", "drizzle"]).split("\n").filter(Boolean).length,
    bun: Bun.version,
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model ?? "?",
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    loadBefore: loadavg().map((x) => Number(x.toFixed(2))),
  };
}

/** Runs bench/storage-limit.ts in its own process (fresh heap; nothing else of the bench running). */
function storageLimit(source: string, target: string, seconds: number, flags: string[] = []): { rows: number; seconds: number; rowsPerSecond: number; cpu: number } {
  const out = Bun.spawnSync(["bun", "run", join(ROOT, "bench", "storage-limit.ts"), source, target, String(seconds), String(BATCH_SIZE), ...flags], { cwd: ROOT });
  if (out.exitCode !== 0) throw new Error(`storage limit failed:\n${out.stderr.toString()}`);
  return JSON.parse(out.stdout.toString());
}

/** Says, from the CPU figures, whether wrk could have been the limit. */
function generatorNote(bare: LoadResult, track: LoadResult | undefined, cores: number): string {
  const lines = [
    `generator: during the baseline wrk used ${pct(bare.cpu.wrk)} of a core, the bare server ${pct(bare.cpu.server)}, other processes ${pct(bare.cpu.others)},`,
    `  idle ${pct(bare.cpu.idle)} of ${cores} cores. Generator, server and the kernel's loopback TCP share this machine, so the bare rate is`,
    `  the ceiling this machine reaches with wrk on it, not the bare server's own (with the client on another machine it would be higher,`,
    `  and every ratio to it lower).`,
  ];
  if (track) {
    const why =
      track.cpu.server >= 0.9
        ? "Inlet's own CPU was the limit"
        : track.cpu.idle >= 0.15
          ? `less than a core while ${pct(track.cpu.idle)} of one stood idle, so its event loop was waiting (I/O), not computing`
          : `other processes took ${pct(track.cpu.others)} of a core from it`;
    lines.push(`  during track, wrk used ${pct(track.cpu.wrk)} of a core, so it was not the limit there; Inlet used ${pct(track.cpu.server)}: ${why}.`);
  }
  return lines.join("\n");
}

// Any failure: the exit hook kills the children and removes the temp dir.
main().catch((error) => {
  process.stderr.write(`bench: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
