/**
 * `bun run bench`: Inlet's benchmark, every figure beside its baseline from the same run.
 * docs/performance.md says what each phase measures and how to read the table.
 *
 * Environment: BENCH_SECONDS (10) per measured phase, BENCH_WARMUP (3), BENCH_CONNECTIONS (50),
 * BENCH_THREADS (2, wrk threads), BENCH_ROUNDS (5: track and baseline alternate in 5 slices each),
 * BENCH_MILLION=1 (also 1M track events, then RSS), BENCH_ONLY=track,info,batch,identify (a subset; add
 * `debugger` for track with the live debugger's stream open, compared with track alone;
 * the baseline always runs; `erase` and `retention` are opt-in: BENCH_ERASE_EVENTS (100000),
 * BENCH_RETENTION_EVENTS (1000000), see bench/lib/privacy.ts), BENCH_PROFILE=1 (CPU profile of each Inlet server into
 * bench/results/profile/<phase>/), BENCH_KEEP=1 (keep the temp dir), BENCH_STEPS=0 (no step-by-step CPU table).
 * `--store postgres`: Inlet on PostgreSQL instead (bench/postgres.ts).
 */
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { cpus, loadavg, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import { writeBodyFiles, type BodyFiles } from "./lib/bodies";
import { killChildrenOnExit, sleep } from "./lib/proc";
import { f1, f2, n0, pct, phaseTable, verdictTable, type PhaseRow, type Verdict } from "./lib/report";
import { ROOT, startFloor, startInlet, storedEvents, type InletServer, type RunningServer } from "./lib/servers";
import { alternate, combine, findWrk, runLoad, type LoadResult } from "./lib/wrk";
import { stepProfile, stepSnapshot, stepTable, type StepProfile } from "./lib/steps";
import { erasePhase, retentionPhase } from "./lib/privacy";

const env = process.env;
const cfg = {
  seconds: Number(env.BENCH_SECONDS ?? 10),
  warmup: Number(env.BENCH_WARMUP ?? 3),
  connections: Number(env.BENCH_CONNECTIONS ?? 50),
  threads: Number(env.BENCH_THREADS ?? 2),
  rounds: Math.max(1, Number(env.BENCH_ROUNDS ?? 5)),
  million: env.BENCH_MILLION === "1",
  eraseEvents: Number(env.BENCH_ERASE_EVENTS ?? 100_000),
  retentionEvents: Number(env.BENCH_RETENTION_EVENTS ?? 1_000_000),
  only: (env.BENCH_ONLY ?? "track,info,batch,identify").split(",").map((s) => s.trim()),
  profile: env.BENCH_PROFILE === "1",
  bunFlags: (env.BENCH_BUN_FLAGS ?? "").split(" ").filter(Boolean),
  steps: env.BENCH_STEPS !== "0",
  keep: env.BENCH_KEEP === "1",
};
const RESULTS = join(ROOT, "bench", "results");
const BATCH_SIZE = 100;

const say = (text = "") => process.stdout.write(text + "\n");
const step = (text: string) => process.stderr.write(`· ${text}\n`);

/** What one run sets up once: wrk, the temp dir, the bodies, and the baseline (up for the track phases). */
interface Run {
  wrk: { path: string; version: string };
  dir: string;
  bodies: BodyFiles;
  track: { path: string; data: string };
  baseline: RunningServer;
}

// What the report collects.
const rows: PhaseRow[] = [];
const checks: StoredCheck[] = [];
const verdicts: Verdict[] = [];
const memory: Record<string, { rss: number; peak: number }> = {};
const notes: string[] = [];
const results: Record<string, unknown> = {};
const compared: LoadResult[] = [];
/** Step-by-step CPU per request of each Inlet phase (INLET_STEP_TIMES on the server). */
const profiles: [string, StepProfile][] = [];
let trackLoad: LoadResult | undefined;
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
  /** With `steps`: where the measured requests' CPU went. */
  profile?: StepProfile;
}

