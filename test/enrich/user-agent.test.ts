import { describe, expect, test } from "bun:test";
import { clientHintsFromHeaders, clientHintsFromUserAgentData, parseUserAgent, UserAgentParser, type ParsedUserAgent } from "../../src/enrich/user-agent.ts";

const UA = {
  chromeWindows: "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
  safariIphone: "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4.1 Mobile/15E148 Safari/604.1",
  ipad: "Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/16.6 Mobile/15E148 Safari/604.1",
  androidPhone: "Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.6367.82 Mobile Safari/537.36",
  androidReduced: "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Mobile Safari/537.36",
  firefoxLinux: "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
  googlebot: "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
  googlebotSmartphone:
    "Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.6367.118 Mobile Safari/537.36 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
  bingbot: "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
  curl: "curl/8.5.0",
  headlessChrome: "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/124.0.6367.60 Safari/537.36",
  cubotPhone: "Mozilla/5.0 (Linux; Android 11; CUBOT X30) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Mobile Safari/537.36",
};

describe("a table of real user agents", () => {
  const cases: Array<[string, string, ParsedUserAgent]> = [
    [
      "Chrome on Windows: a desktop",
      UA.chromeWindows,
      {
        browser: { name: "Chrome", version: "124.0.0.0", major: "124" },
        os: { name: "Windows", version: "10" },
        device: { type: "desktop" },
        engine: { name: "Blink", version: "124.0.0.0" },
        bot: false,
      },
    ],
    [
      "Safari on iPhone: a mobile Apple iPhone",
      UA.safariIphone,
      {
        browser: { name: "Mobile Safari", version: "17.4.1", major: "17" },
        os: { name: "iOS", version: "17.4.1" },
        device: { type: "mobile", manufacturer: "Apple", model: "iPhone" },
        engine: { name: "WebKit", version: "605.1.15" },
        bot: false,
      },
    ],
    [
      "iPad: a tablet",
      UA.ipad,
      {
        browser: { name: "Mobile Safari", version: "16.6", major: "16" },
        os: { name: "iOS", version: "16.6" },
        device: { type: "tablet", manufacturer: "Apple", model: "iPad" },
        engine: { name: "WebKit", version: "605.1.15" },
        bot: false,
      },
    ],
    [
      "Chrome on an Android phone: Samsung model named",
      UA.androidPhone,
      {
        browser: { name: "Mobile Chrome", version: "124.0.6367.82", major: "124" },
        os: { name: "Android", version: "14" },
        device: { type: "mobile", manufacturer: "Samsung", model: "SM-S918B" },
        engine: { name: "Blink", version: "124.0.6367.82" },
        bot: false,
      },
    ],
    [
      "Firefox on Linux: a desktop without OS version",
      UA.firefoxLinux,
      {
        browser: { name: "Firefox", version: "125.0", major: "125" },
        os: { name: "Linux" },
        device: { type: "desktop" },
        engine: { name: "Gecko", version: "125.0" },
        bot: false,
      },
    ],
    ["Googlebot: a bot, no device type invented", UA.googlebot, { browser: { name: "Googlebot", version: "2.1", major: "2" }, bot: true }],
    ["bingbot: a bot", UA.bingbot, { browser: { name: "bingbot", version: "2.0", major: "2" }, bot: true }],
    ["curl: a server-side client, not a bot", UA.curl, { browser: { name: "curl", version: "8.5.0", major: "8" }, bot: false }],
    ["empty: nothing known, not a bot", "", { bot: false }],
  ];

  test.each(cases)("%s", (_label, ua, expected) => {
    expect(parseUserAgent(ua)).toEqual(expected);
  });

  test("the smartphone Googlebot is a bot even though it looks like Android Chrome", () => {
    const parsed = parseUserAgent(UA.googlebotSmartphone);
    expect(parsed.bot).toBe(true);
    expect(parsed.browser?.name).toBe("Googlebot");
  });

  test.each([
    ["HeadlessChrome (ua-parser-js calls it a browser)", UA.headlessChrome],
    ["PhantomJS", "Mozilla/5.0 (Unknown; Linux x86_64) AppleWebKit/538.1 (KHTML, like Gecko) PhantomJS/2.1.1 Safari/538.1"],
    ["an unlisted crawler", "Mozilla/5.0 (compatible; ExampleCrawler/1.0; +https://example.com/crawler)"],
    ["an unlisted ...bot", "Mozilla/5.0 (compatible; Acmebot/3.1)"],
    ["Yahoo! Slurp", "Mozilla/5.0 (compatible; Yahoo! Slurp; http://help.yahoo.com/help/us/ysearch/slurp)"],
  ])("%s is flagged as a bot", (_label, ua) => {
    expect(parseUserAgent(ua).bot).toBe(true);
  });

  test.each([
    ["python-requests", "python-requests/2.31.0"],
    ["Wget", "Wget/1.21.4"],
    ["axios (analytics-node's HTTP client)", "axios/1.7.2"],
    ["Bun's fetch", "Bun/1.4.5"],
    ["Go's HTTP client", "Go-http-client/1.1"],
  ])("%s is a server-side client, not a bot (server SDK events must not be dropped)", (_label, ua) => {
    expect(parseUserAgent(ua).bot).toBe(false);
  });

  test("a Cubot phone is not a bot", () => {
    const parsed = parseUserAgent(UA.cubotPhone);
    expect(parsed.bot).toBe(false);
    expect(parsed.device?.type).toBe("mobile");
  });

  test("10 KB of garbage: no crash, nothing recognised, not a bot", () => {
    const garbage = Array.from({ length: 10_240 }, (_, i) => String.fromCharCode(33 + ((i * 7919) % 90))).join("");
    expect(parseUserAgent(garbage)).toEqual({ bot: false });
  });

  test("a real user agent followed by 10 KB of junk is still recognised from its first 512 characters", () => {
    expect(parseUserAgent(UA.chromeWindows + " " + "x".repeat(10_240)).browser?.name).toBe("Chrome");
  });
});

