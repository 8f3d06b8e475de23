/**
 * The user agent parse cache is shared by every tenant of a server. Its key must tell apart every
 * (user agent, client hints) pair: a payload's `context.userAgent` is free text (it may hold line
 * breaks or any other character), so one tenant must not be able to write a cache entry that
 * another tenant's request then reads.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { CLIENT_HINT_HEADERS } from "../src/enrich/user-agent.ts";
import { exportEvents, startTestServer, type TestServer } from "./helpers/server";

const chromeWindows = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36";
/** What Chrome on Windows 11 sends beside its frozen "Windows NT 10.0" user agent. */
const windows11Hints: Record<string, string> = {
  "sec-ch-ua-platform": '"Windows"',
  "sec-ch-ua-platform-version": '"15.0.0"',
};

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(() => server.stop());

test("a crafted context.userAgent of one tenant cannot change the OS stored for another tenant's event", async () => {
  const attacker = await server.tenant("attacker");
  const victim = await server.tenant("victim");

  // The user agent followed by each client hint after a line break, in the order the hints are
  // read: what a cache key that joins the parts with "\n" would be for the victim's request.
  const crafted = [chromeWindows, ...CLIENT_HINT_HEADERS.map((name) => windows11Hints[name] ?? "")].join("\n");
  const planted = await server.track({ event: "Plant", anonymousId: "m", context: { userAgent: crafted } }, { key: attacker.writeKey });
  expect(planted.status).toBe(200);

  const res = await server.track({ event: "Visit", anonymousId: "v" }, { key: victim.writeKey, headers: { "user-agent": chromeWindows, ...windows11Hints } });
  expect(res.status).toBe(200);

  const [visit] = await exportEvents(server.dbPath, victim.tenantId);
  expect(visit!.context.userAgent).toBe(chromeWindows);
  expect(visit!.context.os).toEqual({ name: "Windows", version: "11" });
  // The attacker's own event is parsed from what it sent: no client hints, so the frozen UA's "10".
  const [plant] = await exportEvents(server.dbPath, attacker.tenantId);
  expect(plant!.context.userAgent).toBe(crafted);
  expect(plant!.context.os).toEqual({ name: "Windows", version: "10" });
});
