/**
 * Builds the SDK: dist/inlet.mjs (ESM), dist/inlet.js (IIFE, minified, global `inlet`; the Inlet server
 * serves it at /sdk/inlet.js) and dist/index.d.ts (declarations, by tsc). Prints the gzipped size.
 *   bun run sdk/build.ts
 */
import { gzipSync } from "node:zlib";
import { join } from "node:path";

const dir = import.meta.dir;
const out = join(dir, "dist");
const LIMIT = 5 * 1024;

async function build(entry: string, format: "esm" | "iife", naming: string, minify: boolean) {
  const r = await Bun.build({
    entrypoints: [join(dir, "src", entry)],
    outdir: out,
    naming,
    target: "browser",
    format,
    minify,
  });
  if (!r.success) {
    for (const l of r.logs) console.error(l);
    process.exit(1);
  }
}

await build("index.ts", "esm", "inlet.mjs", false);
await build("global.ts", "iife", "inlet.js", true);

const tsc = Bun.spawnSync(["bunx", "tsc", "-p", join(dir, "tsconfig.json")], { stdout: "inherit", stderr: "inherit" });
if (tsc.exitCode !== 0) process.exit(tsc.exitCode ?? 1);

const js = await Bun.file(join(out, "inlet.js")).bytes();
const gz = gzipSync(js, { level: 9 }).length;
console.log(`dist/inlet.js: ${js.length} bytes minified, ${gz} bytes gzip -9 (limit ${LIMIT})`);
if (gz > LIMIT) {
  console.error("the script-tag bundle is over 5 KB gzipped");
  process.exit(1);
}
