/**
 * The debugger page's script: app/debugger.ts bundled for browsers by `bun build` into
 * dist/debugger/debugger.js. `bun run build` makes it before compiling (the executable embeds
 * it); a server run from source makes it on first request, so it always matches the source.
 */
import { existsSync, mkdirSync, renameSync } from "node:fs";
import { join } from "node:path";

export const PAGE_SCRIPT_SOURCE = join(import.meta.dir, "app/debugger.ts");
export const PAGE_SCRIPT_BUNDLE = join(import.meta.dir, "../../../dist/debugger/debugger.js");

/** True when running from a source checkout (the compiled executable has no app/debugger.ts). */
export const fromSource = (): boolean => existsSync(PAGE_SCRIPT_SOURCE);

/** Bundles the page script to PAGE_SCRIPT_BUNDLE (written whole, then renamed into place). */
export async function buildPageScript(): Promise<string> {
  const result = await Bun.build({ entrypoints: [PAGE_SCRIPT_SOURCE], target: "browser", format: "iife", minify: true });
  if (!result.success) throw new AggregateError(result.logs, "the debugger page script does not build");
  mkdirSync(join(PAGE_SCRIPT_BUNDLE, ".."), { recursive: true });
  const partial = `${PAGE_SCRIPT_BUNDLE}.${process.pid}.${Date.now()}.tmp`;
  await Bun.write(partial, await result.outputs[0]!.text());
  renameSync(partial, PAGE_SCRIPT_BUNDLE);
  return PAGE_SCRIPT_BUNDLE;
}
