import { afterAll, afterEach, beforeAll, describe, expect, spyOn, test } from "bun:test";
import { logger } from "../../src/logger.ts";
import { existsSync } from "node:fs";
import path from "node:path";
import { ACQUISITION_CHANNEL_KEY, Enricher, type EnrichInput, type EnrichSettings, type GeoLocation } from "../../src/enrich/index.ts";

const TESTDATA = path.resolve(import.meta.dir, "../../../shared/testdata/geo");
const hasTestdata = existsSync(path.join(TESTDATA, "GeoLite2-City-Test.mmdb"));
if (!hasTestdata) console.warn(`[enrich] skipping city-level enricher tests: ${TESTDATA} is missing`);

const CHROME_WINDOWS = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36";
const IPHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4.1 Mobile/15E148 Safari/604.1";
const GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)";

const FULL: EnrichSettings = { ipPolicy: "full", bots: "flag" };
const headers = (init: Record<string, string> = {}) => {
  const h = new Headers(init);
  return (name: string) => h.get(name);
};
const input = (overrides: Partial<EnrichInput> = {}): EnrichInput => ({
  context: undefined,
  peerIp: "8.8.8.8",
  header: headers({ "user-agent": CHROME_WINDOWS }),
  settings: FULL,
  ...overrides,
});

// The embedded country database: no configuration, as a fresh install runs.
const enricher = new Enricher();
afterAll(() => enricher.close());

describe("Enricher.enrich", () => {
  test("a browser event gets ip, location, user agent details, campaign and channel", () => {
    const { context, drop } = enricher.enrich(
      input({
        context: {
          page: { url: "https://shop.example/?utm_source=Newsletter&utm_medium=email", referrer: "" },
          library: { name: "analytics.js", version: "1.0" },
        },
      }),
    );
    expect(drop).toBe(false);
    expect(context).toEqual({
      page: { url: "https://shop.example/?utm_source=Newsletter&utm_medium=email", referrer: "" },
      library: { name: "analytics.js", version: "1.0" },
      ip: "8.8.8.8",
      location: { country: "US" },
      userAgent: CHROME_WINDOWS,
      browser: { name: "Chrome", version: "124.0.0.0", major: "124" },
      os: { name: "Windows", version: "10" },
      device: { type: "desktop" },
      engine: { name: "Blink", version: "124.0.0.0" },
      bot: false,
      campaign: { source: "newsletter", medium: "email" },
      [ACQUISITION_CHANNEL_KEY]: "email",
    });
  });

  test("the channel does not overwrite Segment's context.channel (request origin)", () => {
    const { context } = enricher.enrich(input({ context: { channel: "server" } }));
    expect(context.channel).toBe("server");
    expect(context[ACQUISITION_CHANNEL_KEY]).toBe("direct");
  });

  test("the input context is not modified", () => {
    const payload = { ip: "81.2.69.142", os: { name: "iOS" }, page: { url: "https://a.example/?utm_source=x" } };
    const snapshot = structuredClone(payload);
    const { context } = enricher.enrich(input({ context: payload, settings: { ipPolicy: "anonymize", bots: "flag" } }));
    expect(payload).toEqual(snapshot);
    expect(context).not.toBe(payload);
    expect(context.ip).toBe("81.2.69.0");
  });

  test("the payload's userAgent wins over the header, and is what gets parsed", () => {
    const { context } = enricher.enrich(input({ context: { userAgent: IPHONE } }));
    expect(context.userAgent).toBe(IPHONE);
    expect(context.device).toEqual({ type: "mobile", manufacturer: "Apple", model: "iPhone" });
  });

  test("request client hints are not applied to a different user agent sent in the payload", () => {
    const { context } = enricher.enrich(
      input({
        context: { userAgent: IPHONE },
        header: headers({ "user-agent": CHROME_WINDOWS, "sec-ch-ua-platform": '"Windows"', "sec-ch-ua-platform-version": '"15.0.0"' }),
      }),
    );
    expect(context.os).toEqual({ name: "iOS", version: "17.4.1" });
  });

  test("request client hints refine the header user agent", () => {
    const { context } = enricher.enrich(
      input({
        header: headers({ "user-agent": CHROME_WINDOWS, "sec-ch-ua-platform": '"Windows"', "sec-ch-ua-platform-version": '"15.0.0"' }),
      }),
    );
    expect(context.os).toEqual({ name: "Windows", version: "11" });
  });

  test("the payload's own os and device fields win key by key", () => {
    const { context } = enricher.enrich(
      input({
        context: { userAgent: IPHONE, os: { name: "iPhone OS" }, device: { id: "device-1", model: "iPhone15,2" } },
      }),
    );
    expect(context.os).toEqual({ name: "iPhone OS", version: "17.4.1" });
    expect(context.device).toEqual({ id: "device-1", type: "mobile", manufacturer: "Apple", model: "iPhone15,2" });
  });

  test("a server event with no user agent gets no browser fields and is not a bot", () => {
    const { context, drop } = enricher.enrich(
      input({ context: { ip: "8.8.8.8" }, peerIp: "10.0.0.1", header: headers(), settings: { ipPolicy: "full", bots: "drop" } }),
    );
    expect(drop).toBe(false);
    expect(context.bot).toBe(false);
    expect("userAgent" in context || "browser" in context || "device" in context).toBe(false);
    expect(context.location).toEqual({ country: "US" });
  });

  test("an address with no location gets no location field", () => {
    const { context } = enricher.enrich(input({ peerIp: "127.0.0.1" }));
    expect(context.ip).toBe("127.0.0.1");
    expect("location" in context).toBe(false);
  });
});

