import { afterAll, beforeAll, expect, test } from "bun:test";
import { startTestServer, type TestServer } from "./helpers/server";
import { storeRows } from "./helpers/store-rows";

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(() => server.stop());

const visitorRow = async (tenantId: string, anonymousId: string) =>
  (await storeRows(server.dbPath, "SELECT * FROM visitors WHERE tenant_id = ? AND anonymous_id = ?", tenantId, anonymousId))[0]!;

test("a visitor's first and last seen follow its events (last seen to the minute), and a userId sticks", async () => {
  const t = await server.tenant("visitors");
  const at = (s: number) => new Date(Date.parse("2026-11-20T10:00:00.000Z") + s * 1000).toISOString();
  const send = (s: number, extra: Record<string, unknown> = {}) =>
    server.track({ event: "E", anonymousId: "v", timestamp: at(s), ...extra }, { key: t.writeKey });

  await send(0);
  expect(await visitorRow(t.tenantId, "v")).toMatchObject({ first_seen_at: Date.parse(at(0)), last_seen_at: Date.parse(at(0)), user_id: null });
  await send(30); // within the minute: not written
  expect((await visitorRow(t.tenantId, "v")).last_seen_at).toBe(Date.parse(at(0)));
  await send(90); // a minute or more later: written
  expect((await visitorRow(t.tenantId, "v")).last_seen_at).toBe(Date.parse(at(90)));
  await send(-600); // an older event moves first seen back
  expect(await visitorRow(t.tenantId, "v")).toMatchObject({ first_seen_at: Date.parse(at(-600)), last_seen_at: Date.parse(at(90)) });
  await send(100, { userId: "u-9" }); // a new userId is written at once
  expect((await visitorRow(t.tenantId, "v")).user_id).toBe("u-9");
});
