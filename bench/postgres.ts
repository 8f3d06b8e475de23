/**
 * `bun run bench --store postgres`: Inlet on PostgreSQL, beside what PostgreSQL itself can take.
 * Uses the local server (PG_BENCH_URL, default postgres://postgres@127.0.0.1:5432/postgres): it
 * creates a database of its own and drops it at the end. Every figure is beside a baseline from
 * the same run:
 * - the storage limit: the same event rows inserted straight from Bun, 100 per multi-row
 *   INSERT ... ON CONFLICT DO NOTHING, on 2 connections (what any writer on this machine can reach);
 * - track on SQLite (one instance), for track on PostgreSQL;
 * then track and batch on one PostgreSQL instance and on two behind the same load (split between
 * them), each with its CPU per event in Inlet and in PostgreSQL, and every acknowledged event
 * counted in the database. Environment: BENCH_SECONDS (10), BENCH_CONNECTIONS (50), BENCH_THREADS (2).
 */
import { SQL } from "bun";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { writeBodyFiles } from "./lib/bodies";
import { killChildrenOnExit } from "./lib/proc";
import { f1, f2, n0, table } from "./lib/report";
import { startInlet, type InletServer } from "./lib/servers";
import { findWrk, runLoad, type LoadResult } from "./lib/wrk";

const env = process.env;
const seconds = Number(env.BENCH_SECONDS ?? 10);
const connections = Number(env.BENCH_CONNECTIONS ?? 50);
const threads = Number(env.BENCH_THREADS ?? 2);
const BATCH = 100;
const admin = env.PG_BENCH_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";
const say = (text = "") => process.stdout.write(`${text}\n`);
const step = (text: string) => process.stderr.write(`· ${text}\n`);

/** CPU seconds used so far by every PostgreSQL process on the machine (backends, WAL writer, checkpointer...). */
function postgresCpuSeconds(): number {
  let total = 0;
  for (const pid of readdirSync("/proc")) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      if (!stat.includes("(postgres)")) continue;
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      total += (Number(fields[11]) + Number(fields[12])) / 100;
    } catch {
      // the process ended
    }
  }
  return total;
}

interface Measured {
  name: string;
  events: number;
  eventsPerSecond: number;
  p99: number;
  non2xx: number;
  inletUsPerEvent: number;
  postgresUsPerEvent: number;
}

const measured: Measured[] = [];

/** Runs the load against the servers at once (connections split between them); events acknowledged, per second, and CPU per event. */
async function load(name: string, servers: InletServer[], data: string, path: string, tag: string, batch: number): Promise<Measured> {
  step(`${name}: ${seconds} s`);
  const inlet0 = servers.reduce((sum, s) => sum + s.cpuSeconds(), 0);
  const pg0 = postgresCpuSeconds();
  const results: LoadResult[] = await Promise.all(
    servers.map((server, i) =>
      runLoad(findWrk().path, {
        server,
        path,
        data,
        tag: `${tag}${i}`,
        seconds,
        connections: Math.max(1, Math.floor(connections / servers.length)),
        threads: Math.max(1, Math.floor(threads / servers.length)),
        writeKey: server.writeKey,
        batch,
      }),
    ),
  );
  const inlet = servers.reduce((sum, s) => sum + s.cpuSeconds(), 0) - inlet0;
  const pg = postgresCpuSeconds() - pg0;
  const events = results.reduce((sum, r) => sum + r.ok * Math.max(1, batch), 0);
  const wall = Math.max(...results.map((r) => r.seconds));
  const m = {
    name,
    events,
    eventsPerSecond: events / wall,
    p99: Math.max(...results.map((r) => r.latencyMs.p99)),
    non2xx: results.reduce((sum, r) => sum + r.non2xx, 0),
    inletUsPerEvent: (inlet * 1e6) / events,
    postgresUsPerEvent: (pg * 1e6) / events,
  };
  measured.push(m);
  return m;
}

/** The storage limit: Inlet's own stored rows inserted again (fresh messageIds) from Bun, 100 per statement, 2 connections. */
async function storageLimit(url: string): Promise<Measured> {
  step(`storage limit: ${seconds} s`);
  const sql = new SQL({ url, max: 2 });
  await sql`CREATE TABLE events_limit (LIKE events INCLUDING ALL)`;
  const sample = await sql`SELECT * FROM events ORDER BY id LIMIT 20000`;
  const rows = sample.map(({ id: _id, ...row }: Record<string, unknown>) => row);
  let n = 0;
  let stored = 0;
  const pg0 = postgresCpuSeconds();
  const cpu0 = process.cpuUsage();
  const started = performance.now();
  const end = started + seconds * 1000;
  const writer = async () => {
    while (performance.now() < end) {
      const chunk = [];
      for (let k = 0; k < BATCH; k++) chunk.push({ ...rows[n % rows.length], message_id: `limit-${n++}` });
      const inserted = await sql`INSERT INTO events_limit ${sql(chunk)} ON CONFLICT (tenant_id, message_id) DO NOTHING RETURNING message_id`;
      stored += inserted.length;
    }
  };
  await Promise.all([writer(), writer()]);
  const wall = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const m = {
    name: "storage limit: Bun INSERT of 100 rows, 2 connections",
    events: stored,
    eventsPerSecond: stored / wall,
    p99: Number.NaN,
    non2xx: 0,
    inletUsPerEvent: (cpu.user + cpu.system) / stored,
    postgresUsPerEvent: ((postgresCpuSeconds() - pg0) * 1e6) / stored,
  };
  await sql`DROP TABLE events_limit`;
  await sql.close();
  measured.push(m);
  return m;
}

