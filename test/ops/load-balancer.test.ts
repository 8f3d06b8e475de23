/**
 * Several instances behind a load balancer, with the files in ops/ as they are committed:
 * HAProxy runs ops/haproxy/haproxy.cfg (only the addresses come from the environment, which the
 * file reads) in front of three real `inlet serve` processes, and must spread requests over them,
 * hand Inlet the client's own address, and take a stopped instance out while requests keep
 * succeeding. nginx's configuration, the systemd units and the compose file are checked by the
 * tools that read them (when installed) and against each other.
 *
 * Twice over:
 * - each instance on its own SQLite file, copied from one that holds the tenant, so one key works
 *   everywhere; which instance stored an event tells where HAProxy sent it. An instance whose
 *   /ready answers 503 (its file lacks a migration) is taken out while it still listens;
 * - the three instances on one PostgreSQL database, as several instances are meant to run; which
 *   instance answered a call is told by its own request log (one JSON line per request on its
 *   stdout, with the X-Request-Id it was sent). A messageId sent to two instances is stored once,
 *   and a key revoked with the command line is refused by every instance. Skipped, with the
 *   reason printed, when PostgreSQL does not answer.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { existsSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { connect } from "node:net";
import { join } from "node:path";
import { cli, cliJson, exportEvents, repoRoot, tempDir } from "../helpers/server";
import { spawnServer, type ServerProcess, freePort } from "../helpers/process";
import { createTestDatabase, postgresUnreachable, type TestDatabase } from "../helpers/postgres";
import { notStoredOnce, storedEvents, storedEventsOf } from "../reliability/stored";

const ops = (path: string) => join(repoRoot, "ops", path);
const HAPROXY_CFG = ops("haproxy/haproxy.cfg");
const NGINX_CONF = ops("nginx/inlet.conf");
const COMPOSE = ops("compose.multi.yml");

/** A Debian binary: on PATH, or in /usr/sbin, which a non-root PATH may lack. */
function binary(name: string): string | null {
  return Bun.which(name) ?? (existsSync(`/usr/sbin/${name}`) ? `/usr/sbin/${name}` : null);
}
const haproxy = binary("haproxy");
const nginx = binary("nginx");
const systemdAnalyze = binary("systemd-analyze");
for (const [name, path] of [
  ["haproxy", haproxy],
  ["nginx", nginx],
  ["systemd-analyze", systemdAnalyze],
] as const) {
  if (!path) console.warn(`[load-balancer] ${name} is absent; its checks are skipped (.ci/run installs haproxy and nginx)`);
}

const dir = tempDir("inlet-lb-");
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function run(cmd: string[], env: Record<string, string> = {}): { code: number; output: string } {
  const result = Bun.spawnSync(cmd, { env: { ...process.env, ...env }, stdout: "pipe", stderr: "pipe" });
  return { code: result.exitCode, output: result.stdout.toString() + result.stderr.toString() };
}

