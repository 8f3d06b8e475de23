/**
 * Swagger UI at /swagger and the SDK bundle at /sdk/inlet.js come from files served by Inlet
 * itself (embedded in the binary), so the documentation works on a machine without internet.
 * And the written documentation stays true: docs/api.md's route table is the routes the server
 * registers, its error table the codes the code answers, and no page for users speaks of how
 * Inlet was made instead of what it does.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { Glob } from "bun";
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

  test.skipIf(!existsSync(CHROMIUM))(
    "renders the operations in headless Chromium without any request to another host, and runs a request, within its Content-Security-Policy",
    async () => {
      const { chromium } = await import("playwright-core");
      const browser = await chromium.launch({
        executablePath: CHROMIUM,
        args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
      });
      try {
        const page = await browser.newPage();
        const requested: string[] = [];
        page.on("request", (request) => requested.push(request.url()));
        // Anything the page's Content-Security-Policy blocks (see src/http/html-page.ts).
        const refused: string[] = [];
        page.on("console", (message) => {
          if (/Content Security Policy|Refused to/i.test(message.text())) refused.push(message.text());
        });
        await page.addInitScript(() => {
          document.addEventListener("securitypolicyviolation", (e) => console.error(`Refused to ${e.violatedDirective} ${e.blockedURI}`));
        });
        await page.goto(`${server.url}/swagger`, { waitUntil: "networkidle" });
        await page.waitForSelector(".opblock-summary-path", { timeout: 15_000 });
        const paths = await page.$$eval(".opblock-summary-path", (nodes) => nodes.map((n) => n.textContent));
        expect(paths).toEqual(expect.arrayContaining(["/v1/events/track", "/v1/events/batch", "/health"]));
        // Try it out: GET /health from the page.
        const health = page.locator(".opblock", { has: page.locator(".opblock-summary-path", { hasText: /^\/health$/ }) }).first();
        await health.locator(".opblock-summary").click();
        await health.locator("button.try-out__btn").click();
        await health.locator("button.execute").click();
        const status = health.locator(".live-responses-table tr.response .response-col_status").first();
        await status.waitFor({ timeout: 15_000 });
        expect(await status.textContent()).toContain("200");
        expect(refused).toEqual([]);
        expect(requested.filter((url) => !url.startsWith(`${server.url}/`))).toEqual([]);
      } finally {
        await browser.close();
      }
    },
  );
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

/** The rows of the first table after `heading` in a Markdown text, as arrays of trimmed cells. */
function tableRows(markdown: string, heading: string): string[][] {
  const start = markdown.indexOf(`\n${heading}\n`);
  if (start < 0) throw new Error(`no "${heading}" section`);
  const lines = markdown.slice(start + heading.length + 2).split("\n");
  const first = lines.findIndex((line) => line.startsWith("|"));
  const rows: string[][] = [];
  for (const line of lines.slice(first + 2)) {
    if (!line.startsWith("|")) break;
    rows.push(
      line
        .slice(1, line.endsWith("|") ? -1 : undefined)
        .split("|")
        .map((cell) => cell.trim()),
    );
  }
  return rows;
}

/** `GET /v1/projects/{writeKey}/settings?x=1` and `<writeKey>` spellings become Elysia's `:writeKey`. */
const routeKey = (method: string, path: string) => `${method.toUpperCase()} ${path.split("?")[0]!.replace(/\{(\w+)\}|<(\w+)>/g, (_, a, b) => `:${a ?? b}`)}`;

const apiDoc = () => Bun.file(join(repoRoot, "docs/api.md")).text();