export async function benchPostgres(): Promise<void> {
  const wrk = findWrk();
  const dir = mkdtempSync(join(tmpdir(), "inlet-bench-pg-"));
  const database = `inlet_bench_${process.pid}`;
  const url = new URL(admin);
  url.pathname = `/${database}`;
  const server = new SQL({ url: admin, max: 1 });
  await server.unsafe(`CREATE DATABASE "${database}"`);
  const running: InletServer[] = [];
  killChildrenOnExit(() => rmSync(dir, { recursive: true, force: true }));
  try {
    step(`temp dir ${dir}, database ${database}; generating bodies`);
    const bodies = await writeBodyFiles(dir);
    const track = { path: "/v1/events/track", data: bodies.track };

    const sqlite = await startInlet(dir, "sqlite");
    running.push(sqlite);
    const onSqlite = await load("track, SQLite, 1 instance", [sqlite], track.data, track.path, "s", 0);
    await sqlite.stop();
    running.pop();

    const first = await startInlet(dir, "pg1", { databaseUrl: url.href });
    running.push(first);
    const tenant = { tenantId: first.tenantId, key: first.writeKey };
    const trackOne = await load("track, PostgreSQL, 1 instance", [first], track.data, track.path, "p", 0);
    const batchOne = await load(`batch of ${BATCH}, PostgreSQL, 1 instance`, [first], bodies.batch, "/v1/batch", "b", BATCH);
    const second = await startInlet(dir, "pg2", { databaseUrl: url.href, tenant });
    running.push(second);
    const trackTwo = await load("track, PostgreSQL, 2 instances", [first, second], track.data, track.path, "q", 0);
    const batchTwo = await load(`batch of ${BATCH}, PostgreSQL, 2 instances`, [first, second], bodies.batch, "/v1/batch", "c", BATCH);
    for (const s of running.splice(0)) await s.stop();

    const sql = new SQL({ url: url.href, max: 1 });
    const [{ n: stored }] = await sql`SELECT count(*)::int AS n FROM events`;
    await sql.close();
    const acknowledged = [trackOne, batchOne, trackTwo, batchTwo].reduce((sum, m) => sum + m.events, 0);
    const limit = await storageLimit(url.href);

    say(`# Inlet on PostgreSQL, ${new Date().toISOString()}`);
    say(`machine: ${cpus().length} cores, load before ${loadavg()[0]!.toFixed(1)}; wrk ${wrk.version}, ${connections} connections, ${seconds} s per phase`);
    say();
    say(
      table(
        ["phase", "events/s", "p99 ms", "non-2xx", "Inlet CPU µs/event", "PostgreSQL CPU µs/event"],
        measured.map((m) => [m.name, n0(m.eventsPerSecond), f1(m.p99), n0(m.non2xx), f1(m.inletUsPerEvent), f1(m.postgresUsPerEvent)]),
      ),
    );
    say();
    const verdicts = [
      ["batch, 1 instance / storage limit", f2(batchOne.eventsPerSecond / limit.eventsPerSecond), ">= 0.6"],
      ["batch, 2 instances / storage limit", f2(batchTwo.eventsPerSecond / limit.eventsPerSecond), ">= 0.6"],
      ["track on PostgreSQL / track on SQLite", f2(trackOne.eventsPerSecond / onSqlite.eventsPerSecond), ">= 0.6"],
      ["track p99 on PostgreSQL (1 / 2 instances)", `${f1(trackOne.p99)} / ${f1(trackTwo.p99)} ms`, "< 30 ms"],
      // More stored than acknowledged: calls the load generator gave up on (timeouts) that committed all the same.
      ["events acknowledged / stored", `${n0(acknowledged)} / ${n0(stored)}`, "stored >= acknowledged"],
    ];
    say(table(["measure", "value", "target"], verdicts));
    say();
    // A PostgreSQL server with 8 cores for itself, spending what it spent here per event.
    say(
      `projection: at ${f1(batchOne.postgresUsPerEvent)} µs of PostgreSQL CPU per batched event and ${f1(trackOne.postgresUsPerEvent)} per tracked one, ` +
        `an 8-core PostgreSQL server takes about ${n0((8 * 1e6) / batchOne.postgresUsPerEvent)} batched or ${n0((8 * 1e6) / trackOne.postgresUsPerEvent)} tracked events/s, ` +
        `with Inlet instances at ${f1(batchOne.inletUsPerEvent)} / ${f1(trackOne.inletUsPerEvent)} µs per event on their own cores.`,
    );
    if (stored < acknowledged) process.exitCode = 1;
  } finally {
    for (const s of running) await s.stop();
    await server.unsafe(`DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`);
    await server.close();
  }
}