describe("configuration files, as their tools read them", () => {
  test.skipIf(!haproxy)("ops/haproxy/haproxy.cfg is valid, with its default addresses and with others", () => {
    const defaults = run([haproxy!, "-c", "-f", HAPROXY_CFG]);
    expect(defaults.output).toContain("Configuration file is valid");
    expect(defaults.code).toBe(0);
    const given = run([haproxy!, "-c", "-f", HAPROXY_CFG], {
      INLET_1: "10.0.0.1:3000",
      INLET_2: "10.0.0.2:3000",
      INLET_3: "10.0.0.3:3000",
      LB_BIND: "127.0.0.1:8080",
    });
    expect(given.code).toBe(0);
    // No warnings either: a warning is a setting HAProxy ignored.
    expect(given.output).not.toContain("WARNING");
  });

  test.skipIf(!nginx)("ops/nginx/inlet.conf is valid in nginx's http block", () => {
    const prefix = join(dir, "nginx");
    mkdirSync(prefix, { recursive: true });
    const main = join(prefix, "nginx.conf");
    const temp = ["client_body", "proxy", "fastcgi", "uwsgi", "scgi"].map((kind) => `${kind}_temp_path ${join(prefix, kind)};`).join(" ");
    // The smallest main configuration around the file, as /etc/nginx/nginx.conf includes conf.d/*.conf.
    writeFileSync(main, `pid ${join(prefix, "nginx.pid")};\nerror_log stderr;\nevents {}\nhttp {\n  access_log off;\n  ${temp}\n  include ${NGINX_CONF};\n}\n`);
    const result = run([nginx!, "-t", "-p", prefix, "-c", main]);
    expect(result.output).toContain("test is successful");
    expect(result.code).toBe(0);
  });

  test.skipIf(!systemdAnalyze)("the systemd units verify: every key known, every value parsed", () => {
    for (const unit of ["inlet.service", "inlet@3001.service"]) {
      const result = run([systemdAnalyze!, "verify", ops(`systemd/${unit}`)]);
      // The one complaint allowed: the binary is not installed on the machine running the tests.
      const complaints = result.output
        .split("\n")
        .filter((line) => line.trim() !== "")
        .filter((line) => !line.endsWith("Command /usr/local/bin/inlet is not executable: No such file or directory"));
      expect(complaints).toEqual([]);
    }
  });

  test("the template unit: the port is the instance name, and it refuses to start without DATABASE_URL", async () => {
    const unit = await Bun.file(ops("systemd/inlet@.service")).text();
    expect(unit).toMatch(/^ExecStart=\/usr\/local\/bin\/inlet serve --port %i$/m);
    expect(unit).toMatch(/^EnvironmentFile=\/etc\/inlet\/inlet\.env$/m);
    expect(unit).toMatch(/^EnvironmentFile=-\/etc\/inlet\/inlet-%i\.env$/m);
    const guard = unit.match(/^ExecStartPre=\/bin\/sh -c '(.*)'$/m)?.[1];
    expect(guard).toBeString();
    // The guard as systemd hands it to sh ($$ is a literal $, %i the instance).
    const script = guard!.replaceAll("$$", "$").replaceAll("%i", "3001");
    expect(run(["/bin/sh", "-c", script], { DATABASE_URL: "" }).code).toBe(1);
    expect(run(["/bin/sh", "-c", script], { DATABASE_URL: "postgres://inlet@db/inlet" }).code).toBe(0);
    // The same hardening as the single unit.
    const single = await Bun.file(ops("systemd/inlet.service")).text();
    const hardening = (text: string) => text.match(/^(?:Protect|Restrict|Private|NoNewPrivileges|SystemCall|Capability|LockPersonality|UMask)\S*=.*$/gm) ?? [];
    expect(hardening(unit)).toEqual(hardening(single));
  });

  test("ops/compose.multi.yml: migrations once before the instances, instances that trust only HAProxy, HAProxy pointed at every instance", async () => {
    type Service = {
      image?: string;
      build?: { context: string };
      command?: string[];
      environment?: Record<string, string>;
      depends_on?: Record<string, { condition: string }> | string[];
      networks?: string[] | Record<string, { ipv4_address?: string } | null>;
      volumes?: string[];
    };
    const compose = Bun.YAML.parse(await Bun.file(COMPOSE).text()) as {
      services: Record<string, Service>;
      networks: Record<string, { ipam?: { config: { subnet: string }[] } } | null>;
    };
    const { services } = compose;
    const major = (image: string | undefined) => Number(image?.split(":")[1]?.split(/[.-]/)[0]);
    expect(major(services.postgres?.image)).toBeGreaterThanOrEqual(15);
    expect(major(services.redis?.image)).toBe(7);

    // The one-shot migration runs Inlet's image once PostgreSQL is healthy.
    const migrate = services.migrate!;
    expect(migrate.command).toEqual(["migrate"]);
    expect(migrate.depends_on).toEqual({ postgres: { condition: "service_healthy" } });
    expect(existsSync(join(ops("."), migrate.build!.context, "Dockerfile"))).toBe(true);

    const instances = Object.keys(services).filter((name) => /^inlet\d+$/.test(name));
    expect(instances.length).toBeGreaterThanOrEqual(3);
    const lb = services.haproxy!;
    const lbAddress = (lb.networks as Record<string, { ipv4_address: string }>).lb!.ipv4_address;
    const lbSubnet = compose.networks.lb!.ipam!.config[0]!.subnet;
    expect(lbAddress.startsWith(lbSubnet.split(".").slice(0, 3).join("."))).toBe(true);
    for (const name of instances) {
      const instance = services[name]!;
      expect(instance.image).toBe(migrate.image!);
      expect(instance.command).toBeUndefined(); // the image's `serve`
      expect(instance.depends_on).toMatchObject({ migrate: { condition: "service_completed_successfully" }, redis: { condition: "service_healthy" } });
      expect(instance.environment!.DATABASE_URL).toBe(migrate.environment!.DATABASE_URL!);
      expect(instance.environment!.DATABASE_URL).toMatch(/^postgres:\/\/[^@]+@postgres:5432\//);
      expect(instance.environment!.REDIS_URL).toBe("redis://redis:6379");
      // Forwarded addresses are believed from HAProxy alone, which sits on the instances' network.
      expect(instance.environment!.TRUST_PROXY).toBe(lbAddress);
      expect(instance.networks).toContain("lb");
    }

    // HAProxy reads the committed file, and its INLET_n variables name every instance on the image's port.
    expect(lb.volumes).toContain("./haproxy/haproxy.cfg:/usr/local/etc/haproxy/haproxy.cfg:ro");
    const cfg = await Bun.file(HAPROXY_CFG).text();
    const serverVariables = [...cfg.matchAll(/^\s*server \S+ "\$\{(\w+)-[^}]*\}"/gm)].map((m) => m[1]!);
    const pointedAt = serverVariables.map((variable) => lb.environment![variable]);
    expect(pointedAt.sort()).toEqual(instances.map((name) => `${name}:3000`).sort());
    expect(lb.environment!.LB_BIND).toMatch(/^:\d+$/);
  });
});

/** One HAProxy server's line of `show stat`, by its name. */
interface ServerStat {
  status: string;
  check_status: string;
}

/** `show stat` over the runtime API socket (HAPROXY_ADMIN_SOCKET): the backend's servers by name. */
async function serverStats(socket: string): Promise<Map<string, ServerStat>> {
  const csv = await new Promise<string>((resolve, reject) => {
    let text = "";
    const conn = connect({ path: socket });
    conn.on("connect", () => conn.write("show stat\n"));
    conn.on("data", (chunk) => (text += chunk));
    conn.on("end", () => resolve(text));
    conn.on("error", reject);
  });
  const [header, ...rows] = csv.trim().split("\n");
  const columns = header!.replace(/^# /, "").split(",");
  const stats = new Map<string, ServerStat>();
  for (const row of rows) {
    const cells = Object.fromEntries(row.split(",").map((cell, i) => [columns[i], cell]));
    if (cells.pxname === "inlet" && cells.svname !== "BACKEND" && cells.svname !== "FRONTEND") {
      stats.set(cells.svname!, { status: cells.status!, check_status: cells.check_status! });
    }
  }
  return stats;
}

const names = ["inlet1", "inlet2", "inlet3"];

/** HAProxy running ops/haproxy/haproxy.cfg in front of three instances. */
interface Balancer {
  url: string;
  /** Waits (at most `ms`) until HAProxy reports every named server in `status` after a health check. */
  waitForStatus(want: Record<string, string>, ms?: number): Promise<Map<string, ServerStat>>;
  stop(): Promise<void>;
}

/** Starts HAProxy with the committed file, its addresses from the environment, and waits until every instance is UP. */
async function startBalancer(instances: ServerProcess[], adminSocket: string): Promise<Balancer> {
  const port = freePort();
  const lb = Bun.spawn([haproxy!, "-db", "-f", HAPROXY_CFG], {
    env: {
      ...process.env,
      LB_BIND: `127.0.0.1:${port}`,
      HAPROXY_ADMIN_SOCKET: adminSocket,
      ...Object.fromEntries(instances.map((instance, i) => [`INLET_${i + 1}`, new URL(instance.url).host])),
    },
    stdout: "pipe",
    stderr: "pipe",
  });
  // HAProxy's log, for the message of a failed wait; read so that its pipe never fills.
  let output = "";
  for (const stream of [lb.stdout, lb.stderr] as ReadableStream<Uint8Array>[]) {
    void (async () => {
      const reader = stream.getReader();
      for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) output += new TextDecoder().decode(chunk.value);
    })();
  }
  const waitForStatus = async (want: Record<string, string>, ms = 20_000) => {
    const deadline = Date.now() + ms;
    let stats = new Map<string, ServerStat>();
    while (Date.now() < deadline && lb.exitCode === null) {
      stats = await serverStats(adminSocket).catch(() => new Map());
      const reached = Object.entries(want).every(([name, status]) => {
        const stat = stats.get(name);
        // "L7OK"/"L4CON"...: a check ran; "INI" is before the first one.
        return stat?.status === status && stat.check_status !== "" && !stat.check_status.includes("INI");
      });
      if (reached) return stats;
      await Bun.sleep(50);
    }
    throw new Error(`HAProxy did not report ${JSON.stringify(want)}: ${JSON.stringify([...stats])}\n${output}`);
  };
  const balancer = {
    url: `http://127.0.0.1:${port}`,
    waitForStatus,
    async stop() {
      lb.kill("SIGTERM");
      await lb.exited;
    },
  };
  try {
    await waitForStatus({ inlet1: "UP", inlet2: "UP", inlet3: "UP" });
  } catch (error) {
    await balancer.stop();
    throw error;
  }
  return balancer;
}

/** A track call through the balancer; its messageId is also its X-Request-Id, which each instance logs. */
function trackThrough(lbUrl: string, key: string, messageId: string): Promise<Response> {
  return fetch(`${lbUrl}/v1/events/track`, {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json", "x-request-id": messageId },
    body: JSON.stringify({ event: "Through LB", anonymousId: "lb-visitor", messageId }),
  });
}

/** Track calls through the balancer, one after the other, each answered 200. */
async function trackInTurn(lbUrl: string, key: string, ids: string[]): Promise<void> {
  for (const id of ids) {
    const response = await trackThrough(lbUrl, key, id);
    expect(response.status).toBe(200);
    await response.arrayBuffer();
  }
}

/** A track call through the balancer from 127.0.0.2 (HAProxy connects to Inlet from 127.0.0.1, which Inlet trusts); its status. */
function trackFrom127002(lbUrl: string, key: string, messageId: string, headers: Record<string, string>): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    const url = new URL(lbUrl);
    const req = request(
      {
        host: url.hostname,
        port: url.port,
        localAddress: "127.0.0.2",
        path: "/v1/events/track",
        method: "POST",
        headers: { authorization: `Bearer ${key}`, "content-type": "application/json", ...headers },
      },
      (res) => {
        res.resume();
        res.on("end", () => resolve(res.statusCode!));
      },
    );
    req.on("error", reject);
    req.end(JSON.stringify({ event: "Where from", anonymousId: "ip-visitor", messageId }));
  });
}