describe("IP privacy policy", () => {
  test("anonymize stores the /24 but locates the full address", () => {
    const { context } = enricher.enrich(input({ peerIp: "81.2.69.142", settings: { ipPolicy: "anonymize", bots: "flag" } }));
    expect(context.ip).toBe("81.2.69.0");
    expect(context.location).toEqual({ country: "GB" });
  });

  test("anonymize stores the /48 of an IPv6 address", () => {
    const { context } = enricher.enrich(input({ peerIp: "2001:4860:4860::8888", settings: { ipPolicy: "anonymize", bots: "flag" } }));
    expect(context.ip).toBe("2001:4860:4860::");
    expect(context.location).toEqual({ country: "US" });
  });

  test("drop removes the address, including one the payload sent, and keeps the location", () => {
    const { context } = enricher.enrich(input({ context: { ip: "81.2.69.142" }, settings: { ipPolicy: "drop", bots: "flag" } }));
    expect("ip" in context).toBe(false);
    expect(context.location).toEqual({ country: "GB" });
  });

  test("a payload's context.ip wins over the socket address", () => {
    const { context } = enricher.enrich(input({ context: { ip: "81.2.69.142" }, peerIp: "8.8.8.8" }));
    expect(context.ip).toBe("81.2.69.142");
    expect(context.location).toEqual({ country: "GB" });
  });

  test("trusted proxies are honoured from the options", () => {
    const behindProxy = new Enricher({ trustProxy: ["10.0.0.0/8"] });
    const { context } = behindProxy.enrich(input({ peerIp: "10.1.2.3", header: headers({ "x-forwarded-for": "81.2.69.142" }) }));
    expect(context.ip).toBe("81.2.69.142");
  });

  test("an invalid trusted proxy entry fails construction with its name", () => {
    expect(() => new Enricher({ trustProxy: ["10.0.0.0/8", "10.0.0.0/99"] })).toThrow('"10.0.0.0/99"');
  });
});

describe("bots: keep, flag or drop", () => {
  const botInput = (bots: EnrichSettings["bots"]) => input({ header: headers({ "user-agent": GOOGLEBOT }), settings: { ipPolicy: "full", bots } });

  test("keep stores the bot with no flag", () => {
    const { context, drop } = enricher.enrich(botInput("keep"));
    expect(drop).toBe(false);
    expect("bot" in context).toBe(false);
    expect(context.browser).toMatchObject({ name: "Googlebot" });
  });

  test("flag stores the bot with context.bot = true", () => {
    const { context, drop } = enricher.enrich(botInput("flag"));
    expect(drop).toBe(false);
    expect(context.bot).toBe(true);
  });

  test("drop marks the bot event as not to be stored", () => {
    expect(enricher.enrich(botInput("drop")).drop).toBe(true);
  });

  test("drop keeps human events", () => {
    const { context, drop } = enricher.enrich(input({ settings: { ipPolicy: "full", bots: "drop" } }));
    expect(drop).toBe(false);
    expect(context.bot).toBe(false);
  });
});

