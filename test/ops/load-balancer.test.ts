/**
 * Several instances behind a load balancer, with the files in ops/ as they are committed:
 * HAProxy runs ops/haproxy/haproxy.cfg (only the addresses come from the environment, which the
 * file reads) in front of three real `inlet serve` processes, and must spread requests over them,
 * hand Inlet the client's own address, and take a stopped instance out while requests keep
 * succeeding. nginx's configuration, the systemd units and the compose file are checked by the
 * tools that read them (when installed) and against each other.
 *
 * Each instance has its own SQLite file here, copied from one that holds the tenant, so one key
 * works everywhere; which instance stored an event tells where HAProxy sent it.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { existsSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { connect } from "node:net";
import { join } from "node:path";
import { cli, exportEvents, repoRoot, tempDir } from "../helpers/server";
import { spawnServer, type ServerProcess, freePort } from "../helpers/process";
import { storedEvents } from "../reliability/stored";

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

describe.skipIf(!haproxy)("HAProxy (ops/haproxy/haproxy.cfg) in front of three Inlet processes", () => {
  const names = ["inlet1", "inlet2", "inlet3"];
  const dbs = names.map((name) => join(dir, `${name}.db`));
  const adminSocket = join(dir, "haproxy.sock");
  let tenant: { tenantId: string; key: string };
  let instances: ServerProcess[] = [];
  let lb: ReturnType<typeof Bun.spawn> | undefined;
  let lbUrl = "";
  let lbOutput = "";

  /** Waits (at most `ms`) until HAProxy reports every named server in `status` after a health check. */
  async function waitForStatus(want: Record<string, string>, ms = 20_000): Promise<Map<string, ServerStat>> {
    const deadline = Date.now() + ms;
    let stats = new Map<string, ServerStat>();
    while (Date.now() < deadline && lb?.exitCode === null) {
      stats = await serverStats(adminSocket).catch(() => new Map());
      const reached = Object.entries(want).every(([name, status]) => {
        const stat = stats.get(name);
        // "L7OK"/"L4CON"...: a check ran; "INI" is before the first one.
        return stat?.status === status && stat.check_status !== "" && !stat.check_status.includes("INI");
      });
      if (reached) return stats;
      await Bun.sleep(50);
    }
    throw new Error(`HAProxy did not report ${JSON.stringify(want)}: ${JSON.stringify([...stats])}\n${lbOutput}`);
  }

  /** Which instance stored each of `ids` (by its database file). */
  function whereStored(ids: string[]): Record<string, string[]> {
    const counts = dbs.map((db) => storedEvents(db).counts);
    return Object.fromEntries(names.map((name, i) => [name, ids.filter((id) => counts[i]!.has(id))]));
  }

  const track = (messageId: string) =>
    fetch(`${lbUrl}/v1/events/track`, {
      method: "POST",
      headers: { authorization: `Bearer ${tenant.key}`, "content-type": "application/json" },
      body: JSON.stringify({ event: "Through LB", anonymousId: "lb-visitor", messageId }),
    });

  beforeAll(async () => {
    // One tenant, copied into each instance's database: the same key works on every instance.
    const created = await cli(["tenant", "create", "lb"], { INLET_DB: dbs[0]! });
    expect(created.code).toBe(0);
    tenant = JSON.parse(created.stdout);
    for (const db of dbs.slice(1)) expect((await cli(["backup", db], { INLET_DB: dbs[0]! })).code).toBe(0);

    // HAProxy connects from 127.0.0.1: the only address whose forwarding headers Inlet believes.
    instances = await Promise.all(dbs.map((db) => spawnServer({ INLET_DB: db, TRUST_PROXY: "127.0.0.1/32", INLET_DEMO: "false" }, 30_000)));
    const lbPort = freePort();
    lbUrl = `http://127.0.0.1:${lbPort}`;
    lb = Bun.spawn([haproxy!, "-db", "-f", HAPROXY_CFG], {
      env: {
        ...process.env,
        LB_BIND: `127.0.0.1:${lbPort}`,
        HAPROXY_ADMIN_SOCKET: adminSocket,
        ...Object.fromEntries(instances.map((instance, i) => [`INLET_${i + 1}`, new URL(instance.url).host])),
      },
      stdout: "pipe",
      stderr: "pipe",
    });
    // HAProxy's log, for the message of a failed wait; read so that its pipe never fills.
    for (const stream of [lb.stdout, lb.stderr] as ReadableStream<Uint8Array>[]) {
      void (async () => {
        const reader = stream.getReader();
        for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) lbOutput += new TextDecoder().decode(chunk.value);
      })();
    }
    await waitForStatus({ inlet1: "UP", inlet2: "UP", inlet3: "UP" });
  }, 60_000);

  afterAll(async () => {
    lb?.kill("SIGTERM");
    for (const instance of instances) instance.proc.kill("SIGTERM");
    await Promise.all([lb?.exited, ...instances.map((instance) => instance.proc.exited)]);
  });

  test("requests go round robin: six in a row, two to each instance", async () => {
    const ids = Array.from({ length: 6 }, (_, i) => `rr-${i}`);
    for (const id of ids) {
      const response = await track(id);
      expect(response.status).toBe(200);
      await response.arrayBuffer();
    }
    const stored = whereStored(ids);
    expect(Object.values(stored).map((list) => list.length)).toEqual([2, 2, 2]);
  }, 30_000);

  test("Inlet stores the client's own address: HAProxy's X-Forwarded-For is believed, a client's own is not", async () => {
    // The client connects from 127.0.0.2, HAProxy from 127.0.0.1 (TRUST_PROXY).
    const send = (messageId: string, headers: Record<string, string>) =>
      new Promise<number>((resolve, reject) => {
        const url = new URL(lbUrl);
        const req = request(
          {
            host: url.hostname,
            port: url.port,
            localAddress: "127.0.0.2",
            path: "/v1/events/track",
            method: "POST",
            headers: { authorization: `Bearer ${tenant.key}`, "content-type": "application/json", ...headers },
          },
          (res) => {
            res.resume();
            res.on("end", () => resolve(res.statusCode!));
          },
        );
        req.on("error", reject);
        req.end(JSON.stringify({ event: "Where from", anonymousId: "ip-visitor", messageId }));
      });
    expect(await send("ip-plain", {})).toBe(200);
    // A client that claims another address: HAProxy appends the one it saw, and Inlet reads from the right.
    expect(await send("ip-spoofed", { "x-forwarded-for": "198.51.100.9", "x-real-ip": "198.51.100.9" })).toBe(200);

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
      const stats = await waitForStatus({ inlet1: "UP", inlet2: "UP", inlet3: "DOWN" });
      // Down by the answer to its HTTP check, not by a refused connection.
      expect(stats.get("inlet3")!.check_status).toBe("L7STS");
      const ids = Array.from({ length: 6 }, (_, i) => `not-ready-${i}`);
      for (const id of ids) {
        const response = await track(id);
        expect(response.status).toBe(200);
        await response.arrayBuffer();
      }
      expect(Object.values(whereStored(ids)).map((list) => list.length)).toEqual([3, 3, 0]);
    } finally {
      const columns = Object.keys(last);
      sqlite.run(`INSERT INTO __drizzle_migrations (${columns.join(", ")}) VALUES (${columns.map(() => "?").join(", ")})`, Object.values(last));
      sqlite.close();
    }
    const back = await waitForStatus({ inlet1: "UP", inlet2: "UP", inlet3: "UP" });
    expect(back.get("inlet3")!.check_status).toBe("L7OK");
  }, 60_000);

  test("an instance stopped with SIGTERM is taken out by the /ready check, and every request through HAProxy still succeeds", async () => {
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
          const response = await track(id);
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
    instances[1]!.proc.kill("SIGTERM");
    const exitCode = await instances[1]!.proc.exited;
    const stats = await waitForStatus({ inlet1: "UP", inlet2: "DOWN", inlet3: "UP" });
    down = true;
    while (afterDown.length < 30 && failures.length === 0) await Bun.sleep(10);
    stopSending = true;
    await Promise.all(workers);

    expect(failures).toEqual([]);
    expect(exitCode).toBe(0);
    // Taken out by its failing check (nothing listens on its port any more), not by hand.
    expect(stats.get("inlet2")!.check_status).toMatch(/^L4/);
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
