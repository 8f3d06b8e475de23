/**
 * The deployable: `bun run build` makes one executable, and that file alone, copied into an empty
 * folder with no Bun on PATH and no node_modules anywhere above, serves, answers every CLI
 * command, and hands back what it stored: in ./data/inlet.db, or with INLET_TEST_STORE=postgres in a
 * fresh PostgreSQL database named by DATABASE_URL. Slow-ish: it builds the binary (a few seconds).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { copyFileSync, mkdirSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import pkg from "../package.json";
import { ndjson, repoRoot, TEST_STORE, tempDir, testStore } from "./helpers/server";
import { freePort } from "./helpers/process";

let root: string;
/** The folder the binary runs in: nothing but the binary, and what it creates there. */
let runDir: string;
let env: Record<string, string>;
let serveLog: string;
/** What the build wrote beside the binary, and the notices' text. */
let buildOutput: string[];
let notices: string;
/** With INLET_TEST_STORE=postgres, the database the binary stores in (else it uses its default file). */
let store: Awaited<ReturnType<typeof testStore>> | null = null;

async function inlet(args: string[], extraEnv: Record<string, string> = {}) {
  const proc = Bun.spawn(["./inlet", ...args], { cwd: runDir, env: { ...env, ...extraEnv }, stdout: "pipe", stderr: "pipe" });
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { code, stdout, stderr };
}

beforeAll(async () => {
  root = tempDir("inlet-binary-");
  const built = join(root, "build", "inlet");
  const build = Bun.spawnSync(["bun", "run", join(repoRoot, "scripts/build.ts"), "--outfile", built], {
    cwd: repoRoot,
    stdout: "pipe",
    stderr: "pipe",
  });
  if (build.exitCode !== 0) throw new Error(`build failed:\n${build.stdout}\n${build.stderr}`);

  runDir = join(root, "run");
  const emptyBin = join(root, "bin"); // PATH: a folder with nothing in it, so no bun, no node
  mkdirSync(runDir);
  mkdirSync(emptyBin);
  copyFileSync(built, join(runDir, "inlet"));
  buildOutput = readdirSync(join(root, "build")).sort();
  notices = await Bun.file(join(root, "build", "THIRD-PARTY-NOTICES.txt")).text();
  rmSync(join(root, "build"), { recursive: true });
  store = TEST_STORE === "postgres" ? await testStore(root, "binary") : null;
  env = { PATH: emptyBin, HOME: runDir, HOST: "127.0.0.1", INLET_DEMO: "false", ...store?.env };
  serveLog = join(root, "serve.log");
});
afterAll(async () => {
  await store?.drop();
  rmSync(root, { recursive: true, force: true });
});

describe("what ships beside the executable", () => {
  test("the build writes Inlet's LICENSE and the third-party notices next to it", () => {
    expect(buildOutput).toEqual(["LICENSE", "THIRD-PARTY-NOTICES.txt", "inlet"]);
  });

  test("the notices name every runtime dependency with its version and licence, and the geo data's attribution", async () => {
    for (const name of Object.keys(pkg.dependencies)) {
      const { version, license } = (await Bun.file(require.resolve(`${name}/package.json`)).json()) as { version: string; license: string };
      expect(notices).toContain(`\n${name}@${version}\nLicence: ${license}\n`);
    }
    expect(notices).toContain("Copyright Holder: Number Resource Organization (NRO)");
    expect(notices).not.toMatch(/AGPL|\bGPL-/);
  });
});

