/**
 * One request's write failing inside a group commit (its savepoint rolled back) must leave the
 * other requests of that commit stored, and every session's numbers exact: the writer's cached
 * session and visitor state is rebuilt before the next job, not carried over from the failed one.
 * The failure is injected with a trigger that refuses marked messageIds.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { SQL } from "bun";
import { startTestServer, TEST_STORE, type TestServer } from "../helpers/server";
import { storeRows } from "../helpers/store-rows";
import { storeSessionsOutOfStep } from "./stored";

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
  if (TEST_STORE === "postgres") {
    const pg = new SQL({ url: server.dbPath, max: 1 });
    await pg.unsafe(`CREATE FUNCTION refuse_marked() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN IF NEW.message_id LIKE 'explode-%' THEN RAISE EXCEPTION 'injected failure'; END IF; RETURN NEW; END $$`);
    await pg.unsafe("CREATE TRIGGER refuse_marked BEFORE INSERT ON events FOR EACH ROW EXECUTE FUNCTION refuse_marked()");
    await pg.close();
  } else {
    const db = new Database(server.dbPath);
    db.run(`CREATE TRIGGER refuse_marked BEFORE INSERT ON events WHEN NEW.message_id LIKE 'explode-%'
            BEGIN SELECT RAISE(ABORT, 'injected failure'); END`);
    db.close();
  }
});
afterAll(() => server.stop());

test("a request failing inside a group commit loses nothing of the others, and sessions stay exact", async () => {
  const base = Date.now() - 60_000;
  const track = (anonymousId: string, messageId: string, offset: number) =>
    server.track({ event: "View", anonymousId, messageId, timestamp: new Date(base + offset).toISOString() });
  const acknowledged: string[] = [];
  for (let round = 0; round < 5; round++) {
    const requests = [
      ...Array.from({ length: 6 }, (_, i) => ({
        id: `ok-${round}-${i}`,
        send: () => track(i % 2 ? "shared" : `solo-${i}`, `ok-${round}-${i}`, round * 100 + i),
      })),
      // A batch whose third call fails: the whole request is refused, its first two calls too.
      {
        id: null,
        send: () =>
          server.post("/v1/events/batch", {
            batch: ["a", "b", "explode"].map((m, k) => ({
              type: "track",
              event: "Batch",
              anonymousId: "shared",
              messageId: `${m === "explode" ? "explode" : "lost"}-${round}-${k}`,
              timestamp: new Date(base + round * 100 + 50 + k).toISOString(),
            })),
          }),
      },
    ];
    const answers = await Promise.all(requests.map((r) => r.send()));
    answers.forEach((answer, k) => {
      const id = requests[k]!.id;
      if (id === null) expect(answer.status).toBe(500);
      else {
        expect(answer.status).toBe(200);
        acknowledged.push(id);
      }
    });
  }
  expect(await server.sessionsWritten()).toBe(true);

  const stored = (await storeRows(server.dbPath, "SELECT message_id AS id FROM events")).map((r) => r.id as string).sort();
  expect(stored).toEqual([...acknowledged].sort());
  // Every event's session exists (none points at a session whose insert was rolled back).
  expect(await storeRows(server.dbPath, "SELECT count(*) AS n FROM events WHERE session_id NOT IN (SELECT id FROM sessions)")).toEqual([{ n: 0 }]);
  expect(await storeRows(server.dbPath, "SELECT count(*) AS n FROM events WHERE visitor_id NOT IN (SELECT id FROM visitors)")).toEqual([{ n: 0 }]);
  expect(await storeSessionsOutOfStep(server.dbPath)).toEqual([]);
});
