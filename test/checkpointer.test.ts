import { expect, test } from "bun:test";
import { statSync } from "node:fs";
import { startTestServer } from "./helpers/server";

test("WAL checkpoints happen off the request thread: committed pages reach the database file while the server runs", async () => {
  const server = await startTestServer();
  try {
    const before = statSync(server.dbPath).size;
    const batch = Array.from({ length: 500 }, (_, i) => ({ type: "track", event: "Filler", anonymousId: `v${i}`, properties: { pad: "x".repeat(400) } }));
    for (let i = 0; i < 4; i++) expect((await server.post("/v1/events/batch", { batch })).status).toBe(200);
    // The server's own connection never checkpoints (wal_autocheckpoint = 0); only the worker can
    // have copied these pages into the main file.
    let after = before;
    for (let i = 0; i < 100 && after <= before; i++) {
      await Bun.sleep(50);
      after = statSync(server.dbPath).size;
    }
    expect(after).toBeGreaterThan(before + 500 * 1024);
  } finally {
    await server.stop();
  }
});
