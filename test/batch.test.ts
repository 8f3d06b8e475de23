import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { exportEvents, startTestServer, type TestServer } from "./helpers/server";

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(() => server.stop());

const batch = (key: string, body: unknown) => server.post("/v1/events/batch", body, { key });

describe("POST /v1/events/batch", () => {
  test("valid, invalid and duplicate events get their own status, in input order; one bad event loses nothing else", async () => {
    const t = await server.tenant("b1");
    await server.track({ event: "Earlier", anonymousId: "a", messageId: "already-stored" }, { key: t.writeKey });
    const res = await batch(t.writeKey, {
      batch: [
        { type: "track", event: "Viewed", anonymousId: "a", messageId: "m1" },
        { type: "track", anonymousId: "a", messageId: "m2" }, // no event name
        { type: "identify", userId: "u1", anonymousId: "a", traits: { email: "not-an-email" }, messageId: "m3" },
        { type: "track", event: "Viewed", anonymousId: "a", messageId: "already-stored" },
        { type: "page", name: "Home", anonymousId: "a", messageId: "m4", properties: { path: "/" } },
        { type: "teleport", anonymousId: "a", messageId: "m5" },
        { type: "track", event: "Viewed", anonymousId: "a", messageId: "m1" }, // duplicate inside the batch
        "not an object",
        { type: "screen", name: "Settings", userId: "u2", messageId: "m6" },
        { type: "group", groupId: "acme", userId: "u2", traits: { plan: "team" }, messageId: "m7" },
        { type: "alias", previousId: "a", userId: "u3", messageId: "m8" },
        { type: "identify", userId: "u1", anonymousId: "a", traits: { email: "ada@example.com" }, messageId: "m9" },
      ],
    });
    expect(res.status).toBe(200);
    const body = await res.json();
    expect(body.success).toBe(true);
    expect(body.results.map((r: { status: string }) => r.status)).toEqual([
      "accepted",
      "rejected",
      "rejected",
      "duplicate",
      "accepted",
      "rejected",
      "duplicate",
      "rejected",
      "accepted",
      "accepted",
      "accepted",
      "accepted",
    ]);
    expect(body.results.map((r: { messageId?: string }) => r.messageId)).toEqual([
      "m1",
      "m2",
      "m3",
      "already-stored",
      "m4",
      "m5",
      "m1",
      undefined,
      "m6",
      "m7",
      "m8",
      "m9",
    ]);
    expect(body.results[1].errors[0].path).toBe("/event");
    expect(body.results[2].errors[0].path).toBe("/traits/email");
    expect(body.results[5].errors[0].path).toBe("/type");

    const stored = await exportEvents(server.dbPath, t.tenantId);
    expect(stored.map((e) => e.messageId).sort()).toEqual(["already-stored", "m1", "m4", "m6", "m7", "m8", "m9"]);
    const page = stored.find((e) => e.messageId === "m4")!;
    expect(page).toMatchObject({ type: "page", name: "Home", properties: { path: "/" } });
    expect(stored.find((e) => e.messageId === "m6")).toMatchObject({ type: "screen", name: "Settings", userId: "u2" });
    expect(stored.find((e) => e.messageId === "m7")).toMatchObject({ type: "group", groupId: "acme", traits: { plan: "team" } });
    expect(stored.find((e) => e.messageId === "m8")).toMatchObject({ type: "alias", previousId: "a", userId: "u3" });
  });

  test("the batch's context merges under each item's own, and its sentAt corrects skew for every item", async () => {
    const t = await server.tenant("b2");
    const clientNow = Date.now() + 7_200_000; // client clock two hours fast
    const res = await batch(t.writeKey, {
      sentAt: new Date(clientNow).toISOString(),
      context: { library: { name: "test-lib", version: "1.0" }, locale: "fr-FR" },
      batch: [
        { type: "track", event: "A", anonymousId: "x", timestamp: new Date(clientNow - 60_000).toISOString(), context: { locale: "en-GB" } },
        { type: "track", event: "B", anonymousId: "x", timestamp: new Date(clientNow - 30_000).toISOString() },
      ],
    });
    expect(res.status).toBe(200);
    const stored = await exportEvents(server.dbPath, t.tenantId);
    const a = stored.find((e) => e.event === "A")!;
    const b = stored.find((e) => e.event === "B")!;
    expect(a.context.library).toEqual({ name: "test-lib", version: "1.0" });
    expect(a.context.locale).toBe("en-GB");
    expect(b.context.locale).toBe("fr-FR");
    expect(Date.parse(a.receivedAt) - Date.parse(a.timestamp)).toBe(60_000);
    expect(Date.parse(b.receivedAt) - Date.parse(b.timestamp)).toBe(30_000);
  });

  test("events of one visitor are sessionized in timestamp order, whatever the order in the batch", async () => {
    const t = await server.tenant("b3");
    const base = Date.parse("2026-11-01T10:00:00.000Z");
    const at = (min: number) => new Date(base + min * 60_000).toISOString();
    // In time order: 0, 20, 40 (one session, gaps of 20 min), then 100 (a new session).
    const res = await batch(t.writeKey, {
      batch: [100, 40, 0, 20].map((m) => ({ type: "track", event: `E${m}`, anonymousId: "v", timestamp: at(m) })),
    });
    expect(res.status).toBe(200);
    const stored = await exportEvents(server.dbPath, t.tenantId);
    const session = new Map(stored.map((e) => [e.event, e.sessionId]));
    expect(session.get("E0")).toBe(session.get("E20"));
    expect(session.get("E20")).toBe(session.get("E40"));
    expect(session.get("E100")).not.toBe(session.get("E40"));
  });

  test("limits: over 500 KB is 413, over 2,500 events is 400, an event over 32 KB is rejected alone", async () => {
    const t = await server.tenant("b4");
    // Over 32 KB in strings each under the 8 KB string cap, so the size rule is what rejects it.
    const blobs = Object.fromEntries(Array.from({ length: 5 }, (_, i) => [`blob${i}`, "x".repeat(7 * 1024)]));
    const big = { type: "track", event: "Big", anonymousId: "a", properties: blobs };
    const small = { type: "track", event: "Small", anonymousId: "a" };
    const mixed = await batch(t.writeKey, { batch: [small, big, small] });
    expect(mixed.status).toBe(200);
    const results = (await mixed.json()).results;
    expect(results.map((r: { status: string }) => r.status)).toEqual(["accepted", "rejected", "accepted"]);
    expect(results[1].errors[0].message).toMatch(/32768/);

    const tooBig = await batch(t.writeKey, { batch: Array.from({ length: 20 }, () => ({ ...big, properties: { blob: "y".repeat(30 * 1024) } })) });
    expect(tooBig.status).toBe(413);
    expect((await tooBig.json()).error.code).toBe("payload_too_large");

    const tooMany = await batch(t.writeKey, { batch: Array.from({ length: 2501 }, () => ({ type: "track", event: "E", anonymousId: "a" })) });
    expect(tooMany.status).toBe(400);
    expect((await tooMany.json()).error.message).toMatch(/2500/);

    const exactly = await batch(t.writeKey, { batch: Array.from({ length: 2500 }, (_, i) => ({ type: "track", event: "E", anonymousId: `a${i % 50}` })) });
    expect(exactly.status).toBe(200);
    expect((await exportEvents(server.dbPath, t.tenantId)).length).toBe(2 + 2500);
  });

  test("a body that is not a batch is a 400; writeKey in a text/plain body authenticates", async () => {
    const t = await server.tenant("b5");
    const notBatch = await batch(t.writeKey, { events: [] });
    expect(notBatch.status).toBe(400);
    expect((await notBatch.json()).error.details[0].path).toBe("/batch");
    const beacon = await fetch(`${server.url}/v1/events/batch`, {
      method: "POST",
      headers: { "content-type": "text/plain;charset=UTF-8" },
      body: JSON.stringify({ writeKey: t.writeKey, batch: [{ type: "track", event: "Beacon", anonymousId: "b" }] }),
    });
    expect(beacon.status).toBe(200);
    expect((await beacon.json()).results[0].status).toBe("accepted");
  });
});