describe("client hints", () => {
  const headers = (init: Record<string, string>) => {
    const h = new Headers(init);
    return (name: string) => h.get(name);
  };

  test("Sec-CH-UA headers reveal Windows 11 and the full Chrome version the frozen UA hides", () => {
    const hints = clientHintsFromHeaders(
      headers({
        "Sec-CH-UA": '"Chromium";v="124", "Google Chrome";v="124", "Not-A.Brand";v="99"',
        "Sec-CH-UA-Mobile": "?0",
        "Sec-CH-UA-Platform": '"Windows"',
        "Sec-CH-UA-Platform-Version": '"15.0.0"',
        "Sec-CH-UA-Full-Version-List": '"Chromium";v="124.0.6367.91", "Google Chrome";v="124.0.6367.91", "Not-A.Brand";v="99.0.0.0"',
        "Sec-CH-UA-Arch": '"x86"',
      }),
    );
    const parsed = parseUserAgent(UA.chromeWindows, hints);
    expect(parsed.os).toEqual({ name: "Windows", version: "11" });
    expect(parsed.browser).toEqual({ name: "Chrome", version: "124.0.6367.91", major: "124" });
    expect(parsed.device?.type).toBe("desktop");
  });

  test("Sec-CH-UA-Model names the phone a reduced Android UA calls 'K'", () => {
    const hints = clientHintsFromHeaders(headers({ "Sec-CH-UA-Mobile": "?1", "Sec-CH-UA-Platform": '"Android"', "Sec-CH-UA-Model": '"SM-S918B"' }));
    const parsed = parseUserAgent(UA.androidReduced, hints);
    expect(parsed.device).toEqual({ type: "mobile", manufacturer: "Samsung", model: "SM-S918B" });
  });

  test("a request without hints has none", () => {
    expect(clientHintsFromHeaders(headers({ "User-Agent": UA.firefoxLinux }))).toBeUndefined();
  });

  test("a payload's userAgentData (analytics.js) is read as the same hints", () => {
    const hints = clientHintsFromUserAgentData({
      brands: [
        { brand: "Chromium", version: "124" },
        { brand: "Google Chrome", version: "124" },
      ],
      mobile: false,
      platform: "Windows",
      platformVersion: "15.0.0",
    });
    expect(parseUserAgent(UA.chromeWindows, hints).os).toEqual({ name: "Windows", version: "11" });
  });

  test("malformed userAgentData is ignored", () => {
    expect(clientHintsFromUserAgentData("Windows")).toBeUndefined();
    expect(clientHintsFromUserAgentData({ brands: "Chrome", mobile: "yes" })).toBeUndefined();
  });
});

