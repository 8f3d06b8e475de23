/**
 * Segment's browser library (analytics-next, its published UMD bundle from @segment/analytics-next)
 * in real headless Chromium, loaded on a page of another origin with `cdnURL` pointed at Inlet:
 * it fetches its settings from Inlet, then sends anonymous track and page calls (`userId: null`)
 * and an identify. Every call must be stored once, in the store of the run (a SQLite file, or with
 * INLET_TEST_STORE=postgres a PostgreSQL database). Run twice: with the apiHost Inlet's settings
 * give (the host: `/t`, `/p`, `/i`), and with an apiHost ending in `/v1` (Segment's proxy setup).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";
import type { Browser } from "playwright-core";
import { exportEvents, repoRoot, startTestServer, type TestServer } from "./helpers/server";

const CHROMIUM = "/usr/bin/chromium";
const BUNDLES = join(repoRoot, "node_modules/@segment/analytics-next/dist/umd");
const skip = !existsSync(CHROMIUM) ? `${CHROMIUM} is absent` : !existsSync(join(BUNDLES, "index.js")) ? "@segment/analytics-next is not installed" : "";
if (skip) console.warn(`[analytics-next e2e] skipped: ${skip}`);

describe.skipIf(!!skip)("analytics-next in Chromium, pointed at Inlet", () => {
  let server: TestServer;
  let site: ReturnType<typeof Bun.serve>;
  let browser: Browser;

  beforeAll(async () => {
    server = await startTestServer();
    site = Bun.serve({
      port: 0,
      hostname: "127.0.0.1",
      async fetch(request) {
        const { pathname } = new URL(request.url);
        // The library and its lazily loaded chunks (webpack public path: <_cdn>/analytics-next/bundles/).
        const bundle = pathname.match(/^\/(?:umd|analytics-next\/bundles)\/([\w.-]+\.js)$/);
        if (bundle) {
          const file = Bun.file(join(BUNDLES, bundle[1]!));
          return (await file.exists()) ? new Response(file, { headers: { "content-type": "text/javascript" } }) : new Response(null, { status: 404 });
        }
        if (pathname === "/") return new Response(PAGE(site.url.origin), { headers: { "content-type": "text/html" } });
        return new Response(null, { status: 404 });
      },
    });
    const { chromium } = await import("playwright-core");
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"] });
  });

  afterAll(async () => {
    await browser?.close();
    site?.stop(true);
    await server?.stop();
  });

  for (const variant of ["settings' apiHost (/t, /p, /i)", "apiHost ending in /v1 (/v1/t, /v1/p, /v1/i)"]) {
    test(`anonymous track and page, then identify, each stored once: ${variant}`, async () => {
      const tenant = await server.tenant("analytics-next");
      const apiHost = variant.startsWith("apiHost") ? `${new URL(server.url).host}/v1` : null;
      const context = await browser.newContext();
      const page = await context.newPage();
      const posted: { path: string; status: number }[] = [];
      page.on("response", (response) => {
        const url = new URL(response.url());
        if (response.request().method() === "POST" && url.origin === server.url) posted.push({ path: url.pathname, status: response.status() });
      });
      try {
        await page.goto(site.url.origin + "/");
        const sent = (await page.evaluate(([writeKey, cdnURL, host]) => (window as any).run(writeKey, cdnURL, host), [
          tenant.writeKey,
          server.url,
          apiHost,
        ] as const)) as {
          type: string;
          messageId: string;
          userId: string | null;
          anonymousId: string;
        }[];
        expect(sent.map((e) => e.type)).toEqual(["track", "page", "identify"]);
        // What analytics-next sent: anonymous calls with userId null (the case Inlet used to refuse).
        expect(sent[0]!.userId).toBeNull();
        const prefix = apiHost ? "/v1" : "";
        expect(posted).toEqual([
          { path: `${prefix}/t`, status: 200 },
          { path: `${prefix}/p`, status: 200 },
          { path: `${prefix}/i`, status: 200 },
        ]);

        const stored = await exportEvents(server.dbPath, tenant.tenantId);
        expect(stored).toHaveLength(3);
        for (const call of sent) {
          const matches = stored.filter((e) => e.messageId === call.messageId);
          expect(matches).toHaveLength(1);
          expect(matches[0]).toMatchObject({ type: call.type, anonymousId: call.anonymousId });
          expect(matches[0]!.context.library.name).toBe("analytics.js");
        }
        const byType = Object.fromEntries(stored.map((e) => [e.type, e]));
        expect(byType.track).toMatchObject({ event: "Plan Selected", properties: { plan: "pro" } });
        expect(byType.track.userId).toBeUndefined();
        expect(byType.page.properties.path).toBe("/");
        expect(byType.identify).toMatchObject({ userId: "ada-4711", traits: { email: "ada.lovelace@example.com" } });
        // One visitor: the identify links the anonymous calls' visitor to the person.
        expect(new Set(stored.map((e) => e.anonymousId)).size).toBe(1);
      } finally {
        await context.close();
      }
    }, 60_000);
  }
});

/** The site's page: loads the library from its own origin (as a site bundling it would). */
const PAGE = (origin: string) => `<!doctype html>
<html><head><title>Shop</title>
<script>window.analytics = { _cdn: ${JSON.stringify(origin)} };</script>
<script src="/umd/index.js"></script>
<script>
  window.run = async (writeKey, cdnURL, apiHost) => {
    const options = apiHost ? { integrations: { "Segment.io": { apiHost, protocol: "http" } } } : {};
    const [analytics] = await AnalyticsNext.AnalyticsBrowser.load({ writeKey, cdnURL }, options);
    const calls = [
      await analytics.track("Plan Selected", { plan: "pro" }),
      await analytics.page(),
      await analytics.identify("ada-4711", { email: "ada.lovelace@example.com" }),
    ];
    return calls.map((ctx) => ({ type: ctx.event.type, messageId: ctx.event.messageId, userId: ctx.event.userId ?? null, anonymousId: ctx.event.anonymousId }));
  };
</script>
</head><body>Shop</body></html>`;