/**
 * Warm-up, then the measured load. With `against` (the baseline), the measured time is cut into
 * BENCH_ROUNDS slices that alternate between the baseline and the server.
 */
async function drive(
  run: Run,
  server: RunningServer,
  o: { path: string; data: string; tag: string; writeKey: string; batch?: number; steps?: boolean },
  against?: RunningServer,
): Promise<Driven> {
  const load = (target: RunningServer, tag: string, seconds: number) =>
    runLoad(run.wrk.path, {
      server: target,
      path: o.path,
      data: o.data,
      connections: cfg.connections,
      threads: cfg.threads,
      writeKey: o.writeKey,
      batch: o.batch,
      tag,
      seconds,
    });
  let acknowledged = 0;
  let runs = 0;
  if (cfg.warmup > 0) {
    step(`${server.name}: warm-up ${cfg.warmup} s`);
    acknowledged += (await load(server, `${o.tag}w`, cfg.warmup)).ok;
    runs++;
  }
  const before = o.steps ? await stepSnapshot(server) : undefined;
  const profile = async () => (before ? stepProfile(before, await stepSnapshot(server), o.batch || 1) : undefined);
  if (!against) {
    step(`${server.name}: measuring ${cfg.seconds} s`);
    const measured = await load(server, o.tag, cfg.seconds);
    return { load: measured, acknowledged: acknowledged + measured.ok, runs: runs + 1, profile: await profile() };
  }
  const slice = cfg.seconds / cfg.rounds;
  step(`${server.name}: measuring ${cfg.rounds} x ${slice} s, alternating with ${against.name}`);
  const { slices, ratios } = await alternate([against, server], cfg.rounds, (target, round, i) => load(target, `${o.tag}${i === 0 ? "b" : ""}${round}`, slice));
  for (const s of slices[1]!) acknowledged += s.ok;
  return { load: combine(slices[1]!), base: combine(slices[0]!), ratios: ratios[1], acknowledged, runs: runs + cfg.rounds, profile: await profile() };
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
 * What the server's /metrics says about the phase (warm-up included): cache hit rates (every
 * `...hits...{labels} n` / `...misses...{labels} n` pair) and the mean group commit.
 */
async function serverMetrics(server: RunningServer): Promise<string | null> {
  const response = await fetch(`${server.url}/metrics`).catch(() => null);
  if (response?.status !== 200) return null;
  const text = await response.text();
  const counts = new Map<string, { hits: number; misses: number }>();
  for (const m of text.matchAll(/^\w*?(hits|misses)\w*\{([^}]*)\}\s+([\d.e+]+)$/gm)) {
    const key = m[2]!.replace(/\w+="([^"]*)"/g, "$1");
    const entry = counts.get(key) ?? { hits: 0, misses: 0 };
    entry[m[1] as "hits" | "misses"] += Number(m[3]);
    counts.set(key, entry);
  }
  const value = (name: string) => Number(new RegExp(`^${name}\\s+([\\d.e+]+)$`, "m").exec(text)?.[1] ?? NaN);
  const parts: string[] = [];
  if (counts.size)
    parts.push(
      "cache hit rates " +
        [...counts].map(([key, c]) => `${key} ${((100 * c.hits) / Math.max(1, c.hits + c.misses)).toFixed(1)}% (${n0(c.misses)} misses)`).join(", "),
    );
  const commits = value("inlet_group_commit_size_count");
  if (commits > 0) {
    const ms = (1000 * value("inlet_group_commit_duration_seconds_sum")) / commits;
    parts.push(`${n0(commits)} group commits of ${f1(value("inlet_group_commit_size_sum") / commits)} requests and ${f2(ms)} ms on average`);
  }
  return parts.length ? parts.join("; ") : null;
}