describe("docs/api.md", () => {
  test("its route table lists exactly the routes the server registers (hidden ones may be listed)", async () => {
    const registered = server.running.app.routes
      // CORS preflights (OPTIONS /*) are answered for every path, not routes of their own.
      .filter((route) => route.method !== "OPTIONS")
      .map((route) => ({ key: routeKey(route.method, route.path), hidden: (route.hooks as { detail?: { hide?: boolean } }).detail?.hide === true }));
    const documented = tableRows(await apiDoc(), "## Routes").flatMap(([cell]) =>
      [...cell!.matchAll(/`(GET|POST|PUT|PATCH|DELETE|HEAD) (\/[^`\s]*)`/g)].map((m) => routeKey(m[1]!, m[2]!)),
    );
    expect(documented.length).toBeGreaterThan(0);
    const all = new Set(registered.map((route) => route.key));
    const missing = registered.filter((route) => !route.hidden && !documented.includes(route.key)).map((route) => route.key);
    expect({ missing, notRegistered: documented.filter((key) => !all.has(key)) }).toEqual({ missing: [], notRegistered: [] });
  });

  test("its error table has every status and code the server answers with, and no other", async () => {
    const answered = new Set<string>();
    for (const file of new Glob("src/**/*.ts").scanSync(repoRoot)) {
      const source = await Bun.file(join(repoRoot, file)).text();
      for (const m of source.matchAll(/(?:new ApiError|reply)\(\s*(\d{3}),\s*"([a-z_]+)"/g)) answered.add(`${m[1]} ${m[2]}`);
    }
    expect(answered.size).toBeGreaterThan(5);
    const documented = new Set(tableRows(await apiDoc(), "## Errors").map(([status, code]) => `${status} ${code!.replaceAll("`", "")}`));
    expect({
      undocumented: [...answered].filter((e) => !documented.has(e)).sort(),
      neverAnswered: [...documented].filter((e) => !answered.has(e)).sort(),
    }).toEqual({
      undocumented: [],
      neverAnswered: [],
    });
  });
});

describe("pages for users", () => {
  const pages = [
    "README.md",
    "sdk/README.md",
    ...readdirSync(join(repoRoot, "docs"))
      .filter((f) => f.endsWith(".md"))
      .map((f) => `docs/${f}`),
  ];
  /** Words that belong to how Inlet was built, not to what it does. */
  const internal: [string, RegExp][] = [
    ["an issue number", /\bissues? #?\d+|(?:^|\s)#\d+\b/gim],
    ["a brief", /\bbrief\b/gi],
    ["a closing note", /\bclosing notes?\b/gi],
    ["a helper", /\bhelpers?\b/gi],
    ["a working session", /\b(?:working|coding|agent|chat|review|development) sessions?\b|\bsessions? of (?:the|this) project\b|\bfiled by\b/gi],
    ["a commit hash", /(?<![\w-])(?=[0-9a-f]*\d)(?=[0-9a-f]*[a-f])[0-9a-f]{7,40}(?![\w-])/g],
  ];

  test.each(pages)("%s names no internal process", async (page) => {
    const text = await Bun.file(join(repoRoot, page)).text();
    const found = internal.flatMap(([what, pattern]) => [...text.matchAll(pattern)].map((m) => `${what}: ${m[0].trim()}`));
    expect(found).toEqual([]);
  });

  /** GitHub's anchors: the heading lower-cased, punctuation dropped, spaces as hyphens. */
  const anchors = (markdown: string) =>
    new Set(
      [...markdown.replace(/```[\s\S]*?```/g, "").matchAll(/^#+ (.*)$/gm)].map((m) =>
        m[1]!
          .trim()
          .toLowerCase()
          .replace(/[^\w\- ]/g, "")
          .replaceAll(" ", "-"),
      ),
    );

  test.each(pages)("%s links only to files and headings that exist", async (page) => {
    const text = await Bun.file(join(repoRoot, page)).text();
    const broken: string[] = [];
    for (const [, link] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
      if (/^[a-z]+:/.test(link!)) continue;
      const [path, anchor] = link!.split("#") as [string, string | undefined];
      const target = path ? join(repoRoot, page, "..", path) : join(repoRoot, page);
      if (!existsSync(target)) broken.push(link!);
      else if (anchor && target.endsWith(".md") && !anchors(await Bun.file(target).text()).has(anchor)) broken.push(link!);
    }
    expect(broken).toEqual([]);
  });

  test("the check finds what it looks for", () => {
    const sample = "As the brief says (issue 4, #17), since 3663a42 the helper's closing note in this working session";
    const found = internal.filter(([, pattern]) => [...sample.matchAll(pattern)].length > 0).map(([what]) => what);
    expect(found).toEqual(internal.map(([what]) => what));
  });
});
