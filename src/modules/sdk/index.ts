/**
 * GET /sdk/inlet.js: the browser SDK's script-tag bundle (sdk/dist/inlet.js, an IIFE defining the
 * global `inlet`), embedded in the executable so a site can load it from its own Inlet server.
 */
import { Elysia } from "elysia";
import { staticAsset } from "../../http/static-asset";

// A dynamic import, so that running from a source checkout where the SDK was never built still
// works (the route answers 404); `bun run build` builds the SDK first, so the binary always has it.
const bundlePath = async (): Promise<string> => (await import("../../../sdk/dist/inlet.js", { with: { type: "file" } })).default;

export function sdkController() {
  return new Elysia().get(
    "/sdk/inlet.js",
    staticAsset(bundlePath, {
      contentType: "application/javascript; charset=utf-8",
      // The URL carries no version: an hour keeps page loads cheap and lets an upgrade reach browsers the same day.
      cacheControl: "public, max-age=3600",
      missing: "The browser SDK is not built into this server (run `bun run --cwd sdk build`).",
    }),
    // A static file: the OpenAPI document leaves it out (the plugin's excludeStaticFile).
    { detail: { hide: true } },
  );
}
