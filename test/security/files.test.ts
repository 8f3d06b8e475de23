/**
 * Files Inlet writes are its own: the database, its -wal and -shm, and backups are 0600 in a 0700
 * folder (whatever the umask), and `inlet backup` cannot be made to write its copy through a link
 * that another local user planted in the backup folder, at the old predictable temporary name
 * (`<file>.partial-<pid>`) or any guessable one.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, copyFileSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { cli, exportEvents, startTestServer, TEST_STORE, tempDir, type TestServer } from "../helpers/server";
import { spawnServer } from "../helpers/process";

const mode = (path: string) => (statSync(path).mode & 0o777).toString(8);
let umask: number;

beforeAll(() => {
  // The usual umask: without Inlet's own modes, files would be 0644 and folders 0755.
  umask = process.umask(0o022);
});
afterAll(() => {
  process.umask(umask);
});

describe("file modes", () => {
  test("inlet serve creates its folder 0700 and the database, -wal and -shm 0600", async () => {
    const root = tempDir("inlet-modes-");
    const db = join(root, "data", "sub", "inlet.db");
    const server = await spawnServer({ INLET_DB: db, LOG_LEVEL: "info" });
    try {
      const key = (await server.waitFor(/write key: (\S+)/))[1]!;
      const response = await fetch(`${server.url}/v1/events/track`, {
        method: "POST",
        headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
        body: JSON.stringify({ event: "Signed Up", anonymousId: "a" }),
      });
      expect(response.status).toBe(200);
      expect(mode(join(root, "data"))).toBe("700");
      expect(mode(join(root, "data", "sub"))).toBe("700");
      for (const file of [db, `${db}-wal`, `${db}-shm`]) expect([file, mode(file)]).toEqual([file, "600"]);
      // Nothing to warn about in what Inlet created itself.
      expect(server.output()).not.toContain("open to other local users");
    } finally {
      server.proc.kill();
      await server.proc.exited;
    }
  });

  test("an existing database folder open to others is kept, with a warning at start", async () => {
    const root = tempDir("inlet-modes-");
    const folder = join(root, "shared");
    mkdirSync(folder, { mode: 0o755 });
    chmodSync(folder, 0o755);
    const server = await spawnServer({ INLET_DB: join(folder, "inlet.db"), INLET_DEMO: "false", LOG_LEVEL: "info" });
    try {
      const deadline = Date.now() + 5_000;
      while (!server.output().includes("open to other local users") && Date.now() < deadline) await Bun.sleep(20);
      expect(server.output()).toContain(`The database folder ${folder} is open to other local users (mode 755)`);
      expect(mode(folder)).toBe("755");
      expect(mode(join(folder, "inlet.db"))).toBe("600");
    } finally {
      server.proc.kill();
      await server.proc.exited;
    }
  });
});

// `inlet backup` copies the SQLite file; PostgreSQL is backed up with pg_dump (the CLI says so).
describe.skipIf(TEST_STORE === "postgres")("inlet backup", () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer();
    for (let i = 0; i < 5; i++) expect((await server.track({ event: "Kept", anonymousId: "a", messageId: `kept-${i}` })).status).toBe(200);
  });
  afterAll(async () => {
    await server.stop();
  });

  test("writes 0600 into a new 0700 folder", async () => {
    const file = join(tempDir("inlet-backup-modes-"), "new", "copy.db");
    const result = await cli(["backup", file], { INLET_DB: server.dbPath });
    expect(result.code).toBe(0);
    expect(mode(file)).toBe("600");
    expect(mode(join(file, ".."))).toBe("700");
  });

  test("never writes through a link planted at the old predictable name or a guessable one", async () => {
    const shared = tempDir("inlet-backup-shared-");
    chmodSync(shared, 0o777); // a folder other local users can write to
    const attacker = tempDir("inlet-attacker-");
    const target = join(shared, "copy.db");
    // The old name was `<file>.partial-<pid>`: links for the next pids the backup process may get.
    const lastPid = Number(readFileSync("/proc/sys/kernel/ns_last_pid", "utf8"));
    const planted: string[] = [];
    for (let pid = lastPid + 1; pid <= lastPid + 3000; pid++) planted.push(`${target}.partial-${pid}`);
    planted.push(`${target}.partial`, `${target}.tmp`, `${target}.partial-`, `${target}-journal`, `${target}-wal`, join(shared, ".copy.db.partial"));
    for (const [i, path] of planted.entries()) symlinkSync(join(attacker, `stolen-${i}.db`), path);

    const result = await cli(["backup", target], { INLET_DB: server.dbPath });
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    // Nothing reached the attacker's folder, and the planted links are still just links.
    expect(readdirSync(attacker)).toEqual([]);
    for (const path of planted.slice(-6)) expect(lstatSync(path).isSymbolicLink()).toBe(true);
    // The copy is a private regular file with the data, and no temporary file is left behind.
    expect(lstatSync(target).isFile()).toBe(true);
    expect(mode(target)).toBe("600");
    const left = readdirSync(shared).filter((name) => !lstatSync(join(shared, name)).isSymbolicLink());
    expect(left).toEqual(["copy.db"]);
    // Read from elsewhere: opening it here would meet the planted copy.db-wal link.
    const restored = join(tempDir("inlet-restore-"), "copy.db");
    copyFileSync(target, restored);
    expect((await exportEvents(restored, server.tenantId)).map((e) => e.messageId)).toEqual(["kept-0", "kept-1", "kept-2", "kept-3", "kept-4"]);
  });

  test("a link planted at the target itself is refused, not followed", async () => {
    const shared = tempDir("inlet-backup-shared-");
    const attacker = tempDir("inlet-attacker-");
    const target = join(shared, "copy.db");
    symlinkSync(join(attacker, "stolen.db"), target);
    const result = await cli(["backup", target], { INLET_DB: server.dbPath });
    expect(result.code).toBe(1);
    expect(existsSync(join(attacker, "stolen.db"))).toBe(false);
  });
});
