/**
 * The exported `App` type is complete: Elysia's own typed client (eden treaty) calls the
 * ingestion routes with bodies checked by the compiler (test/types/eden-wrong-body.ts shows a
 * wrong body failing `tsc`), over real HTTP to a real server.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { treaty } from "@elysiajs/eden";
import type { App } from "../src/app";
import { exportEvents, startTestServer, type TestServer } from "./helpers/server";

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(() => server.stop());

const client = () => treaty<App>(server.url, { headers: { authorization: `Bearer ${server.writeKey}` } });

test("track through the typed client: the answer is typed too", async () => {
  const { data, error, status } = await client().v1.events.track.post({ event: "Signed Up", anonymousId: "eden-1", properties: { plan: "pro" } });
  expect(error).toBeNull();
  expect(status).toBe(200);
  expect(data?.status).toBe("accepted");
  // Segment's path for the same call is typed the same way.
  const segment = await client().v1.track.post({ event: "Signed Up", anonymousId: "eden-1" });
  expect(segment.data?.success).toBe(true);
});

test("batch through the typed client", async () => {
  const { data, status } = await client().v1.events.batch.post({
    batch: [
      { type: "track", event: "Viewed", anonymousId: "eden-2", messageId: "eden-b1" },
      { type: "identify", userId: "eden-user", anonymousId: "eden-2", messageId: "eden-b2" },
    ],
  });
  expect(status).toBe(200);
  expect(data?.results.map((r) => r.status)).toEqual(["accepted", "accepted"]);
  const stored = await exportEvents(server.dbPath, server.tenantId);
  expect(stored.map((e) => e.messageId)).toEqual(expect.arrayContaining(["eden-b1", "eden-b2"]));
});

test("identify's answer carries the lead, typed", async () => {
  const { data } = await client().v1.events.identify.post({ userId: "eden-lead", traits: { email: "eden@example.com" } });
  expect(data?.created).toBe(true);
  expect(typeof data?.leadId).toBe("string");
});