/** The stored address of the two calls of the client-address test: a plain one, and one that claims another address. */
async function sendPlainAndSpoofed(lbUrl: string, key: string): Promise<void> {
  expect(await trackFrom127002(lbUrl, key, "ip-plain", {})).toBe(200);
  // A client that claims another address: HAProxy appends the one it saw, and Inlet reads from the right.
  expect(await trackFrom127002(lbUrl, key, "ip-spoofed", { "x-forwarded-for": "198.51.100.9", "x-real-ip": "198.51.100.9" })).toBe(200);
}

interface StopRun {
  /** The messageIds answered 200, and those of them sent once HAProxy reported the stopped instance DOWN. */
  acknowledged: string[];
  afterDown: string[];
}

/**
 * Four senders through the balancer; inlet2 is stopped with SIGTERM once 20 calls are acknowledged, and
 * they go on until 30 more are once it is DOWN. Checks that every call succeeded, that inlet2 exited 0,
 * and that HAProxy took it out by its failing check.
 */
async function stopInlet2UnderLoad(balancer: Balancer, key: string, inlet2: ServerProcess): Promise<StopRun> {
  const acknowledged: string[] = [];
  const failures: string[] = [];
  const afterDown: string[] = [];
  let down = false;
  let stopSending = false;

  const worker = async (w: number) => {
    for (let i = 0; !stopSending; i++) {
      const id = `stop-${w}-${i}`;
      const wasDown = down;
      try {
        const response = await trackThrough(balancer.url, key, id);
        if (response.status === 200) {
          acknowledged.push(id);
          if (wasDown) afterDown.push(id);
        } else failures.push(`${id}: ${response.status} ${await response.text()}`);
        await response.arrayBuffer().catch(() => {});
      } catch (error) {
        failures.push(`${id}: ${(error as Error).message}`);
      }
    }
  };
  const workers = Array.from({ length: 4 }, (_, w) => worker(w));
  // Stop inlet2 while requests flow through HAProxy, however slow the machine.
  while (acknowledged.length < 20 && failures.length === 0) await Bun.sleep(10);
  inlet2.proc.kill("SIGTERM");
  const exitCode = await inlet2.proc.exited;
  const stats = await balancer.waitForStatus({ inlet1: "UP", inlet2: "DOWN", inlet3: "UP" });
  down = true;
  while (afterDown.length < 30 && failures.length === 0) await Bun.sleep(10);
  stopSending = true;
  await Promise.all(workers);

  expect(failures).toEqual([]);
  expect(exitCode).toBe(0);
  // Taken out by its failing check (nothing listens on its port any more), not by hand.
  expect(stats.get("inlet2")!.check_status).toMatch(/^L4/);
  return { acknowledged, afterDown };
}

