/**
 * `inlet tenant set`: privacy and bot settings from the command line reach a running server (within
 * KEY_CACHE_TTL_SECONDS, 0 here), and bad values are refused instead of silently defaulted.
 * (The rate flags are tested with the rate limits, test/reliability/rate-limit.test.ts.)
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { cli, exportEvents, startTestServer, type TestServer, storeEnv } from "../helpers/server";

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer({ KEY_CACHE_TTL_SECONDS: "0" });
});
afterAll(() => server.stop());

const googlebot = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)";

test("--ip-policy and --bots change what a running server stores", { timeout: 60_000 }, async () => {
  const t = await server.tenant("cli-settings");
  const env = storeEnv(server.dbPath);
  const set = await cli(["tenant", "set", t.tenantId, "--ip-policy", "drop", "--bots", "drop"], env);
  expect(set.code).toBe(0);
  expect(JSON.parse(set.stdout)).toMatchObject({ tenantId: t.tenantId, settings: { ipPolicy: "drop", bots: "drop" } });

  expect((await server.track({ event: "Human", anonymousId: "a", context: { ip: "81.2.69.142" } }, { key: t.writeKey })).status).toBe(200);
  const bot = await server.track({ event: "Crawl", anonymousId: "b" }, { key: t.writeKey, headers: { "user-agent": googlebot } });
  expect((await bot.json()).status).toBe("dropped");
  const stored = await exportEvents(server.dbPath, t.tenantId);
  expect(stored.map((e) => e.event)).toEqual(["Human"]);
  expect(stored[0]!.context.ip).toBeUndefined();

  // Other settings are kept when one changes.
  const again = await cli(["tenant", "set", t.tenantId, "--bots", "keep"], env);
  expect(JSON.parse(again.stdout).settings).toMatchObject({ ipPolicy: "drop", bots: "keep" });
});

test("bad values, no flags and unknown tenants are refused with a message, changing nothing", { timeout: 60_000 }, async () => {
  const t = await server.tenant("cli-bad");
  const env = storeEnv(server.dbPath);
  const before = await server.running.services.tenants.getSettings(t.tenantId);
  for (const [flag, value] of [
    ["--ip-policy", "hide"],
    ["--bots", "FLAG"],
    ["--rate-eps", "-1"],
    ["--rate-rps", "1.5"],
  ] as const) {
    const result = await cli(["tenant", "set", t.tenantId, flag, value], env);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain(flag);
  }
  const none = await cli(["tenant", "set", t.tenantId], env);
  expect(none.code).toBe(2);
  expect(none.stderr).toContain("Nothing to set");
  const unknown = await cli(["tenant", "set", "no-such-tenant", "--bots", "keep"], env);
  expect(unknown.code).not.toBe(0);
  expect(unknown.stderr).toContain("no-such-tenant");
  expect(await server.running.services.tenants.getSettings(t.tenantId)).toEqual(before);
});
