/**
 * Fairness between tenants: one tenant (a leaked public key) flooding the shared write queue
 * gets 503s once it holds its share (TENANT_QUEUE_SHARE of MAX_QUEUED_EVENTS), while another
 * tenant's writes still get in and are committed. Deterministic: commits are held (the writer's
 * pauseCommits, as the WAL checkpointer uses it; on PostgreSQL the batch recorder's) while the queue fills.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import type { BatchRecorder } from "../../src/pipeline/batch-record";
import { exportEvents, startTestServer, TEST_STORE, type TestServer } from "../helpers/server";

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer({ MAX_QUEUED_EVENTS: "100", TENANT_QUEUE_SHARE: "50" });
});
afterAll(async () => {
  await server.stop();
});

const batch = (prefix: string, n: number) => ({
  batch: Array.from({ length: n }, (_, i) => ({ type: "track", event: "Flood", anonymousId: "a", messageId: `${prefix}-${i}` })),
});

/** Polls a condition of the server's own state (no clock involved), at most 10 s. */
async function until(condition: () => boolean): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!condition() && Date.now() < deadline) await Bun.sleep(5);
  expect(condition()).toBe(true);
}

test("a tenant filling the queue gets 503 past its share; another tenant still gets 2xx, and every 2xx is committed", async () => {
  const writer = TEST_STORE === "postgres" ? (server.running.services.recorder as BatchRecorder) : server.running.services.sqlite!.writer;
  const flooder = await server.tenant("flooder");
  const resume = writer.pauseCommits();
  let settled = 0;
  const flood = Array.from({ length: 10 }, (_, i) =>
    server.post("/v1/batch", batch(`flood-${i}`, 10), { key: flooder.writeKey }).then((r) => {
      settled++;
      return r;
    }),
  );
  // Half the queue is the flooder's: 5 batches wait for the commit, 5 are refused at once.
  await until(() => writer.queuedEvents === 50 && settled === 5);
  const quiet = server.post("/v1/batch", batch("quiet", 10));
  await until(() => writer.queuedEvents === 60);
  resume();

  const quietAnswer = await quiet;
  expect(quietAnswer.status).toBe(200);
  const answers = await Promise.all(flood);
  const statuses = answers.map((r) => r.status).sort();
  expect(statuses).toEqual([200, 200, 200, 200, 200, 503, 503, 503, 503, 503]);
  for (const refused of answers.filter((r) => r.status === 503)) {
    expect(Number(refused.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    expect((await refused.json()).error.code).toBe("unavailable");
  }
  expect((await exportEvents(server.dbPath, server.tenantId)).map((e) => e.messageId).sort()).toEqual(
    batch("quiet", 10)
      .batch.map((e) => e.messageId)
      .sort(),
  );
  expect(await exportEvents(server.dbPath, flooder.tenantId)).toHaveLength(50);
});