describe("the parse cache", () => {
  test("the second parse of a user agent is a hit and returns the same answer", () => {
    const parser = new UserAgentParser();
    const first = parser.parse(UA.safariIphone);
    const second = parser.parse(UA.safariIphone);
    expect(second).toEqual(first);
    expect(parser.stats()).toEqual({ hits: 1, misses: 1, size: 1 });
  });

  test("the same user agent with different client hints is parsed separately", () => {
    const parser = new UserAgentParser();
    const plain = parser.parse(UA.chromeWindows);
    const hinted = parser.parse(UA.chromeWindows, { "sec-ch-ua-platform": '"Windows"', "sec-ch-ua-platform-version": '"15.0.0"' });
    expect(plain.os?.version).toBe("10");
    expect(hinted.os?.version).toBe("11");
    expect(parser.stats().misses).toBe(2);
  });

  test("a user agent that spells out another request's hints after line breaks is its own entry", () => {
    const parser = new UserAgentParser();
    const hints = { "sec-ch-ua-platform": '"Windows"', "sec-ch-ua-platform-version": '"15.0.0"' };
    parser.parse([UA.chromeWindows, "", "", hints["sec-ch-ua-platform"], hints["sec-ch-ua-platform-version"], "", "", ""].join("\n"));
    expect(parser.parse(UA.chromeWindows, hints).os).toEqual({ name: "Windows", version: "11" });
    expect(parser.stats()).toMatchObject({ hits: 0, misses: 2, size: 2 });
  });

  test("the cache is bounded by its size", () => {
    const parser = new UserAgentParser(2);
    parser.parse(UA.chromeWindows);
    parser.parse(UA.firefoxLinux);
    parser.parse(UA.ipad);
    expect(parser.stats().size).toBe(2);
    parser.parse(UA.chromeWindows); // evicted as least recently used
    expect(parser.stats()).toMatchObject({ hits: 0, misses: 4 });
  });

  test("huge user agents are keyed by their first 512 characters, so junk cannot fill the cache", () => {
    const parser = new UserAgentParser();
    const junk = "z".repeat(600);
    parser.parse(junk + "a".repeat(10_000));
    parser.parse(junk + "b".repeat(10_000));
    expect(parser.stats()).toMatchObject({ hits: 1, misses: 1, size: 1 });
  });

  test("cached answers cannot be changed by a caller", () => {
    const parser = new UserAgentParser();
    const parsed = parser.parse(UA.chromeWindows);
    expect(() => {
      (parsed.browser as { name?: string }).name = "Hacked";
    }).toThrow();
    expect(parser.parse(UA.chromeWindows).browser?.name).toBe("Chrome");
  });
});

describe("names as stored before, bots from isbot, server-side clients", () => {
  test.each([
    [
      "Chrome on iOS is a Mobile Chrome",
      "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/131.0.6778.73 Mobile/15E148 Safari/604.1",
      { browser: { name: "Mobile Chrome", version: "131.0.6778.73", major: "131" }, os: { name: "iOS", version: "18.1" } },
    ],
    [
      "Firefox on Android is a Mobile Firefox",
      "Mozilla/5.0 (Android 14; Mobile; rv:133.0) Gecko/133.0 Firefox/133.0",
      { browser: { name: "Mobile Firefox", version: "133.0", major: "133" }, device: { type: "mobile" } },
    ],
    [
      "Firefox on iOS is a Mobile Firefox",
      "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) FxiOS/133.0 Mobile/15E148 Safari/605.1.15",
      { browser: { name: "Mobile Firefox", version: "133.0", major: "133" } },
    ],
    [
      "a Chromebook runs Chrome OS",
      "Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
      { os: { name: "Chrome OS", version: "14541.0.0" }, device: { type: "desktop" } },
    ],
    [
      "Safari on a Mac runs macOS",
      "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
      { browser: { name: "Safari", version: "18.1", major: "18" }, os: { name: "macOS", version: "10.15.7" } },
    ],
  ])("%s", (_label, ua, expected) => {
    expect(parseUserAgent(ua)).toMatchObject({ bot: false, ...expected });
  });

  test.each([
    ["DuckDuckBot/1.1; (+http://duckduckgo.com/duckduckbot.html)", "DuckDuckBot"],
    ["facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)", "facebookexternalhit"],
    ["Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.2; +https://openai.com/gptbot)", "GPTBot"],
    ["Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)", "AhrefsBot"],
    ["Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)", "Slackbot-LinkExpanding"],
  ])("%s is a bot named %s, with no device type", (ua, name) => {
    const parsed = parseUserAgent(ua);
    expect(parsed.bot).toBe(true);
    expect(parsed.browser?.name).toBe(name);
    expect(parsed.device?.type).toBeUndefined();
  });

  test("Lighthouse audits are bots", () => {
    expect(parseUserAgent(UA.chromeWindows + " Lighthouse").bot).toBe(true);
  });

  test.each([
    ["node", { name: "node" }],
    ["undici", { name: "undici" }],
    ["okhttp/4.12.0", { name: "okhttp", version: "4.12.0", major: "4" }],
    ["analytics-python/2.3.2", { name: "analytics-python", version: "2.3.2", major: "2" }],
    ["Apache-HttpClient/4.5.14 (Java/17.0.2)", { name: "Apache-HttpClient", version: "4.5.14", major: "4" }],
  ])("%s is a server-side client, named, not a bot, no device", (ua, browser) => {
    expect(parseUserAgent(ua)).toEqual({ bot: false, browser });
  });

  test("a name that only begins like a server client is not one", () => {
    expect(parseUserAgent("nodejs-crawler/2.0").bot).toBe(true);
  });
});