describe("the executable alone in an empty folder", () => {
  test("is one file, with no bun on PATH", () => {
    expect(readdirSync(runDir)).toEqual(["inlet"]);
    expect(Bun.which("bun", { PATH: env.PATH })).toBeNull();
  });

  test("--version prints the version and the commit it was built from", async () => {
    const { code, stdout } = await inlet(["--version"]);
    expect(code).toBe(0);
    const match = stdout.trim().match(/^inlet (\S+) \(commit (\S+)\)$/);
    expect(match?.[1]).toBe(pkg.version);
    expect(match?.[2]).toMatch(/^([0-9a-f]{12}(-dirty)?|unknown)$/);
  });

  test("serves, answers the CLI, and gives back what it stored", async () => {
    // The CLI and the server use the default database, ./data/inlet.db in the folder it runs in (or DATABASE_URL).
    const created = await inlet(["tenant", "create", "x"]);
    expect(created.code).toBe(0);
    const { tenantId, key: writeKey } = JSON.parse(created.stdout) as { tenantId: string; key: string };

    const port = freePort();
    const url = `http://127.0.0.1:${port}`;
    const server = Bun.spawn(["./inlet", "serve"], { cwd: runDir, env: { ...env, PORT: String(port) }, stdout: Bun.file(serveLog), stderr: "pipe" });
    try {
      for (let ready = false; !ready; await Bun.sleep(20)) {
        if (server.exitCode !== null) throw new Error(`serve exited with ${server.exitCode}: ${await Bun.file(serveLog).text()}`);
        ready = await fetch(`${url}/ready`).then(
          (r) => r.status === 200,
          () => false,
        );
      }
      expect((await inlet(["healthcheck"], { PORT: String(port) })).code).toBe(0);

      const send = (path: string, body: unknown) =>
        fetch(url + path, { method: "POST", headers: { authorization: `Bearer ${writeKey}`, "content-type": "application/json" }, body: JSON.stringify(body) });
      const track = await send("/v1/events/track", { event: "Signed Up", anonymousId: "a-1", messageId: "bin-1", context: { ip: "8.8.8.8" } });
      expect(await track.json()).toMatchObject({ success: true, messageId: "bin-1", status: "accepted" });
      const batch = await send("/v1/events/batch", {
        batch: [
          { type: "track", event: "Viewed", anonymousId: "a-1", messageId: "bin-2" },
          { type: "identify", userId: "u-1", anonymousId: "a-1", messageId: "bin-3", traits: { email: "u1@example.com" } },
        ],
      });
      expect(await batch.json()).toMatchObject({
        success: true,
        results: [
          { messageId: "bin-2", status: "accepted" },
          { messageId: "bin-3", status: "accepted" },
        ],
      });

      // The embedded browser SDK and Swagger UI.
      const sdk = await fetch(`${url}/sdk/inlet.js`);
      expect(sdk.status).toBe(200);
      expect(sdk.headers.get("content-type")).toBe("application/javascript; charset=utf-8");
      expect(await sdk.text()).toBe(await Bun.file(join(repoRoot, "sdk/dist/inlet.js")).text());
      const page = await fetch(`${url}/swagger`);
      expect(page.status).toBe(200);
      expect(await page.text()).not.toMatch(/https?:\/\//);
      for (const asset of ["/swagger/assets/swagger-ui-bundle.js", "/swagger/assets/swagger-ui.css"]) {
        const response = await fetch(url + asset);
        expect(response.status).toBe(200);
        expect((await response.arrayBuffer()).byteLength).toBeGreaterThan(10_000);
      }
      const spec = (await (await fetch(`${url}/swagger/json`)).json()) as { paths: Record<string, unknown> };
      expect(Object.keys(spec.paths)).toContain("/v1/events/track");
      // The debugger page and its bundled script.
      const debuggerPage = await fetch(`${url}/debugger`);
      expect(debuggerPage.status).toBe(200);
      expect(await debuggerPage.text()).toContain("/debugger/debugger.js");
      const debuggerScript = await fetch(`${url}/debugger/debugger.js`);
      expect(debuggerScript.status).toBe(200);
      expect(await debuggerScript.text()).toContain("/v1/debugger/stream");

      const backup = await inlet(["backup", "backup.db"]);
      if (TEST_STORE === "sqlite") {
        expect(backup.stderr).toBe("");
        expect(backup.code).toBe(0);
      } else {
        // A copy of the SQLite file; on PostgreSQL the answer points to pg_dump, and nothing is written.
        expect(backup.code).toBe(2);
        expect(backup.stderr).toContain("pg_dump");
        expect(readdirSync(runDir)).toEqual(["inlet"]);
      }
    } finally {
      server.kill("SIGTERM");
    }
    // Graceful shutdown on SIGTERM: exit 0.
    expect(await server.exited).toBe(0);
    expect((await inlet(["healthcheck"], { PORT: String(port) })).code).toBe(1);

    const exported = await inlet(["export", "--tenant", tenantId]);
    expect(exported.code).toBe(0);
    const events = ndjson(exported.stdout);
    expect(events.map((e) => [e.type, e.messageId])).toEqual([
      ["track", "bin-1"],
      ["track", "bin-2"],
      ["identify", "bin-3"],
    ]);
    // Enriched from the geo database embedded in the binary.
    expect(events[0]!.context.location).toMatchObject({ country: "US" });

    if (TEST_STORE === "sqlite") {
      const fromBackup = await inlet(["export", "--tenant", tenantId, "--db", "backup.db"]);
      expect(ndjson(fromBackup.stdout).map((e) => e.messageId)).toEqual(["bin-1", "bin-2", "bin-3"]);
    }
  });
});
