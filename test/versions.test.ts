import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { exportEvents, startTestServer, type TestServer } from "./helpers/server";

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(() => server.stop());

const LEGACY = "2025-06-01";
const CURRENT = "2026-11-01";
const comparable = (e: Record<string, any>) => {
  const { messageId, visitorId, sessionId, receivedAt, schemaVersion, ...rest } = e;
  const { ip, ...context } = rest.context;
  return { ...rest, context };
};

describe("payload schema versions (Inlet-Version)", () => {
  test("each version goes through the upgrade chain to the same stored event", async () => {
    const t = await server.tenant("v1");
    const timestamp = "2026-10-01T12:00:00.000Z";
    const legacy = await server.track(
      { eventName: "Order Completed", visitorId: "anon-7", props: { total: 30 }, timestamp, context: { locale: "nl-NL" } },
      { key: t.writeKey, headers: { "inlet-version": LEGACY } },
    );
    expect(legacy.status).toBe(200);
    const current = await server.track(
      { event: "Order Completed", anonymousId: "anon-7", properties: { total: 30 }, timestamp, context: { locale: "nl-NL" } },
      { key: t.writeKey, headers: { "inlet-version": CURRENT } },
    );
    expect(current.status).toBe(200);
    const noHeader = await server.track(
      { event: "Order Completed", anonymousId: "anon-7", properties: { total: 30 }, timestamp, context: { locale: "nl-NL" } },
      { key: t.writeKey },
    );
    expect(noHeader.status).toBe(200);

    const stored = await exportEvents(server.dbPath, t.tenantId);
    expect(stored).toHaveLength(3);
    expect(stored.map((e) => e.schemaVersion).sort()).toEqual([LEGACY, CURRENT, CURRENT]);
    expect(comparable(stored[0]!)).toEqual(comparable(stored[1]!));
    expect(comparable(stored[1]!)).toEqual(comparable(stored[2]!));
    expect(stored[0]).toMatchObject({ event: "Order Completed", anonymousId: "anon-7", properties: { total: 30 } });
    expect(stored[0]!.eventName).toBeUndefined();
    // The same visitor, whatever the version it was named in.
    expect(new Set(stored.map((e) => e.visitorId)).size).toBe(1);
  });

  test("identify and batch items upgrade too", async () => {
    const t = await server.tenant("v2");
    const identify = await server.post(
      "/v1/events/identify",
      { userId: "u", visitorId: "anon-9", traits: { name: "Old" } },
      { key: t.writeKey, headers: { "inlet-version": LEGACY } },
    );
    expect(identify.status).toBe(200);
    expect((await identify.json()).created).toBe(true);
    const batch = await server.post(
      "/v1/events/batch",
      {
        batch: [
          { type: "track", eventName: "Legacy A", visitorId: "anon-9", props: { a: 1 } },
          { type: "track", event: "Not legacy", anonymousId: "anon-9" }, // the current names are not version 2025-06-01
          { type: "page", visitorId: "anon-9" }, // no page call in 2025-06-01
        ],
      },
      { key: t.writeKey, headers: { "inlet-version": LEGACY } },
    );
    const body = await batch.json();
    expect(body.results.map((r: { status: string }) => r.status)).toEqual(["accepted", "rejected", "rejected"]);
    expect(body.results[1].errors[0].path).toBe("/eventName");
    expect(body.results[2].errors[0].message).toMatch(/no page call/);
    const stored = await exportEvents(server.dbPath, t.tenantId);
    expect(stored.find((e) => e.type === "track")).toMatchObject({ event: "Legacy A", anonymousId: "anon-9", properties: { a: 1 }, schemaVersion: LEGACY });
    expect(stored.find((e) => e.type === "identify")).toMatchObject({ anonymousId: "anon-9", traits: { name: "Old" } });
  });

  test("a deprecated version still works but answers Deprecation and Sunset headers and a warning", async () => {
    const res = await server.track({ eventName: "E", visitorId: "a" }, { headers: { "inlet-version": LEGACY } });
    expect(res.status).toBe(200);
    expect(res.headers.get("deprecation")).toMatch(/^@\d+$/);
    expect(Date.parse(res.headers.get("sunset")!)).toBe(Date.parse("2027-06-01T00:00:00Z"));
    const body = await res.json();
    expect(body.warnings[0]).toMatch(/deprecated/);
    const current = await server.track({ event: "E", anonymousId: "a" });
    expect(current.headers.get("deprecation")).toBeNull();
    expect((await current.json()).warnings).toBeUndefined();
  });

  test("an unknown version is a 400 listing the supported ones", async () => {
    const res = await server.track({ event: "E", anonymousId: "a" }, { headers: { "inlet-version": "1999-01-01" } });
    expect(res.status).toBe(400);
    const body = await res.json();
    expect(body.error.code).toBe("unsupported_version");
    expect(body.error.message).toContain(LEGACY);
    expect(body.error.message).toContain(CURRENT);
  });

  test("a payload that does not match its version's schema names the version and the path", async () => {
    const res = await server.track({ event: "E", anonymousId: "a" }, { headers: { "inlet-version": LEGACY } });
    expect(res.status).toBe(400);
    const body = await res.json();
    expect(body.error.message).toContain(LEGACY);
    expect(body.error.details[0].path).toBe("/eventName");
  });

  test("concurrent requests with mixed versions are each read in their own version", async () => {
    const t = await server.tenant("v3");
    const sends = Array.from({ length: 40 }, (_, i) =>
      i % 2 === 0
        ? server.track(
            { eventName: `E${i}`, visitorId: `v${i % 4}`, props: { i }, messageId: `m${i}` },
            { key: t.writeKey, headers: { "inlet-version": LEGACY } },
          )
        : server.track({ event: `E${i}`, anonymousId: `v${i % 4}`, properties: { i }, messageId: `m${i}` }, { key: t.writeKey }),
    );
    const answers = await Promise.all(sends);
    expect(answers.every((r) => r.status === 200)).toBe(true);
    const stored = await exportEvents(server.dbPath, t.tenantId);
    expect(stored).toHaveLength(40);
    for (const e of stored) {
      const i = Number(e.messageId.slice(1));
      expect(e).toMatchObject({ event: `E${i}`, anonymousId: `v${i % 4}`, properties: { i }, schemaVersion: i % 2 === 0 ? LEGACY : CURRENT });
    }
  });

  test("the version used is counted in the metrics", async () => {
    const count = async (version: string) => {
      const text = await (await fetch(`${server.url}/metrics`)).text();
      const line = text.split("\n").find((l) => l.startsWith(`inlet_events_by_schema_version_total{version="${version}"}`));
      return line ? Number(line.split(" ").at(-1)) : 0;
    };
    const [legacyBefore, currentBefore] = [await count(LEGACY), await count(CURRENT)];
    await server.track({ eventName: "E", visitorId: "m" }, { headers: { "inlet-version": LEGACY } });
    await server.post("/v1/events/batch", {
      batch: [
        { type: "track", event: "A", anonymousId: "m" },
        { type: "track", event: "B", anonymousId: "m" },
      ],
    });
    expect(await count(LEGACY)).toBe(legacyBefore + 1);
    expect(await count(CURRENT)).toBe(currentBefore + 2);
  });

  test("the OpenAPI document shows each version's schemas", async () => {
    const doc = await (await fetch(`${server.url}/swagger/json`)).json();
    const schemas = Object.keys(doc.components.schemas);
    expect(schemas).toContain(`track@${LEGACY}`);
    expect(schemas).toContain(`identify@${LEGACY}`);
    expect(schemas).toContain(`track@${CURRENT}`);
    expect(doc.components.schemas[`track@${LEGACY}`].properties.eventName).toBeDefined();
  });
});
