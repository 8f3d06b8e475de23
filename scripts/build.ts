/**
 * `bun run build`: the one deployable file, dist/inlet (`bun build --compile`). Migrations, the
 * geo database, the browser SDK bundle, the debugger page's script and the Swagger UI assets are
 * embedded by their imports; this script builds the two bundles, bakes in the version and commit,
 * and writes LICENSE and THIRD-PARTY-NOTICES.txt (scripts/licenses.ts) beside the binary.
 *
 *   bun run build                                   # for this machine
 *   bun run build -- --target bun-linux-arm64       # or bun-linux-x64, bun-linux-x64-musl, bun-linux-arm64-musl
 *   bun run build -- --outfile /tmp/inlet
 *
 * The commit comes from INLET_COMMIT when set (a Docker build has no .git), else from git.
 */
import { copyFileSync, existsSync, readdirSync, rmSync, statSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { parseArgs } from "node:util";
import pkg from "../package.json";
import { buildPageScript } from "../src/modules/debugger/bundle";
import { noticesBeside, writeNotices } from "./licenses.ts";

const root = join(import.meta.dir, "..");
const { values } = parseArgs({
  args: Bun.argv.slice(2),
  options: {
    target: { type: "string" },
    outfile: { type: "string", default: join(root, "dist/inlet") },
  },
  strict: true,
});

const target = values.target as Bun.Build.CompileTarget | undefined;
if (target !== undefined && !/^bun-(linux|darwin|windows)-(x64|arm64|aarch64)/.test(target)) {
  console.error(`--target ${target}: expected e.g. bun-linux-x64, bun-linux-arm64, bun-linux-x64-musl`);
  process.exit(2);
}

function run(cmd: string[], cwd = root): string | null {
  try {
    const result = Bun.spawnSync(cmd, { cwd, stdout: "pipe", stderr: "pipe" });
    return result.exitCode === 0 ? result.stdout.toString().trim() : null;
  } catch {
    return null; // the command is not installed (e.g. no git in the Docker build stage)
  }
}

function buildCommit(): string {
  if (process.env.INLET_COMMIT) return process.env.INLET_COMMIT;
  const sha = run(["git", "rev-parse", "--short=12", "HEAD"]);
  if (!sha) return "unknown";
  const dirty = run(["git", "status", "--porcelain", "--untracked-files=no"]);
  return dirty ? `${sha}-dirty` : sha;
}

function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) newest = Math.max(newest, statSync(join(entry.parentPath, entry.name)).mtimeMs);
  }
  return newest;
}

/** The server embeds sdk/dist/inlet.js; build it when it is missing or older than the SDK's sources. */
function ensureSdkBundle(): void {
  const sdk = join(root, "sdk");
  const bundle = join(sdk, "dist/inlet.js");
  if (existsSync(bundle) && statSync(bundle).mtimeMs >= newestMtime(join(sdk, "src"))) return;
  console.log("building the browser SDK (sdk/dist/inlet.js)");
  const result = Bun.spawnSync(["bun", "run", "build"], { cwd: sdk, stdout: "inherit", stderr: "inherit" });
  if (result.exitCode !== 0 || !existsSync(bundle)) {
    console.error("the SDK build failed");
    process.exit(1);
  }
}

ensureSdkBundle();
// The debugger page's script (dist/debugger/debugger.js), embedded like the SDK bundle.
await buildPageScript();
const commit = buildCommit();
const started = performance.now();
const result = await Bun.build({
  entrypoints: [join(root, "src/main.ts")],
  compile: {
    ...(target ? { target } : {}),
    outfile: values.outfile,
    // The binary's configuration is the environment and its flags, nothing else: no .env or
    // bunfig.toml picked up from whatever directory it happens to be started in.
    autoloadDotenv: false,
    autoloadBunfig: false,
  },
  target: "bun",
  format: "esm",
  minify: true,
  // Precompiled bytecode: JavaScriptCore skips parsing at start-up (see bench/startup.ts).
  bytecode: true,
  // The source map is embedded in the executable, so stack traces in logs point into src/
  // rather than the minified bundle (the .map file written beside it is not needed; removed below).
  sourcemap: "linked",
  define: {
    INLET_BUILD_VERSION: JSON.stringify(pkg.version),
    INLET_BUILD_COMMIT: JSON.stringify(commit),
  },
});
if (!result.success) {
  for (const log of result.logs) console.error(log);
  process.exit(1);
}
rmSync(`${values.outfile}.map`, { force: true });
const size = statSync(values.outfile).size;
console.log(
  `${relative(process.cwd(), values.outfile) || values.outfile}: inlet ${pkg.version} (commit ${commit}), ${target ?? "this machine"}, ` +
    `${(size / 1024 / 1024).toFixed(1)} MiB, ${Math.round(performance.now() - started)} ms`,
);
// What ships with the binary: Inlet's licence and the licences of everything embedded in it.
copyFileSync(join(root, "LICENSE"), join(dirname(values.outfile), "LICENSE"));
const notices = noticesBeside(values.outfile);
console.log(`${relative(process.cwd(), notices) || notices}: the licences of ${writeNotices(notices)} embedded packages`);
