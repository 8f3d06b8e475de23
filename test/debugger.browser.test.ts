/**
 * The debugger page in real headless Chromium (playwright-core, /usr/bin/chromium) against a real
 * Inlet server (on SQLite, or with INLET_TEST_STORE=postgres on PostgreSQL): open /debugger, paste
 * an admin key, send accepted and rejected calls with curl and fetch, and see them appear with the
 * right statuses and reasons; filters, pause and resume, the stored event and the rejected payload
 * on click. `UPDATE_SCREENSHOT=1` rewrites docs/debugger.png.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";
import type { Browser, Page } from "playwright-core";
import { repoRoot, startTestServer, type TestServer } from "./helpers/server";

const CHROMIUM = "/usr/bin/chromium";
const skip = existsSync(CHROMIUM) ? "" : `${CHROMIUM} is absent (apt-get install -y chromium)`;
if (skip) console.warn(`[debugger e2e] skipped: ${skip}`);
/** How long the page may take to show what was sent (the issue asks for within a second; CI machines are slower). */
const SHOWN_WITHIN = 5_000;

describe.skipIf(!!skip)("the debugger page (headless Chromium, real server)", () => {
  let server: TestServer;
  let browser: Browser;
  let page: Page;
  let adminKey: string;

  beforeAll(async () => {
    server = await startTestServer();
    adminKey = (await server.running.services.tenants.createKey(server.tenantId, "admin")).key;
    const { chromium } = await import("playwright-core");
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"] });
    page = await browser.newPage({ viewport: { width: 1280, height: 640 } });
  });
  afterAll(async () => {
    await browser?.close();
    await server?.stop();
  });

  const rows = () => page.locator("#rows tr");
  // Asynchronous: the server runs in this process and must keep answering while curl waits.
  const curl = async (path: string, body: string) => {
    const run = Bun.spawn(
      [
        "curl",
        "-s",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        `${server.url}${path}`,
        "-H",
        `Authorization: Bearer ${server.writeKey}`,
        "-H",
        "Content-Type: application/json",
        "-d",
        body,
      ],
      { stdout: "pipe" },
    );
    return new Response(run.stdout).text();
  };

  test("shows accepted and rejected calls live, with their reasons", async () => {
    const errors: string[] = [];
    page.on("pageerror", (error) => errors.push(error.message));
    page.on("console", (message) => message.type() === "error" && errors.push(message.text()));
    await page.goto(`${server.url}/debugger`);
    await page.fill("#key", adminKey);
    await page.click("#key-form button[type=submit]");
    await page.locator("#state", { hasText: "live" }).waitFor({ timeout: SHOWN_WITHIN });
    // The key stays in this tab's sessionStorage, nowhere else.
    expect(await page.evaluate(() => sessionStorage.getItem("inlet.debugger.key"))).toBe(adminKey);
    expect(await page.evaluate(() => localStorage.length)).toBe(0);

    expect(await curl("/v1/track", JSON.stringify({ event: "Signed Up", userId: "ada", context: { library: { name: "curl-client", version: "1.0" } } }))).toBe(
      "200",
    );
    expect(await curl("/v1/track", JSON.stringify({ event: "Order Completed", anonymousId: "anon-7", properties: "not an object" }))).toBe("400");
    const batch = await server.post("/v1/batch", {
      batch: [
        { type: "page", name: "Pricing", anonymousId: "anon-7" },
        { type: "identify", userId: "grace", traits: { email: "not-an-email" } },
      ],
    });
    expect(batch.status).toBe(200);
    expect(await curl("/v1/events/track", "{broken")).toBe("400");

    await page.waitForFunction(() => document.querySelectorAll("#rows tr").length === 5, undefined, { timeout: SHOWN_WITHIN });
    const shown = await rows().evaluateAll((trs) =>
      trs.map((tr) =>
        Array.from(tr.querySelectorAll("td"))
          .slice(1, 5)
          .map((td) => td.textContent),
      ),
    );
    // Newest first.
    expect(shown).toEqual([
      ["track", "", "", "rejected"],
      ["identify", "", "grace", "rejected"],
      ["page", "Pricing", "anon-7", "accepted"],
      ["track", "Order Completed", "anon-7", "rejected"],
      ["track", "Signed Up", "ada", "accepted"],
    ]);

    // The rejection counter names each reason.
    const reasons = page.locator("#reasons");
    await reasons.getByText("/properties: ").waitFor({ timeout: SHOWN_WITHIN });
    await reasons.getByText("invalid_json").waitFor({ timeout: SHOWN_WITHIN });

    // A rejected call: every error, the payload as received, the endpoint, the key prefix.
    await rows().nth(3).click();
    const detail = page.locator("#detail");
    await detail.getByText("/properties").first().waitFor();
    const text = await detail.innerText();
    expect(text).toContain('"properties": "not an object"');
    expect(text).toContain("POST /v1/track");
    expect(text).toContain(server.writeKey.slice(0, 11));
    expect(text).toContain("curl/");

    // An accepted call: the stored, enriched event.
    await rows().nth(4).click();
    await detail.getByText('"sessionId"').waitFor({ timeout: SHOWN_WITHIN });
    expect(await detail.innerText()).toContain("curl-client 1.0");

    // Filters.
    await page.selectOption("#f-status", "rejected");
    expect(await rows().count()).toBe(3);
    await page.selectOption("#f-status", "");
    await page.fill("#f-user", "anon-7");
    expect(await rows().count()).toBe(2);
    await page.fill("#f-user", "");
    await page.selectOption("#f-type", "identify");
    expect(await rows().count()).toBe(1);
    await page.selectOption("#f-type", "");
    expect(errors).toEqual([]);

    if (process.env.UPDATE_SCREENSHOT) {
      await rows().nth(3).click();
      await page.screenshot({ path: join(repoRoot, "docs/debugger.png") });
    }
  });

  test("pause holds new calls back until resume", async () => {
    await page.click("#pause");
    expect(await curl("/v1/track", JSON.stringify({ event: "While Paused", anonymousId: "p" }))).toBe("200");
    await page.locator("#buffered", { hasText: "1 new while paused" }).waitFor({ timeout: SHOWN_WITHIN });
    expect(await rows().count()).toBe(5);
    await page.click("#pause");
    expect(await rows().count()).toBe(6);
    expect(await rows().first().innerText()).toContain("While Paused");
  });

  test("a write key is refused with the reason", async () => {
    const other = await browser.newPage();
    await other.goto(`${server.url}/debugger`);
    await other.fill("#key", server.writeKey);
    await other.click("#key-form button[type=submit]");
    await other.locator("#state", { hasText: "403" }).waitFor({ timeout: SHOWN_WITHIN });
    await other.close();
  });
});