describe.skipIf(!haproxy)("HAProxy (ops/haproxy/haproxy.cfg) in front of three Inlet processes, each on its own SQLite file", () => {
  const dbs = names.map((name) => join(dir, `${name}.db`));
  let tenant: { tenantId: string; key: string };
  let instances: ServerProcess[] = [];
  let lb: Balancer | undefined;

  /** Which instance stored each of `ids` (by its database file). */
  function whereStored(ids: string[]): Record<string, string[]> {
    const counts = dbs.map((db) => storedEvents(db).counts);
    return Object.fromEntries(names.map((name, i) => [name, ids.filter((id) => counts[i]!.has(id))]));
  }

  beforeAll(async () => {
    // One tenant, copied into each instance's database: the same key works on every instance.
    const created = await cli(["tenant", "create", "lb"], { INLET_DB: dbs[0]! });
    expect(created.code).toBe(0);
    tenant = JSON.parse(created.stdout);
    for (const db of dbs.slice(1)) expect((await cli(["backup", db], { INLET_DB: dbs[0]! })).code).toBe(0);

    // HAProxy connects from 127.0.0.1: the only address whose forwarding headers Inlet believes.
    instances = await Promise.all(dbs.map((db) => spawnServer({ INLET_DB: db, TRUST_PROXY: "127.0.0.1/32", INLET_DEMO: "false" }, 30_000)));
    lb = await startBalancer(instances, join(dir, "haproxy-sqlite.sock"));
  }, 60_000);

  afterAll(async () => {
    for (const instance of instances) instance.proc.kill("SIGTERM");
    await Promise.all([lb?.stop(), ...instances.map((instance) => instance.proc.exited)]);
  });

  test("requests go round robin: six in a row, two to each instance", async () => {
    const ids = Array.from({ length: 6 }, (_, i) => `rr-${i}`);
    await trackInTurn(lb!.url, tenant.key, ids);
    const stored = whereStored(ids);
    expect(Object.values(stored).map((list) => list.length)).toEqual([2, 2, 2]);
  }, 30_000);

  test("Inlet stores the client's own address: HAProxy's X-Forwarded-For is believed, a client's own is not", async () => {
    await sendPlainAndSpoofed(lb!.url, tenant.key);
    const events = (await Promise.all(dbs.map((db) => exportEvents(db, tenant.tenantId)))).flat();
    const ipOf = (id: string) => events.find((event) => event.messageId === id)?.context.ip;
    expect({ plain: ipOf("ip-plain"), spoofed: ipOf("ip-spoofed") }).toEqual({ plain: "127.0.0.2", spoofed: "127.0.0.2" });
  }, 30_000);

  test("an instance whose /ready answers 503 is taken out while it still listens, and is back once it answers 200", async () => {
    // inlet3's database loses the record of its last migration: /ready answers 503 (migrations: false).
    const sqlite = new Database(dbs[2]!);
    const last = sqlite.query("SELECT * FROM __drizzle_migrations ORDER BY created_at DESC LIMIT 1").get() as Record<string, string | number | null>;
    sqlite.run("DELETE FROM __drizzle_migrations WHERE created_at = ?", [last.created_at!]);
    try {
      expect((await fetch(`${instances[2]!.url}/ready`)).status).toBe(503);
      const stats = await lb!.waitForStatus({ inlet1: "UP", inlet2: "UP", inlet3: "DOWN" });
      // Down by the answer to its HTTP check, not by a refused connection.
      expect(stats.get("inlet3")!.check_status).toBe("L7STS");
      const ids = Array.from({ length: 6 }, (_, i) => `not-ready-${i}`);
      await trackInTurn(lb!.url, tenant.key, ids);
      expect(Object.values(whereStored(ids)).map((list) => list.length)).toEqual([3, 3, 0]);
    } finally {
      const columns = Object.keys(last);
      sqlite.run(`INSERT INTO __drizzle_migrations (${columns.join(", ")}) VALUES (${columns.map(() => "?").join(", ")})`, Object.values(last));
      sqlite.close();
    }
    const back = await lb!.waitForStatus({ inlet1: "UP", inlet2: "UP", inlet3: "UP" });
    expect(back.get("inlet3")!.check_status).toBe("L7OK");
  }, 60_000);

  test("an instance stopped with SIGTERM is taken out by the /ready check, and every request through HAProxy still succeeds", async () => {
    const { acknowledged, afterDown } = await stopInlet2UnderLoad(lb!, tenant.key, instances[1]!);
    // Every acknowledged event is stored once, on one instance; the stopped one had committed its share.
    const counts = dbs.map((db) => storedEvents(db).counts);
    const timesStored = (id: string) => counts.reduce((n, c) => n + (c.get(id) ?? 0), 0);
    expect(acknowledged.filter((id) => timesStored(id) !== 1)).toEqual([]);
    expect(whereStored(acknowledged).inlet2!.length).toBeGreaterThan(0);
    // Once it is out, the others take everything.
    const stored = whereStored(afterDown);
    expect(stored.inlet2).toEqual([]);
    expect(stored.inlet1!.length + stored.inlet3!.length).toBe(afterDown.length);
  }, 60_000);
});