describe("an enricher that throws", () => {
  const boom = () => {
    throw new Error("boom");
  };
  let written = "";
  let stdout: ReturnType<typeof spyOn>;
  beforeAll(() => {
    // The logger's level is process-wide; an earlier test file may have silenced it.
    logger.setLevel("info");
    stdout = spyOn(process.stdout, "write").mockImplementation(((chunk: string | Uint8Array) => {
      written += String(chunk);
      return true;
    }) as typeof process.stdout.write);
  });
  afterEach(() => {
    written = "";
  });
  afterAll(() => stdout.mockRestore());
  const logged = async () => {
    await new Promise((resolve) => setImmediate(resolve)); // the logger flushes on the next tick
    return written;
  };

  const fullInput = () =>
    input({
      context: { page: { url: "https://shop.example/?gclid=abc" } },
      header: headers({ "user-agent": GOOGLEBOT }),
      settings: { ipPolicy: "full", bots: "drop" },
    });

  test("geo failing: the event keeps ip, user agent and campaign, and the failure is logged", async () => {
    const broken = new Enricher({}, { geo: { lookup: boom, reload() {}, close() {}, stats: () => enricher.stats().geo } });
    const { context, drop } = broken.enrich(fullInput());
    expect("location" in context).toBe(false);
    expect(context.ip).toBe("8.8.8.8");
    expect(context.browser).toMatchObject({ name: "Googlebot" });
    expect(context[ACQUISITION_CHANNEL_KEY]).toBe("paid_search");
    expect(drop).toBe(true);
    const log = await logged();
    expect(log).toContain('"enricher":"geo"');
    expect(log).toContain("boom");
  });

  test("user agent failing: the event is kept (not dropped as a bot) with ip, geo and campaign", () => {
    const broken = new Enricher({}, { userAgent: { parse: boom, stats: () => ({ hits: 0, misses: 0, size: 0 }) } });
    const { context, drop } = broken.enrich(fullInput());
    expect(drop).toBe(false);
    expect(context.bot).toBe(false);
    expect("browser" in context).toBe(false);
    expect(context.location).toEqual({ country: "US" });
    expect(context.campaign).toEqual({ gclid: "abc" });
  });

  test("IP resolution failing: no address is stored (not even the payload's), the rest applies", () => {
    const broken = new Enricher({}, { clientIp: { resolve: boom } });
    const { context } = broken.enrich({ ...fullInput(), context: { ip: "81.2.69.142" }, settings: { ipPolicy: "drop", bots: "flag" } });
    expect("ip" in context).toBe(false);
    expect("location" in context).toBe(false);
    expect(context.bot).toBe(true);
  });

  test("campaign failing: ip, geo and user agent still apply", async () => {
    const broken = new Enricher({}, { attribution: boom });
    const { context } = broken.enrich(fullInput());
    expect("campaign" in context || ACQUISITION_CHANNEL_KEY in context).toBe(false);
    expect(context.location).toEqual({ country: "US" });
    expect(context.browser).toMatchObject({ name: "Googlebot" });
    expect(await logged()).toContain('"enricher":"attribution"');
  });
});

describe("stats and lifecycle", () => {
  test("stats report user agent cache hits and misses and geo lookups", () => {
    const counted = new Enricher();
    counted.enrich(input());
    counted.enrich(input());
    counted.enrich(input({ header: headers({ "user-agent": IPHONE }) }));
    const stats = counted.stats();
    expect(stats.userAgent).toEqual({ hits: 1, misses: 2, size: 2 });
    expect(stats.geo).toMatchObject({ lookups: 3, found: 3, databaseLoaded: true });
    counted.close();
  });

  test("reload() and close() reach the geo database", () => {
    let reloads = 0;
    let closes = 0;
    const geo = {
      lookup: (): GeoLocation | undefined => undefined,
      reload: () => void reloads++,
      close: () => void closes++,
      stats: () => enricher.stats().geo,
    };
    const withFakeGeo = new Enricher({}, { geo });
    withFakeGeo.reload();
    withFakeGeo.close();
    expect([reloads, closes]).toEqual([1, 1]);
  });
});

describe.skipIf(!hasTestdata)("with MaxMind City and ASN databases", () => {
  const city = new Enricher({
    geoDbPath: path.join(TESTDATA, "GeoLite2-City-Test.mmdb"),
    asnDbPath: path.join(TESTDATA, "GeoLite2-ASN-Test.mmdb"),
    geoWatchIntervalMs: 0,
  });

  test("city-level location with ASN", () => {
    const { context } = city.enrich(input({ peerIp: "89.160.20.112" }));
    expect(context.location).toEqual({
      country: "SE",
      region: "E",
      city: "Linköping",
      timezone: "Europe/Stockholm",
      latitude: 58.42,
      longitude: 15.62,
      asn: 29518,
      asOrganization: "Bredband2 AB",
    });
  });

  test("payload location fields win over the database's", () => {
    const { context } = city.enrich(input({ peerIp: "216.160.83.56", context: { location: { city: "Tacoma", speed: 0 } } }));
    expect(context.location).toMatchObject({ country: "US", region: "WA", city: "Tacoma", speed: 0, asn: 209 });
  });
});