/** One request to find out whether an endpoint answers: anything but 200 skips the phase, with a note. */
async function probe(server: InletServer, path: string, body: unknown): Promise<string | null> {
  const response = await fetch(`${server.url}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${server.writeKey}` },
    body: JSON.stringify(body),
  });
  const text = await response.text();
  return response.status === 200 ? null : `the probe of POST ${path} got ${response.status} ${text.slice(0, 300)}; skipped`;
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
  /** A body to probe the endpoint with first (it stores one event). */
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
 * every acknowledged event was stored. Returns null when the probe failed.
 */
async function inletPhase(run: Run, o: InletPhase): Promise<(Driven & { server: InletServer }) | null> {
  const bunFlags = [...cfg.bunFlags, ...(cfg.profile ? ["--cpu-prof", "--cpu-prof-md", `--cpu-prof-dir=${join(RESULTS, "profile", o.name)}`] : [])];
  const server = await startInlet(run.dir, o.name, { ...o.server, bunFlags, stepTimes: cfg.steps });
  let measured: Driven;
  try {
    if (o.probe !== undefined) {
      const skipped = await probe(server, o.path, o.probe);
      if (skipped) return (void notes.push(`${o.name}: ${skipped}`), null);
    }
    const unwatch = o.watch ? watchDebugger(server) : () => {};
    try {
      measured = await drive(
        run,
        server,
        { path: o.path, data: o.data, tag: o.tag, writeKey: server.writeKey, batch: o.batch, steps: cfg.steps },
        o.compare ? run.baseline : undefined,
      );
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
  if (measured.profile) profiles.push([o.name, measured.profile]);
  if (measured.base) rows.push({ name: "bare Bun.serve, alternating with:", load: measured.base });
  rows.push({ name: o.label, load: measured.load, perRequest });
  return { ...measured, server };
}

/** Track alternating with the baseline: LOG_LEVEL=warn (no line per request), or info (the default) with stdout to /dev/null. */
async function trackPhase(run: Run, info: boolean): Promise<void> {
  const name = info ? "track-info" : "track";
  const label = info ? "track  (LOG_LEVEL=info, >/dev/null)" : "track  (LOG_LEVEL=warn)";
  const server = info ? { logLevel: "info", discardStdout: true } : { logLevel: "warn" };
  const done = await inletPhase(run, { name, label, server, ...run.track, tag: info ? "i" : "t", type: "track", compare: true });
  if (!done) return;
  compared.push(done.base!);
  const ratio = done.load.rps / done.base!.rps;
  const range = `${f2(Math.min(...done.ratios!))}-${f2(Math.max(...done.ratios!))}`;
  verdicts.push({
    what: info ? "track, LOG_LEVEL=info / bare" : "track / bare Bun.serve (req/s)",
    value: `${f2(ratio)} (rounds ${range})`,
    // Context for the floor below: no server of Inlet's shape reaches the bare rate.
    target: "-",
    met: null,
  });
  results[info ? "trackInfo" : "track"] = { load: done.load, baseline: done.base, ratios: done.ratios };
  if (info) {
    infoCost(ratio);
    return;
  }
  trackLoad = done.load;
  verdicts.push({
    what: "track p99 latency, 50 connections",
    value: `${f1(done.load.latencyMs.p99)} ms`,
    target: "< 20 ms",
    met: done.load.latencyMs.p99 < 20,
  });
  verdicts.push({ what: "track non-2xx", value: n0(done.load.non2xx), target: "0", met: done.load.non2xx === 0 });
}

/**
 * The floor: bench/floor-server.ts with Elysia, Inlet's track schema, its enrichment and one
 * deduplicated row committed before the answer (the least a server of Inlet's shape does per
 * track call), alternating with the baseline like track. Track ÷ floor is each one's rate ÷ the
 * baseline's in its own alternation.
 */
async function floorPhase(run: Run): Promise<void> {
  const floor = await startFloor(run.dir, ["--elysia", "--enrich", "--store=main"]);
  try {
    const done = await drive(run, floor, { ...run.track, tag: "f", writeKey: "none" }, run.baseline);
    compared.push(done.base!);
    rows.push({ name: "floor: Elysia + enrichment + storage", load: done.load });
    const floorRatio = done.load.rps / done.base!.rps;
    results.floor = { load: done.load, baseline: done.base, ratios: done.ratios };
    const track = results.track as { load: LoadResult; baseline: LoadResult } | undefined;
    if (!track) return;
    const trackRatio = track.load.rps / track.baseline.rps;
    verdicts.push({
      what: "track / the floor (each / bare in its rounds)",
      value: `${f2(trackRatio / floorRatio)} (${f2(trackRatio)} / ${f2(floorRatio)})`,
      target: ">= 0.8",
      met: trackRatio / floorRatio >= 0.8,
    });
  } finally {
    await floor.stop();
  }
}

/** What the default LOG_LEVEL=info costs over warn: the rate (each ÷ its own baseline) and, when profiled, the process's CPU per request. */
function infoCost(infoRatio: number): void {
  const warn = results.track as { load: LoadResult; baseline: LoadResult } | undefined;
  if (!warn) return;
  const slower = warn.load.rps / warn.baseline.rps / infoRatio;
  verdicts.push({ what: "track rate, LOG_LEVEL=warn / info (each / its baseline)", value: f2(slower), target: "<= 1.05", met: slower <= 1.05 });
  const cpu = (name: string) => profiles.find(([phase]) => phase === name)?.[1].cpu;
  const [infoCpu, warnCpu] = [cpu("track-info"), cpu("track")];
  if (infoCpu === undefined || warnCpu === undefined) return;
  verdicts.push({
    what: "track CPU per request, LOG_LEVEL=info / warn",
    value: `${f2(infoCpu / warnCpu)} (${f1(infoCpu)} / ${f1(warnCpu)} µs)`,
    target: "<= 1.05",
    met: infoCpu / warnCpu <= 1.05,
  });
}

/** Track with the live debugger's stream open: recording each call in the ring and sending it to a watcher should cost next to nothing. */
async function debuggerPhase(run: Run): Promise<void> {
  const label = "track  (LOG_LEVEL=warn, debugger open)";
  const done = await inletPhase(run, {
    name: "track-debugger",
    label,
    server: { logLevel: "warn" },
    ...run.track,
    tag: "d",
    type: "track",
    compare: true,
    watch: true,
  });
  if (!done) return;
  compared.push(done.base!);
  const ratio = done.load.rps / done.base!.rps;
  const range = `${f2(Math.min(...done.ratios!))}-${f2(Math.max(...done.ratios!))}`;
  verdicts.push({ what: "track with /debugger open / bare Bun.serve (req/s)", value: `${f2(ratio)} (rounds ${range})`, target: ">= 0.5", met: ratio >= 0.5 });
  if (trackLoad) {
    const alone = done.load.rps / trackLoad.rps;
    verdicts.push({ what: "track with /debugger open / track alone (req/s)", value: f2(alone), target: ">= 0.95", met: alone >= 0.95 });
  }
  results.trackDebugger = { load: done.load, baseline: done.base, ratios: done.ratios };
}

/** Batches of 100 track events, beside the storage limit (bare bun:sqlite, the same rows). */
async function batchPhase(run: Run): Promise<void> {
  const item = JSON.parse((await Bun.file(run.bodies.batch).text()).split("\n", 1)[0]!.split("\t")[1]!.replace("{{MID}}", "probe-batch-1"));
  const done = await inletPhase(run, {
    name: "batch",
    label: `batch of ${BATCH_SIZE} track events`,
    path: "/v1/events/batch",
    data: run.bodies.batch,
    tag: "B",
    type: "track",
    batch: BATCH_SIZE,
    probe: { batch: [item], sentAt: new Date().toISOString() },
  });
  if (!done) return;
  // With the server's indexes; then, for context only, without the exact-dedupe index, and with none.
  const limits: Record<string, { rowsPerSecond: number; cpu: number }> = {};
  for (const [indexes, label] of [
    ["all", ""],
    ["no-dedupe", "no messageId index"],
    ["none", "no index at all"],
  ] as const) {
    step(`storage limit${label && `, ${label} (context)`}: bare bun:sqlite INSERT, ${cfg.seconds} s`);
    const limit = (limits[indexes] = storageLimit(done.server.db, join(run.dir, `storage-limit-${indexes}.db`), cfg.seconds, indexes));
    rows.push({
      name: label ? `  same, ${label} (context)` : `storage limit: bun:sqlite INSERT, ${BATCH_SIZE}/tx`,
      eventsPerSecond: limit.rowsPerSecond,
      cpu: limit.cpu,
    });
  }
  const { all, "no-dedupe": noDedupe, none } = limits;
  notes.push(
    `storage: bare bun:sqlite stores these rows at ${n0(all!.rowsPerSecond)}/s with the server's indexes, ${n0(noDedupe!.rowsPerSecond)}/s without the unique (tenant, messageId) index, ${n0(none!.rowsPerSecond)}/s with no index at all`,
  );
  const events = (done.load.ok * BATCH_SIZE) / done.load.seconds;
  verdicts.push({ what: "batch events/s", value: n0(events), target: ">= 150,000", met: events >= 150_000 });
  verdicts.push({ what: "batch / storage limit", value: f2(events / all!.rowsPerSecond), target: ">= 0.7", met: events / all!.rowsPerSecond >= 0.7 });
  const rss = memory.batch?.rss ?? Number.NaN;
  verdicts.push({ what: "RSS at the end of the batch phase", value: `${f1(rss)} MiB`, target: "< 200 MiB", met: rss < 200 });
  results.batch = { ...done.load, eventsPerSecond: events };
  results.storageLimit = limits;
}

/** Identify: new users, returning users, anonymous visitors leaving an email. */
async function identifyPhase(run: Run): Promise<void> {
  const done = await inletPhase(run, {
    name: "identify",
    label: "identify (30% new, 50% returning, 20% anon.)",
    path: "/v1/events/identify",
    data: run.bodies.identify,
    tag: "I",
    type: "identify",
    probe: { userId: "probe-user", traits: { email: "probe@mail.example.net" }, messageId: "probe-identify-1" },
  });
  if (!done) return;
  verdicts.push({ what: "identify req/s, 50 connections", value: n0(done.load.rps), target: ">= 8,000", met: done.load.rps >= 8_000 });
  verdicts.push({ what: "identify non-2xx", value: n0(done.load.non2xx), target: "0", met: done.load.non2xx === 0 });
  results.identify = done.load;
}

/** One million track events into one server, then its RSS: as the load stops (the verdict), along the way, and 5 s later. */
async function millionPhase(run: Run): Promise<void> {
  let acknowledged = 0;
  let runs = 0;
  const rss: { acknowledged: number; rss: number }[] = [];
  let idleRss = NaN;
  const started = performance.now();
  const server = await startInlet(run.dir, "million", { bunFlags: cfg.bunFlags });
  try {
    while (acknowledged < 1_000_000) {
      const seconds = Math.max(10, Math.min(60, Math.ceil((1_000_000 - acknowledged) / Math.max(1000, trackLoad?.rps ?? 5000))));
      step(`million: ${n0(acknowledged)} acknowledged so far; ${seconds} s more`);
      const load = await runLoad(run.wrk.path, {
        server,
        ...run.track,
        tag: `m${runs}`,
        seconds,
        connections: cfg.connections,
        threads: cfg.threads,
        writeKey: server.writeKey,
      });
      acknowledged += load.ok;
      runs++;
      rss.push({ acknowledged, rss: Math.round(server.memory().rss) });
    }
    memory.million = server.memory();
    await sleep(5_000);
    idleRss = server.memory().rss;
  } finally {
    await server.stop();
  }
  const elapsed = (performance.now() - started) / 1000;
  checkStored("1M track", server, "track", acknowledged, runs * cfg.connections);
  const end = memory.million!.rss;
  verdicts.push({ what: `RSS after ${n0(acknowledged)} track events`, value: `${f1(end)} MiB`, target: "< 150 MiB", met: end < 150 });
  notes.push(
    `million: RSS (MiB) by events acknowledged: ${rss.map((r) => `${n0(r.acknowledged)}: ${r.rss}`).join(", ")}; 5 s after the load stopped: ${f1(idleRss)}`,
  );
  results.million = { acknowledged, seconds: elapsed, rps: acknowledged / elapsed, memory: memory.million, rss, idleRss };
}

/** Opt-in: erase a person with many events while track runs at full speed. */
async function erasePrivacyPhase(run: Run): Promise<void> {
  const done = await erasePhase(
    run.dir,
    { path: run.wrk.path, track: run.track, connections: cfg.connections, threads: cfg.threads, warmup: cfg.warmup },
    cfg.eraseEvents,
    step,
  );
  rows.push({ name: "track alone, same server, 1-s slices", load: done.alone });
  rows.push({ name: `track while erasing a person of ${n0(done.events)} events`, load: done.track });
  // The person's events are all gone: every track event stored is one of wrk's.
  checkStored("erase", done.server, "track", done.acknowledged, done.runs * cfg.connections);
  verdicts.push({
    what: `erasure of a person with ${n0(done.events)} events`,
    value: `${f1(done.deletionSeconds)} s (${n0(done.deleted.events!)} deleted)`,
    target: "all deleted",
    met: done.deleted.events === done.events,
  });
  verdicts.push({
    what: "track p99 during the erasure",
    value: `${f1(done.track.latencyMs.p99)} ms (${f2(done.track.latencyMs.p99 / done.alone.latencyMs.p99)} x alone)`,
    target: "< 50 ms",
    met: done.track.latencyMs.p99 < 50,
  });
  verdicts.push({ what: "track non-2xx during the erasure", value: n0(done.track.non2xx), target: "0", met: done.track.non2xx === 0 });
  const { server: _server, ...result } = done;
  results.erase = result;
}

/** Opt-in: retention of old events (the command line's run, on the stopped server's file). */
async function retentionPrivacyPhase(run: Run): Promise<void> {
  const done = await retentionPhase(run.dir, cfg.retentionEvents, step);
  const mib = (bytes: number) => `${f1(bytes / 2 ** 20)} MiB`;
  verdicts.push({
    what: `retention of ${n0(done.events)} old events`,
    value: `${n0(done.rowsPerSecond)} events/s (${f1(done.seconds)} s)`,
    target: "all deleted",
    met: done.deleted.events === done.events,
  });
  notes.push(
    `retention: deleted ${JSON.stringify(done.deleted)} in ${f1(done.seconds)} s; file ${mib(done.bytesBefore)} before, ${mib(done.bytesAfter)} after (${n0(done.pagesFreed)} pages given back)`,
  );
  results.retention = done;
}

async function setUp(): Promise<Run> {
  const wrk = findWrk();
  const dir = mkdtempSync(join(tmpdir(), "inlet-bench-"));
  killChildrenOnExit(() => {
    if (!cfg.keep) rmSync(dir, { recursive: true, force: true });
  });
  step(`temp dir ${dir}; generating bodies`);
  const bodies = await writeBodyFiles(dir);
  const track = { path: "/v1/events/track", data: bodies.track };
  const baseline = await startFloor(dir);
  if (cfg.warmup > 0) {
    step(`baseline: warm-up ${cfg.warmup} s`);
    await runLoad(wrk.path, {
      server: baseline,
      ...track,
      tag: "bw",
      seconds: cfg.warmup,
      connections: cfg.connections,
      threads: cfg.threads,
      writeKey: "none",
    });
  }
  return { wrk, dir, bodies, track, baseline };
}

async function main() {
  const meta = { ...machine(), ...cfg };
  const run = await setUp();
  if (cfg.only.includes("track")) await phase("track", () => trackPhase(run, false));
  if (cfg.only.includes("info")) await phase("track (info)", () => trackPhase(run, true));
  if (cfg.only.includes("debugger")) await phase("track (debugger)", () => debuggerPhase(run));
  if (cfg.only.includes("track")) await phase("floor", () => floorPhase(run));
  await run.baseline.stop();
  if (cfg.only.includes("batch")) await phase("batch", () => batchPhase(run));
  if (cfg.only.includes("identify")) await phase("identify", () => identifyPhase(run));
  if (cfg.million) await phase("million", () => millionPhase(run));
  else verdicts.push({ what: "RSS after 1M track events", value: "BENCH_MILLION=1", target: "< 150 MiB", met: null });
  if (cfg.only.includes("erase")) await phase("erase", () => erasePrivacyPhase(run));
  if (cfg.only.includes("retention")) await phase("retention", () => retentionPrivacyPhase(run));
  await report(run, meta);
  if (checks.some((c) => !c.ok)) {
    process.stderr.write("bench: the stored count does not match the acknowledged count (see above)\n");
    failed = true;
  }
  if (failed) process.exitCode = 1;
}

async function report(run: Run, meta: ReturnType<typeof machine> & typeof cfg): Promise<void> {
  const { bodies, wrk } = run;
  const loadAfter = loadavg().map((x) => Number(x.toFixed(2)));
  say();
  say(`Inlet benchmark  ${meta.date}  commit ${meta.commit}${meta.uncommitted ? ` + ${meta.uncommitted} uncommitted file(s) in src/, drizzle/` : ""}`);
  say(
    `machine: ${meta.cpus} x ${meta.cpuModel}, ${meta.memoryGiB} GiB, shared; load avg before ${meta.loadBefore.join(" ")}, after ${loadAfter.join(" ")}; bun ${meta.bun}`,
  );
  say(`load generator: wrk ${wrk.version}, ${cfg.threads} threads, ${cfg.connections} keep-alive connections on loopback, bench/wrk/post.lua`);
  say(`phases: ${cfg.warmup} s warm-up + ${cfg.seconds} s measured; each Inlet phase on a fresh database; same bodies and connections for baseline and track`);
  say(
    `bodies: ${n0(bodies.distinct.visitors)} visitors, ${bodies.distinct.userAgents} user agents, ${bodies.distinct.ips} IPs; track body ${bodies.trackBytes.min}-${bodies.trackBytes.max} B (mean ${bodies.trackBytes.mean})`,
  );
  say();
  say(phaseTable(rows));
  say();
  say(`Compared phases run ${cfg.rounds} rounds of ${f1(cfg.seconds / cfg.rounds)} s: bare Bun.serve, then Inlet, then again; rates are over all rounds,`);
  say(`  p50 the median round's, p99/p99.9 the worst round's. The ratio's range over rounds shows how noisy the machine was.`);
  say(`CPU columns: share of one core during the phase (100% = one core busy; ${meta.cpus} cores in all) used by the server process,`);
  say(`  by wrk, by every other process on this shared machine; and idle. wrk counts a status >= 400 as non-2xx.`);
  say();
  if (profiles.length) {
    say("Where a request's CPU goes (INLET_STEP_TIMES=1; per measured request, each step's synchronous work in wall time, over 2 ms at");
    say("  once counted as a stall; the rest is the main thread's CPU time outside the steps: Elysia's routing, hooks and response, sockets, GC):");
    say(stepTable(profiles));
    say();
  }
  say(verdictTable(verdicts));
  say();
  say("2xx means stored (events counted in SQLite after a graceful stop):");
  for (const c of checks) {
    const extra = c.stored - c.acknowledged;
    const detail =
      extra > 0 ? ` (+${n0(extra)} sent before wrk stopped; bound ${n0(c.inFlightBound)})` : extra < 0 ? ` (${n0(-extra)} ACKNOWLEDGED BUT NOT STORED)` : "";
    say(`  ${c.ok ? "ok  " : "FAIL"} ${c.phase}: ${n0(c.stored)} ${c.type} events stored, ${n0(c.acknowledged)} acknowledged${detail}`);
  }
  say();
  say(
    "server memory at the end of each phase (VmRSS / peak VmHWM): " +
      Object.entries(memory)
        .map(([k, m]) => `${k} ${f1(m.rss)} / ${f1(m.peak)} MiB`)
        .join("; "),
  );
  if (compared.length) say(generatorNote(combine(compared), trackLoad, meta.cpus));
  for (const note of notes) say(`note: ${note}`);

  mkdirSync(RESULTS, { recursive: true });
  const summary = {
    meta: { ...meta, wrk: wrk.version, loadAfter, bodies: { distinct: bodies.distinct, trackBytes: bodies.trackBytes } },
    results,
    verdicts,
    checks,
    memory,
    notes,
    steps: Object.fromEntries(profiles),
  };
  await Bun.write(join(RESULTS, "latest.json"), JSON.stringify(summary, null, 2) + "\n");
  say(`\nresults: bench/results/latest.json${cfg.profile ? "; CPU profile: bench/results/profile/" : ""}`);
}

function machine() {
  const git = (args: string[]) =>
    Bun.spawnSync(["git", ...args], { cwd: ROOT })
      .stdout.toString()
      .trim();
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
function storageLimit(source: string, target: string, seconds: number, indexes: string): { rows: number; seconds: number; rowsPerSecond: number; cpu: number } {
  const out = Bun.spawnSync(
    ["bun", "run", join(ROOT, "bench", "storage-limit.ts"), source, target, String(seconds), String(BATCH_SIZE), `--indexes=${indexes}`],
    { cwd: ROOT },
  );
  if (out.exitCode !== 0) throw new Error(`storage limit failed:\n${out.stderr.toString()}`);
  return JSON.parse(out.stdout.toString());
}

/** Says, from the CPU figures, whether wrk could have been the limit. */
function generatorNote(bare: LoadResult, track: LoadResult | undefined, cores: number): string {
  let note =
    `generator: during the baseline wrk used ${pct(bare.cpu.wrk)} of a core, the bare server ${pct(bare.cpu.server)}, other processes ${pct(bare.cpu.others)}, idle ${pct(bare.cpu.idle)} of ${cores} cores:\n` +
    `  the bare rate is the ceiling this machine reaches with wrk on it (with the client on another machine it would be higher, every ratio lower).`;
  if (track) {
    const why =
      track.cpu.server >= 0.9
        ? "its own CPU was the limit"
        : track.cpu.idle >= 0.15
          ? `${pct(track.cpu.idle)} of a core stood idle, so it was waiting (I/O)`
          : `other processes took ${pct(track.cpu.others)} of a core`;
    note += `\n  during track, wrk used ${pct(track.cpu.wrk)} of a core, so it was not the limit there; Inlet used ${pct(track.cpu.server)}: ${why}.`;
  }
  return note;
}

// Any failure: the exit hook kills the children and removes the temp dir.
const store = process.argv.indexOf("--store");
const which = store >= 0 ? process.argv[store + 1] : "sqlite";
if (which !== "sqlite" && which !== "postgres") throw new Error(`--store takes sqlite or postgres, not ${which}`);
(which === "postgres" ? import("./postgres").then((m) => m.benchPostgres()) : main()).catch((error) => {
  process.stderr.write(`bench: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