/**
 * Each instance's own request log: the one JSON line per request it prints on its stdout, with the
 * request id (the X-Request-Id it was sent) and the status it answered. Which instance answered a
 * call, when they all share one database.
 */
class RequestLogs {
  private readonly read: { offset: number; statuses: Map<string, number[]> }[];

  constructor(private readonly instances: ServerProcess[]) {
    this.read = instances.map(() => ({ offset: 0, statuses: new Map() }));
  }

  /** Parses the complete lines printed since the last call. */
  private refresh(): void {
    this.instances.forEach((instance, i) => {
      const seen = this.read[i]!;
      const text = instance.output();
      const end = text.lastIndexOf("\n");
      if (end < seen.offset) return;
      for (const line of text.slice(seen.offset, end).split("\n")) {
        if (!line.includes('"msg":"request"')) continue;
        const { requestId, status } = JSON.parse(line) as { requestId: string; status: number };
        seen.statuses.set(requestId, [...(seen.statuses.get(requestId) ?? []), status]);
      }
      seen.offset = end + 1;
    });
  }

  /**
   * The names of the instances that answered request `id` with `status`, waiting (at most 10 s) until
   * `atLeast` have logged it: a line is written just after its response.
   */
  async answered(id: string, status: number, atLeast = 1): Promise<string[]> {
    const deadline = Date.now() + 10_000;
    for (;;) {
      this.refresh();
      const by = names.filter((_, i) => this.read[i]!.statuses.get(id)?.includes(status));
      if (by.length >= atLeast) return by;
      if (Date.now() > deadline) throw new Error(`${by.length} instances (${by.join(", ")}), not ${atLeast}, logged ${id} answered ${status}`);
      await Bun.sleep(10);
    }
  }

