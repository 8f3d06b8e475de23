/**
 * `inlet backup <file>`: a consistent copy of the live database, taken while the server keeps
 * writing. The copy must be a sound SQLite file holding every event acknowledged before the
 * backup began, and a backup must never overwrite a file.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { cli, exportEvents, startTestServer, tempDir, type TestServer } from "./helpers/server";

let server: TestServer;
let dir: string;

beforeAll(async () => {
  server = await startTestServer();
  dir = tempDir("inlet-backup-");
});
afterAll(async () => {
  await server.stop();
});

describe("inlet backup", () => {
  test("includes what is still only in the write-ahead log (a copy of the .db file alone would not)", async () => {
    const fresh = await startTestServer();
    try {
      for (let i = 0; i < 20; i++) expect((await fresh.track({ event: "Recent", anonymousId: "a", messageId: `recent-${i}` })).status).toBe(200);
      const file = join(dir, "fresh.db");
      const result = await cli(["backup", file], { INLET_DB: fresh.dbPath });
      expect(result.code).toBe(0);
      const restored = (await exportEvents(file, fresh.tenantId)).map((e) => e.messageId);
      expect(restored).toEqual(Array.from({ length: 20 }, (_, i) => `recent-${i}`));
    } finally {
      await fresh.stop();
    }
  });

  test("copies the live database while it serves writes: sound, and with every event acknowledged before it started", async () => {
    // Some history first, so the copy has real pages to read.
    const seed = await server.post("/v1/events/batch", {
      batch: Array.from({ length: 500 }, (_, i) => ({ type: "track", event: "Seeded", anonymousId: `v-${i % 50}`, messageId: `seed-${i}` })),
    });
    expect(seed.status).toBe(200);

    const acknowledged: { messageId: string; at: number }[] = [];
    let writing = true;
    const writer = async (lane: number) => {
      for (let i = 0; writing; i++) {
        const messageId = `live-${lane}-${i}`;
        const response = await server.track({ event: "Live", anonymousId: `lane-${lane}`, messageId });
        expect(response.status).toBe(200);
        acknowledged.push({ messageId, at: performance.now() });
      }
    };
    const writers = [writer(1), writer(2), writer(3)];
    while (acknowledged.length < 50) await Bun.sleep(5);

    const file = join(dir, "nested", "copy.db");
    const backupStarted = performance.now();
    const ackedBefore = acknowledged.filter((a) => a.at <= backupStarted).map((a) => a.messageId);
    const result = await cli(["backup", file], { INLET_DB: server.dbPath });
    const backupEnded = performance.now();
    const ackedDuring = acknowledged.filter((a) => a.at > backupStarted && a.at < backupEnded).length;
    writing = false;
    await Promise.all(writers);

    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ file });
    // The server really was writing while the backup ran.
    expect(ackedDuring).toBeGreaterThan(0);

    const copy = new Database(file, { readonly: true });
    try {
      expect(copy.query("PRAGMA integrity_check").all()).toEqual([{ integrity_check: "ok" }]);
    } finally {
      copy.close();
    }
    // Read back the way an operator restoring it would: the CLI pointed at the copy.
    const restored = new Set((await exportEvents(file, server.tenantId)).map((e) => e.messageId));
    for (let i = 0; i < 500; i++) expect(restored.has(`seed-${i}`)).toBe(true);
    expect(ackedBefore.filter((id) => !restored.has(id))).toEqual([]);
    expect(ackedBefore.length).toBeGreaterThanOrEqual(50);
  });

  test("refuses to overwrite an existing file and leaves it as it was", async () => {
    const file = join(dir, "taken.db");
    await Bun.write(file, "not a database, but someone's file");
    const result = await cli(["backup", file], { INLET_DB: server.dbPath });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("already exists");
    expect(await Bun.file(file).text()).toBe("not a database, but someone's file");
  });

  test("says so when there is no database, and creates none", async () => {
    const missing = join(dir, "absent", "inlet.db");
    const result = await cli(["backup", join(dir, "never.db")], { INLET_DB: missing });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`no database at ${missing}`);
    expect(existsSync(missing)).toBe(false);
    expect(existsSync(join(dir, "never.db"))).toBe(false);
  });

  test("needs a file name", async () => {
    const result = await cli(["backup"], { INLET_DB: server.dbPath });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("inlet backup <file>");
  });
});
