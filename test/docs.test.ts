/**
 * Swagger UI at /swagger and the SDK bundle at /sdk/inlet.js come from files served by Inlet
 * itself (embedded in the binary), so the documentation works on a machine without internet.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { repoRoot, startTestServer, type TestServer } from "./helpers/server";

const CHROMIUM = "/usr/bin/chromium";
const sdkBundle = join(repoRoot, "sdk/dist/inlet.js");
let server: TestServer;

beforeAll(async () => {
  // The server embeds the built SDK bundle; a fresh checkout has not built it yet.
  if (!existsSync(sdkBundle)) {
    const build = Bun.spawnSync(["bun", "run", "build"], { cwd: join(repoRoot, "sdk"), stdout: "ignore", stderr: "pipe" });
    if (build.exitCode !== 0) throw new Error(`the SDK build failed: ${build.stderr}`);
  }
  server = await startTestServer();
});
afterAll(async () => {
  await server?.stop();
});

/** The URLs a page loads through src= and href= attributes. */
function referencedUrls(html: string): string[] {
  return [...html.matchAll(/\b(?:src|href)="([^"]+)"/g)].map((m) => m[1]!);
}

describe("/swagger", () => {
  test("the page loads Swagger UI from this server only", async () => {
    const response = await fetch(`${server.url}/swagger`);
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toStartWith("text/html");
    const html = await response.text();
    expect(html).toContain("SwaggerUIBundle");
    expect(html).not.toMatch(/https?:\/\//);
    const urls = referencedUrls(html).filter((u) => !u.startsWith("data:"));
    expect(urls.sort()).toEqual(["/swagger/assets/swagger-ui-bundle.js", "/swagger/assets/swagger-ui.css"]);
  });

  test("serves the Swagger UI assets with their types, and 304 for a cached copy", async () => {
    for (const [path, type, marker] of [
      ["/swagger/assets/swagger-ui-bundle.js", "application/javascript; charset=utf-8", "SwaggerUIBundle"],
      ["/swagger/assets/swagger-ui.css", "text/css; charset=utf-8", ".swagger-ui"],
    ] as const) {
      const response = await fetch(server.url + path);
      expect(response.status).toBe(200);
      expect(response.headers.get("content-type")).toBe(type);
      expect(response.headers.get("cache-control")).toContain("max-age=");
      expect(await response.text()).toContain(marker);
      const etag = response.headers.get("etag")!;
      expect(etag).toBeTruthy();
      const again = await fetch(server.url + path, { headers: { "if-none-match": etag } });
      expect(again.status).toBe(304);
    }
  });

  test("/swagger/json is the OpenAPI document of the API", async () => {
    const response = await fetch(`${server.url}/swagger/json`);
    expect(response.status).toBe(200);
    const doc = (await response.json()) as { openapi: string; info: { title: string }; paths: Record<string, unknown> };
    expect(doc.openapi).toStartWith("3.");
    expect(doc.info.title).toBe("Inlet");
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(["/v1/events/track", "/v1/events/batch", "/health", "/ready"]));
    expect(Object.keys(doc.paths).some((p) => p.startsWith("/swagger"))).toBe(false);
  });

  test.skipIf(!existsSync(CHROMIUM))("renders the operations in headless Chromium without any request to another host", async () => {
    const { chromium } = await import("playwright-core");
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
    });
    try {
      const page = await browser.newPage();
      const requested: string[] = [];
      page.on("request", (request) => requested.push(request.url()));
      await page.goto(`${server.url}/swagger`, { waitUntil: "networkidle" });
      await page.waitForSelector(".opblock-summary-path", { timeout: 15_000 });
      const paths = await page.$$eval(".opblock-summary-path", (nodes) => nodes.map((n) => n.textContent));
      expect(paths).toEqual(expect.arrayContaining(["/v1/events/track", "/v1/events/batch", "/health"]));
      expect(requested.filter((url) => !url.startsWith(`${server.url}/`))).toEqual([]);
    } finally {
      await browser.close();
    }
  });
});

describe("/sdk/inlet.js", () => {
  test("serves the built script-tag bundle as JavaScript with a cache header", async () => {
    const response = await fetch(`${server.url}/sdk/inlet.js`);
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("application/javascript; charset=utf-8");
    expect(response.headers.get("cache-control")).toBe("public, max-age=3600");
    expect(await response.text()).toBe(await Bun.file(sdkBundle).text());
  });
});