  /** Which instance answered each of `ids` with 200. */
  async whereAnswered(ids: string[]): Promise<Record<string, string[]>> {
    const by = Object.fromEntries(names.map((name) => [name, [] as string[]]));
    for (const id of ids) for (const name of await this.answered(id, 200)) by[name]!.push(id);
    return by;
  }
}

const pgUnreachable = haproxy ? await postgresUnreachable() : null;
if (pgUnreachable) console.warn(`[load-balancer] PostgreSQL is unreachable, so the shared-database case is skipped: ${pgUnreachable}`);

describe.skipIf(!haproxy || pgUnreachable !== null)(
  "HAProxy (ops/haproxy/haproxy.cfg) in front of three Inlet processes sharing one PostgreSQL database",
  () => {
    let pg: TestDatabase | undefined;
    let tenant: { tenantId: string; key: string };
    let instances: ServerProcess[] = [];
    let lb: Balancer | undefined;
    let logs: RequestLogs;

    const track = (messageId: string, key = tenant.key) => trackThrough(lb!.url, key, messageId);

    const pgCli = (args: string[]) => cliJson(args, { DATABASE_URL: pg!.url });

    /** How often each messageId is stored in the shared database. */
    const storedCounts = async () => (await storedEventsOf(pg!.url)).counts;

    beforeAll(async () => {
      pg = await createTestDatabase("load_balancer");
      tenant = await pgCli(["tenant", "create", "lb"]);
      // HAProxy connects from 127.0.0.1: the only address whose forwarding headers Inlet believes.
      instances = await Promise.all(names.map(() => spawnServer({ DATABASE_URL: pg!.url, TRUST_PROXY: "127.0.0.1/32", INLET_DEMO: "false" }, 30_000)));
      logs = new RequestLogs(instances);
      lb = await startBalancer(instances, join(dir, "haproxy-postgres.sock"));
    }, 60_000);

    afterAll(async () => {
      for (const instance of instances) instance.proc.kill("SIGTERM");
      await Promise.all([lb?.stop(), ...instances.map((instance) => instance.proc.exited)]);
      await pg?.drop();
    });

    test("requests go round robin: six in a row, two answered by each instance, each stored once", async () => {
      const ids = Array.from({ length: 6 }, (_, i) => `rr-${i}`);
      await trackInTurn(lb!.url, tenant.key, ids);
      const answered = await logs.whereAnswered(ids);
      expect(Object.values(answered).map((list) => list.length)).toEqual([2, 2, 2]);
      const counts = await storedCounts();
      expect(ids.map((id) => counts.get(id))).toEqual([1, 1, 1, 1, 1, 1]);
    }, 30_000);

    test("a messageId sent twice, one after the other or at once, lands on two instances and is stored once", async () => {
      const bodies = async (responses: Response[]) =>
        Promise.all(responses.map(async (response) => ({ http: response.status, ...((await response.json()) as { status: string }) })));
      // One after the other: the second is a duplicate for the instance it reaches, though the first went elsewhere.
      const first = await bodies([await track("dup-in-turn")]);
      const second = await bodies([await track("dup-in-turn")]);
      expect([...first, ...second].map(({ http, status }) => [http, status])).toEqual([
        [200, "accepted"],
        [200, "duplicate"],
      ]);
      // At once: one instance accepts it, the other finds it a duplicate.
      const together = await bodies(await Promise.all([track("dup-at-once"), track("dup-at-once")]));
      expect(together.map(({ http, status }) => [http, status]).sort()).toEqual([
        [200, "accepted"],
        [200, "duplicate"],
      ]);

      // Both calls of each pair were answered, by two different instances.
      for (const id of ["dup-in-turn", "dup-at-once"]) expect(await logs.answered(id, 200, 2)).toHaveLength(2);
      const counts = await storedCounts();
      expect({ inTurn: counts.get("dup-in-turn"), atOnce: counts.get("dup-at-once") }).toEqual({ inTurn: 1, atOnce: 1 });
    }, 30_000);

    test("Inlet stores the client's own address: HAProxy's X-Forwarded-For is believed, a client's own is not", async () => {
      await sendPlainAndSpoofed(lb!.url, tenant.key);
      const events = await exportEvents(pg!.url, tenant.tenantId);
      const ipOf = (id: string) => events.find((event) => event.messageId === id)?.context.ip;
      expect({ plain: ipOf("ip-plain"), spoofed: ipOf("ip-spoofed") }).toEqual({ plain: "127.0.0.2", spoofed: "127.0.0.2" });
    }, 30_000);

    test("a key revoked with the command line is refused through HAProxy by every instance, well before its cache entry expires", async () => {
      const created = await pgCli(["key", "create", "--tenant", tenant.tenantId]);
      let n = 0;
      /** One call with the key: the status, and the instance that answered it. */
      const call = async () => {
        const id = `revoked-${n++}`;
        const response = await track(id, created.key);
        await response.arrayBuffer();
        const [by] = await logs.answered(id, response.status);
        return { id, status: response.status, by: by! };
      };
      // Three in a row, one to each instance: every instance has the key cached (KEY_CACHE_TTL_SECONDS, 30 s by default).
      const before = [await call(), await call(), await call()];
      expect(before.map((c) => c.status)).toEqual([200, 200, 200]);
      expect(before.map((c) => c.by).sort()).toEqual(names);

      await pgCli(["key", "revoke", created.keyId]);
      // Each instance hears of it (LISTEN/NOTIFY) within a second: calls go on, round robin, until each
      // instance has refused one. The bound, well under the cache's 30 s, only keeps a broken feed from hanging the test.
      const refusedBy = new Set<string>();
      const deadline = Date.now() + 5_000;
      while (refusedBy.size < names.length && Date.now() < deadline) {
        const { status, by } = await call();
        if (status === 401) refusedBy.add(by);
        // Paced: each instance allows a client address 60 failed authentications a minute (AUTH_FAILURES_PER_MINUTE).
        if (refusedBy.size < names.length) await Bun.sleep(50);
      }
      expect([...refusedBy].sort()).toEqual(names);
      // And from then on, every instance refuses it.
      const after = [await call(), await call(), await call()];
      expect(after.map((c) => c.status)).toEqual([401, 401, 401]);
      expect(after.map((c) => c.by).sort()).toEqual(names);
      const counts = await storedCounts();
      expect(after.map((c) => counts.get(c.id) ?? 0)).toEqual([0, 0, 0]);
    }, 60_000);

    test("an instance stopped with SIGTERM is taken out by the /ready check, every request through HAProxy still succeeds, and nothing acknowledged is lost", async () => {
      const { acknowledged, afterDown } = await stopInlet2UnderLoad(lb!, tenant.key, instances[1]!);
      // Every acknowledged event is stored once in the shared database; the stopped instance had answered its share.
      expect(notStoredOnce(await storedEventsOf(pg!.url), acknowledged)).toEqual([]);
      expect((await logs.whereAnswered(acknowledged)).inlet2!.length).toBeGreaterThan(0);
      // Once it is out, the others answer everything.
      const answered = await logs.whereAnswered(afterDown);
      expect(answered.inlet2).toEqual([]);
      expect(answered.inlet1!.length + answered.inlet3!.length).toBe(afterDown.length);
    }, 60_000);
  },
);
