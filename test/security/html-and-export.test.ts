/**
 * Smaller hardening: HTML pages send the headers that keep them from being framed, sniffed or
 * leaking the reader's address (test/docs.test.ts checks Swagger UI still works under that policy);
 * exports escape the characters other languages' line splitters break on.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { exportEvents, cli, startTestServer, type TestServer, storeEnv } from "../helpers/server";

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer();
});
afterAll(async () => {
  await server?.stop();
});

describe("HTML pages", () => {
  test("/swagger (and /swagger/) send nosniff, a CSP that forbids framing, and a Referrer-Policy", async () => {
    for (const path of ["/swagger", "/swagger/"]) {
      const response = await fetch(server.url + path);
      expect(response.status).toBe(200);
      expect(response.headers.get("content-type")).toStartWith("text/html");
      expect(response.headers.get("x-content-type-options")).toBe("nosniff");
      const csp = response.headers.get("content-security-policy") ?? "";
      expect(csp).toContain("frame-ancestors 'none'");
      expect(csp).toMatch(/script-src 'self'/);
      expect(csp).not.toContain("unsafe-eval");
      expect(csp).not.toMatch(/script-src[^;]*'unsafe-inline'/);
      expect(response.headers.get("referrer-policy")).toBe("no-referrer");
      await response.arrayBuffer();
    }
    // The page's assets cannot be sniffed into another type either.
    const asset = await fetch(`${server.url}/swagger/assets/swagger-ui-bundle.js`);
    expect(asset.headers.get("x-content-type-options")).toBe("nosniff");
    await asset.arrayBuffer();
  });
  // Swagger UI under this policy in a real browser: test/docs.test.ts.
});

describe("exports", () => {
  test("U+2028, U+2029 and U+0085 are escaped: one event per line for every line splitter, values intact", async () => {
    const text = "line\u2028separator\u2029paragraph\u0085next-line";
    const response = await server.track({ event: "Splitters", anonymousId: "a", messageId: "splitters-1", properties: { text } });
    expect(response.status).toBe(200);
    const raw = await cli(["export", "--tenant", server.tenantId], storeEnv(server.dbPath));
    expect(raw.code).toBe(0);
    expect(raw.stdout).not.toMatch(/[\u2028\u2029\u0085]/);
    // Python's str.splitlines() and Java's line readers split on these; JavaScript's on the first two.
    const lines = raw.stdout.split(/\r\n|[\n\r\v\f\x1c-\x1e\u0085\u2028\u2029]/).filter((l) => l !== "");
    expect(lines).toHaveLength(1);
    const [event] = await exportEvents(server.dbPath, server.tenantId);
    expect(event!.properties.text).toBe(text);
  });
});
