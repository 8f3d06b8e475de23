/**
 * Segment's settings route names the host every analytics-next browser sends its events to. A
 * caller must not be able to choose it for others: `X-Forwarded-Host` counts only from a trusted
 * proxy, `PUBLIC_URL` wins over every header, and an answer built from request headers is never
 * cached (a CDN in front would otherwise serve a poisoned answer to everyone).
 */
import { afterEach, describe, expect, test } from "bun:test";
import { cli, startTestServer, type TestServer } from "../helpers/server";

let server: TestServer | undefined;
afterEach(async () => {
  await server?.stop();
  server = undefined;
});

const evil = { "x-forwarded-host": "evil.example", "x-forwarded-proto": "https" };

async function settings(s: TestServer, headers: Record<string, string> = {}) {
  const response = await fetch(`${s.url}/v1/projects/${s.writeKey}/settings`, { headers });
  expect(response.status).toBe(200);
  const body = (await response.json()) as { integrations: Record<string, { apiHost: string; protocol: string }> };
  return { ...body.integrations["Segment.io"]!, cacheControl: response.headers.get("cache-control") ?? "", vary: response.headers.get("vary") ?? "" };
}

describe("the settings route's apiHost", () => {
  test("without TRUST_PROXY, X-Forwarded-Host and -Proto are ignored, and the answer is not cacheable", async () => {
    server = await startTestServer();
    const answer = await settings(server, evil);
    expect(answer.apiHost).toBe(new URL(server.url).host);
    expect(answer.protocol).toBe("http");
    expect(answer.cacheControl).toContain("no-store");
    expect(answer.vary).toContain("X-Forwarded-Host");
    expect(answer.vary).toContain("Host");
  });

  test("from a trusted proxy, X-Forwarded-Host and -Proto are used, still not cacheable", async () => {
    server = await startTestServer({ TRUST_PROXY: "127.0.0.1" });
    const answer = await settings(server, { "x-forwarded-host": "events.example.com", "x-forwarded-proto": "https" });
    expect(answer).toMatchObject({ apiHost: "events.example.com", protocol: "https" });
    expect(answer.cacheControl).toContain("no-store");
    // A value that is not a host is not echoed.
    expect((await settings(server, { "x-forwarded-host": "evil.example/<script>" })).apiHost).toBe(new URL(server.url).host);
  });

  test("PUBLIC_URL wins over every header (even from a trusted proxy), and the shared answer may be cached", async () => {
    server = await startTestServer({ PUBLIC_URL: "https://events.example.com/inlet/", TRUST_PROXY: "127.0.0.1" });
    for (const headers of [{}, evil]) {
      const answer = await settings(server, headers);
      expect(answer).toMatchObject({ apiHost: "events.example.com/inlet", protocol: "https" });
      expect(answer.cacheControl).toMatch(/^public, max-age=\d+$/);
    }
  });

  test("a PUBLIC_URL that is not an http(s) URL stops the server at start, naming the setting", async () => {
    for (const value of ["events.example.com", "ftp://events.example.com", "https://events.example.com/?x=1"]) {
      const result = await cli(["serve"], { PUBLIC_URL: value, PORT: "0", INLET_DB: ":memory:" });
      expect(result.code).toBe(2);
      expect(result.stderr).toContain("PUBLIC_URL");
    }
  });
});
