import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { exportEvents, repoRoot, startTestServer, type TestServer } from "./helpers/server";
import { storeRows } from "./helpers/store-rows";

const geoDir = join(repoRoot, "../shared/testdata/geo");
const haveGeo = existsSync(join(geoDir, "GeoLite2-City-Test.mmdb"));
if (!haveGeo) console.warn(`enrichment.test.ts: ${geoDir} is absent; the City/ASN database cases are skipped`);

const chromeMac = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";

describe("enrichment through the real server (embedded country database)", () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ TRUST_PROXY: "127.0.0.1/32" });
  });
  afterAll(() => server.stop());

  test("every stored event gets ip, location, user agent, campaign and channel under context; the session keeps them", async () => {
    const t = await server.tenant("e1");
    const res = await server.track(
      {
        event: "Landed",
        anonymousId: "v1",
        context: { page: { url: "https://shop.example/?utm_source=Google&utm_medium=CPC&utm_campaign=winter", referrer: "https://www.google.com/" } },
      },
      { key: t.writeKey, headers: { "user-agent": chromeMac, "x-forwarded-for": "8.8.8.8" } },
    );
    expect(res.status).toBe(200);
    const [event] = await exportEvents(server.dbPath, t.tenantId);
    const context = event!.context;
    expect(context.ip).toBe("8.8.8.8");
    expect(context.location.country).toBe("US");
    expect(context.userAgent).toBe(chromeMac);
    expect(context.browser.name).toBe("Chrome");
    expect(context.os.name).toBe("macOS");
    expect(context.campaign).toMatchObject({ source: "google", medium: "cpc", name: "winter" });
    expect(context.acquisitionChannel).toBe("paid_search");
    const [session] = await storeRows(server.dbPath, "SELECT channel, campaign, referrer FROM sessions WHERE tenant_id = ?", t.tenantId);
    expect(session!.channel).toBe("paid_search");
    expect(JSON.parse(session!.campaign)).toMatchObject({ source: "google", name: "winter" });
    expect(session!.referrer).toBe("https://www.google.com/");
  });

  test("batch items and identify calls are enriched too; context.ip in the payload wins", async () => {
    const t = await server.tenant("e2");
    await server.post(
      "/v1/events/batch",
      { batch: [{ type: "track", event: "A", anonymousId: "v", context: { ip: "81.2.69.142" } }] },
      { key: t.writeKey, headers: { "user-agent": chromeMac } },
    );
    await server.post("/v1/events/identify", { userId: "u", anonymousId: "v" }, { key: t.writeKey, headers: { "user-agent": chromeMac } });
    const events = await exportEvents(server.dbPath, t.tenantId);
    expect(events).toHaveLength(2);
    expect(events[0]!.context.ip).toBe("81.2.69.142");
    expect(events[0]!.context.location.country).toBe("GB");
    expect(events.every((e) => e.context.browser?.name === "Chrome")).toBe(true);
  });

  test("tenant privacy: anonymize stores the /24 (after geo), drop stores no ip; bots are flagged or dropped", async () => {
    const anon = await server.tenant("e3");
    await server.running.services.tenants.setSettings(anon.tenantId, { ipPolicy: "anonymize", bots: "drop" });
    const drop = await server.tenant("e4");
    await server.running.services.tenants.setSettings(drop.tenantId, { ipPolicy: "drop", bots: "flag" });
    const googlebot = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)";

    expect((await server.track({ event: "E", anonymousId: "a", context: { ip: "81.2.69.142" } }, { key: anon.writeKey })).status).toBe(200);
    const bot = await (await server.track({ event: "Crawl", anonymousId: "b" }, { key: anon.writeKey, headers: { "user-agent": googlebot } })).json();
    expect(bot.status).toBe("dropped");
    const anonEvents = await exportEvents(server.dbPath, anon.tenantId);
    expect(anonEvents).toHaveLength(1);
    expect(anonEvents[0]!.context.ip).toBe("81.2.69.0");
    expect(anonEvents[0]!.context.location.country).toBe("GB");

    await server.track({ event: "E", anonymousId: "a", context: { ip: "81.2.69.142" } }, { key: drop.writeKey });
    await server.track({ event: "Crawl", anonymousId: "b" }, { key: drop.writeKey, headers: { "user-agent": googlebot } });
    const dropEvents = await exportEvents(server.dbPath, drop.tenantId);
    expect(dropEvents).toHaveLength(2);
    expect(dropEvents[0]!.context.ip).toBeUndefined();
    expect(dropEvents.find((e) => e.event === "Crawl")!.context.bot).toBe(true);
  });

  test("X-Forwarded-For from an untrusted peer is ignored", async () => {
    const untrusted = await startTestServer(); // no TRUST_PROXY
    try {
      await untrusted.track({ event: "E", anonymousId: "a" }, { headers: { "x-forwarded-for": "8.8.8.8" } });
      const [event] = await exportEvents(untrusted.dbPath, untrusted.tenantId);
      expect(event!.context.ip).toBe("127.0.0.1");
    } finally {
      await untrusted.stop();
    }
  });
});

describe.skipIf(!haveGeo)("enrichment with a GeoLite2 City and ASN database (GEOIP_DB, GEOIP_ASN_DB)", () => {
  test("city, region, postal code, time zone, coordinates and ASN are stored", async () => {
    const server = await startTestServer({
      GEOIP_DB: join(geoDir, "GeoLite2-City-Test.mmdb"),
      GEOIP_ASN_DB: join(geoDir, "GeoLite2-ASN-Test.mmdb"),
    });
    try {
      await server.track({ event: "E", anonymousId: "a", context: { ip: "216.160.83.56" } });
      await server.track({ event: "F", anonymousId: "b", context: { ip: "89.160.20.112" } });
      const events = await exportEvents(server.dbPath, server.tenantId);
      const milton = events.find((e) => e.event === "E")!.context.location;
      expect(milton).toMatchObject({ country: "US", city: "Milton", region: "WA", timezone: "America/Los_Angeles", asn: 209 });
      expect(milton.postalCode).toBe("98354");
      expect(typeof milton.latitude).toBe("number");
      const linkoping = events.find((e) => e.event === "F")!.context.location;
      expect(linkoping).toMatchObject({ country: "SE", asn: 29518 });
    } finally {
      await server.stop();
    }
  });
});
