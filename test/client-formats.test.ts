/**
 * What real clients put on the wire, one row per client and transport, written from each
 * library's documented request format (path, headers, body shape, nulls, empty ids, timestamp
 * forms, gzip) and posted to a real server; each row says what must be stored.
 * The libraries themselves run in test/segment-compat.test.ts (Node) and
 * test/analytics-next.browser.test.ts (Chromium).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { gzipSync } from "node:zlib";
import { cli, exportEvents, startTestServer, type TestServer, storeEnv } from "./helpers/server";

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(() => server.stop());

const basic = (key: string) => `Basic ${Buffer.from(`${key}:`).toString("base64")}`;
const CHROME_UA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";

/** A time a day ago, with whole milliseconds, and its parts for writing it in each client's form. */
const base = new Date(Math.floor((Date.now() - 86_400_000) / 1000) * 1000 + 198);
const p = {
  y: base.getUTCFullYear(),
  m: base.getUTCMonth() + 1,
  d: base.getUTCDate(),
  h: base.getUTCHours(),
  mi: base.getUTCMinutes(),
  s: base.getUTCSeconds(),
};
const pad = (n: number) => String(n).padStart(2, "0");
const plain = `${p.y}-${pad(p.m)}-${pad(p.d)}T${pad(p.h)}:${pad(p.mi)}:${pad(p.s)}`;
const forms = {
  /** JavaScript's toISOString (analytics-next, analytics.js, rudder-sdk-js, analytics-swift, analytics-kotlin). */
  js: base.toISOString(),
  /** Python's datetime.isoformat() with tzutc (analytics-python, rudder-sdk-python): 6 digits, +00:00. */
  python: `${plain}.198000+00:00`,
  /** .NET DateTime of unspecified kind ("o" format): 7 digits, no offset (Analytics.NET, Analytics-CSharp). */
  dotnetUnspecified: `${plain}.1980000`,
  /** Go's RFC 3339 with nanoseconds, in another zone (+02:00). */
  goNano: `${p.y}-${pad(p.m)}-${pad(p.d)}T${pad((p.h + 2) % 24)}:${pad(p.mi)}:${pad(p.s)}.198000000+02:00`,
  /** Non-padded fields, as in Segment's HTTP API documentation. */
  unpadded: `${p.y}-${p.m}-${p.d}T${p.h}:${p.mi}:${p.s}.198Z`,
  /** No fractional digits. */
  seconds: `${plain}Z`,
};
// The +02:00 form crosses midnight for 22:00-23:59 UTC: its date would be the next day's.
const goNanoValid = p.h < 22;

interface Row {
  client: string;
  path: string;
  headers: Record<string, string>;
  body: (writeKey: string) => Record<string, unknown>;
  gzip?: boolean;
  /** What is stored, by messageId. */
  stored: Record<string, Record<string, unknown>>;
  /** Extra checks on the stored events. */
  check?: (byId: Record<string, Record<string, any>>) => void;
}

const analyticsNextContext = {
  page: { path: "/pricing", url: "https://shop.example/pricing", title: "Pricing", referrer: "", search: "" },
  userAgent: CHROME_UA,
  locale: "en-US",
  library: { name: "analytics.js", version: "npm:next-1.84.3" },
};

const rows: Row[] = [
  {
    client: "analytics-next, anonymous track (userId null), text/plain to /t",
    path: "/t",
    headers: { "content-type": "text/plain" },
    body: (writeKey) => ({
      type: "track",
      event: "Plan Selected",
      properties: { plan: "pro" },
      userId: null,
      anonymousId: "an-anon-1",
      messageId: "ajs-next-1",
      timestamp: forms.js,
      sentAt: forms.js,
      integrations: {},
      context: analyticsNextContext,
      writeKey,
      _metadata: { bundled: [], unbundled: [], bundledIds: [] },
    }),
    stored: { "ajs-next-1": { type: "track", event: "Plan Selected", anonymousId: "an-anon-1", userId: undefined, originalTimestamp: forms.js } },
  },
  {
    client: "analytics-next with apiHost host/v1: page to /v1/p (name and category null)",
    path: "/v1/p",
    headers: { "content-type": "text/plain" },
    body: (writeKey) => ({
      type: "page",
      name: null,
      category: null,
      properties: { path: "/pricing" },
      userId: null,
      anonymousId: "an-anon-1",
      messageId: "ajs-next-2",
      timestamp: forms.js,
      context: analyticsNextContext,
      writeKey,
    }),
    stored: { "ajs-next-2": { type: "page", anonymousId: "an-anon-1", name: undefined, category: undefined } },
  },
  {
    client: "analytics-next batching: /v1/b, text/plain",
    path: "/v1/b",
    headers: { "content-type": "text/plain" },
    body: (writeKey) => ({
      batch: [
        {
          type: "track",
          event: "Batched",
          userId: null,
          anonymousId: "an-anon-2",
          messageId: "ajs-next-3",
          timestamp: forms.js,
          context: analyticsNextContext,
          writeKey,
        },
        {
          type: "identify",
          userId: "grace",
          anonymousId: "an-anon-2",
          traits: { email: "grace@example.com" },
          messageId: "ajs-next-4",
          timestamp: forms.js,
          context: analyticsNextContext,
          writeKey,
        },
      ],
      sentAt: forms.js,
      writeKey,
    }),
    stored: { "ajs-next-3": { type: "track", anonymousId: "an-anon-2" }, "ajs-next-4": { type: "identify", userId: "grace" } },
  },
  {
    client: "classic analytics.js: /v1/t with writeKey in the body, unpadded timestamp",
    path: "/v1/t",
    headers: { "content-type": "text/plain" },
    body: (writeKey) => ({
      type: "track",
      event: "Clicked",
      userId: null,
      anonymousId: "ajs-classic",
      messageId: "ajs-classic-1",
      timestamp: forms.unpadded,
      context: { library: { name: "analytics.js", version: "4.1.0" } },
      integrations: {},
      writeKey,
    }),
    stored: { "ajs-classic-1": { type: "track", originalTimestamp: forms.js } },
  },
  {
    client: "analytics-python: /v1/batch, Basic auth, anonymousId null, page name/category null, isoformat timestamps, gzip",
    path: "/v1/batch",
    headers: { "content-type": "application/json", "user-agent": "analytics-python/2.3.3" },
    gzip: true,
    body: () => ({
      batch: [
        {
          type: "track",
          event: "Invoice Paid",
          userId: "py-user",
          anonymousId: null,
          properties: {},
          context: { library: { name: "analytics-python", version: "2.3.3" } },
          integrations: {},
          timestamp: forms.python,
          messageId: "py-1",
          channel: "server",
        },
        {
          type: "page",
          userId: "py-user",
          anonymousId: null,
          name: null,
          category: null,
          properties: {},
          context: { library: { name: "analytics-python", version: "2.3.3" } },
          integrations: {},
          timestamp: forms.python,
          messageId: "py-2",
          channel: "server",
        },
      ],
      sentAt: forms.python,
    }),
    stored: { "py-1": { userId: "py-user", anonymousId: undefined, originalTimestamp: forms.js }, "py-2": { type: "page", name: undefined } },
    check: (byId) => {
      // A server-side library: no peer address, no User-Agent of the library.
      expect(byId["py-1"]!.context.ip).toBeUndefined();
      expect(byId["py-1"]!.context.userAgent).toBeUndefined();
      expect(byId["py-1"]!.context.browser).toBeUndefined();
    },
  },
  {
    client: "rudder-sdk-python: /v1/batch, anonymous call with userId null",
    path: "/v1/batch",
    headers: { "content-type": "application/json" },
    body: () => ({
      batch: [
        {
          type: "identify",
          userId: null,
          anonymousId: "rs-py-anon",
          traits: { plan: "free" },
          context: { library: { name: "analytics-python", version: "2.1.0" } },
          integrations: {},
          timestamp: forms.python,
          messageId: "rs-py-1",
          channel: "server",
        },
      ],
      sentAt: forms.python,
    }),
    stored: { "rs-py-1": { type: "identify", anonymousId: "rs-py-anon", userId: undefined } },
  },
  {
    client: "Analytics.NET: /v1/import, anonymousId null, category null, DateTime without offset",
    path: "/v1/import",
    headers: { "content-type": "application/json", "user-agent": "Analytics.NET/3.8.1" },
    body: () => ({
      batch: [
        {
          type: "track",
          event: "Order Shipped",
          userId: "net-user",
          anonymousId: null,
          properties: { total: 10 },
          context: { library: { name: "Analytics.NET", version: "3.8.1" } },
          timestamp: forms.dotnetUnspecified,
          messageId: "net-1",
          integrations: null,
        },
        {
          type: "page",
          name: "Docs",
          category: null,
          userId: "net-user",
          anonymousId: null,
          context: { library: { name: "Analytics.NET", version: "3.8.1" } },
          timestamp: forms.dotnetUnspecified,
          messageId: "net-2",
        },
      ],
      sentAt: forms.dotnetUnspecified,
      messageId: "net-batch",
    }),
    stored: { "net-1": { userId: "net-user", originalTimestamp: forms.js }, "net-2": { type: "page", name: "Docs", category: undefined } },
    check: (byId) => expect(byId["net-1"]!.context.userAgent).toBeUndefined(),
  },
  {
    client: "Analytics-CSharp: /v1/b (apiHost host/v1), gzip, text/plain",
    path: "/v1/b",
    headers: { "content-type": "text/plain", "content-encoding": "gzip" },
    gzip: true,
    body: (writeKey) => ({
      batch: [
        {
          type: "screen",
          name: "Inventory",
          anonymousId: "cs-anon",
          userId: "",
          messageId: "cs-1",
          timestamp: forms.dotnetUnspecified,
          context: { library: { name: "Analytics-CSharp", version: "2.4.0" } },
          integrations: {},
        },
      ],
      sentAt: forms.js,
      writeKey,
    }),
    stored: { "cs-1": { type: "screen", name: "Inventory", userId: undefined, originalTimestamp: forms.js } },
  },
  {
    client: "analytics-swift: /v1/b, application/json, Basic auth",
    path: "/v1/b",
    headers: { "content-type": "application/json; charset=utf-8" },
    body: (writeKey) => ({
      batch: [
        {
          type: "screen",
          name: "Home",
          anonymousId: "ios-anon",
          messageId: "swift-1",
          timestamp: forms.js,
          context: {
            library: { name: "analytics-ios", version: "1.5.0" },
            os: { name: "iOS", version: "17.4" },
            device: { manufacturer: "Apple", model: "iPhone15,2" },
          },
          integrations: {},
          userId: null,
        },
      ],
      sentAt: forms.js,
      writeKey,
    }),
    stored: { "swift-1": { type: "screen", name: "Home" } },
  },
  {
    client: "analytics-kotlin: /v1/b, gzip, text/plain",
    path: "/v1/b",
    headers: { "content-type": "text/plain", "content-encoding": "gzip" },
    gzip: true,
    body: (writeKey) => ({
      batch: [
        {
          type: "track",
          event: "Item Viewed",
          anonymousId: "android-anon",
          messageId: "kotlin-1",
          timestamp: forms.seconds,
          context: { library: { name: "analytics-kotlin", version: "1.16.0" } },
          integrations: {},
          properties: {},
        },
      ],
      sentAt: forms.js,
      writeKey,
    }),
    stored: { "kotlin-1": { type: "track", event: "Item Viewed", originalTimestamp: new Date(Math.floor(base.getTime() / 1000) * 1000).toISOString() } },
  },
  {
    client: 'rudder-sdk-js v3: /v1/track, userId "", empty os, channel web',
    path: "/v1/track",
    headers: { "content-type": "application/json;charset=UTF-8" },
    body: () => ({
      type: "track",
      event: "Button Clicked",
      userId: "",
      anonymousId: "rs-js-anon",
      channel: "web",
      messageId: "rs-js-1",
      originalTimestamp: forms.js,
      sentAt: forms.js,
      properties: { label: "Buy" },
      integrations: { All: true },
      context: {
        library: { name: "RudderLabs JavaScript SDK", version: "3.11.0" },
        userAgent: CHROME_UA,
        os: { name: "", version: "" },
        locale: "en-US",
        screen: { width: 1280, height: 720 },
      },
    }),
    stored: { "rs-js-1": { event: "Button Clicked", userId: undefined, anonymousId: "rs-js-anon" } },
    check: (byId) => {
      // The empty os the SDK sends does not hide what the user agent says.
      expect(byId["rs-js-1"]!.context.os.name).toBe("Windows");
      expect(byId["rs-js-1"]!.context.ip).toBe("127.0.0.1");
    },
  },
  {
    client: "rudder-sdk-js v3 beacon: /beacon/v1/batch?writeKey=..., text/plain",
    path: "/beacon/v1/batch?writeKey=",
    headers: { "content-type": "text/plain;charset=UTF-8" },
    body: () => ({
      batch: [
        {
          type: "page",
          name: "Checkout",
          userId: "",
          anonymousId: "rs-js-anon",
          messageId: "rs-beacon-1",
          originalTimestamp: forms.js,
          channel: "web",
          context: { library: { name: "RudderLabs JavaScript SDK", version: "3.11.0" } },
          properties: {},
        },
      ],
      sentAt: forms.js,
    }),
    stored: { "rs-beacon-1": { type: "page", name: "Checkout" } },
  },
  {
    client: "Go (RFC 3339 nanoseconds, another zone) to /v1/batch",
    path: "/v1/batch",
    headers: { "content-type": "application/json" },
    body: () => ({
      batch: goNanoValid
        ? [
            {
              type: "track",
              event: "Go",
              userId: "go-user",
              messageId: "go-1",
              timestamp: forms.goNano,
              context: { library: { name: "analytics-go", version: "3.3.0" } },
            },
          ]
        : [],
    }),
    stored: goNanoValid ? { "go-1": { originalTimestamp: forms.js } } : {},
  },
];

describe("each client's wire format is stored once, as sent", () => {
  for (const row of rows) {
    test(row.client, async () => {
      const tenant = await server.tenant(row.client.slice(0, 40));
      const text = JSON.stringify(row.body(tenant.writeKey));
      const beacon = row.path.endsWith("writeKey=");
      const headers: Record<string, string> = { ...row.headers };
      if (row.gzip) headers["content-encoding"] = "gzip";
      // The browser clients put the key in the body (or the query string); the others use Basic auth.
      if (!text.includes(tenant.writeKey) && !beacon) headers.authorization = basic(tenant.writeKey);
      const response = await fetch(server.url + row.path + (beacon ? tenant.writeKey : ""), {
        method: "POST",
        headers,
        body: row.gzip ? gzipSync(text) : text,
      });
      const answer = await response.json();
      expect({ status: response.status, answer }).toMatchObject({ status: 200, answer: { success: true } });
      if (answer.results) for (const result of answer.results) expect(result.status).toBe("accepted");
      expect(answer.warnings).toBeUndefined();

      const stored = await exportEvents(server.dbPath, tenant.tenantId);
      const byId = Object.fromEntries(stored.map((event) => [event.messageId, event]));
      expect(Object.keys(byId).sort()).toEqual(Object.keys(row.stored).sort());
      expect(stored).toHaveLength(Object.keys(row.stored).length);
      for (const [messageId, expected] of Object.entries(row.stored)) {
        for (const [field, value] of Object.entries(expected))
          expect({ messageId, field, value: byId[messageId]![field] }).toEqual({ messageId, field, value });
      }
      row.check?.(byId);
    });
  }
});

describe("the tolerant reader's limits", () => {
  test("an event with no non-empty id is rejected, naming the rule", async () => {
    const res = await server.post("/v1/t", { type: "track", event: "Nobody", userId: null, anonymousId: "" });
    expect(res.status).toBe(400);
    expect((await res.json()).error.details).toEqual([
      { path: "/anonymousId", message: "Either userId or anonymousId is required (a non-empty string or a number)" },
    ]);
  });

  test("an unreadable timestamp in a batch item is kept with a warning on that item; out-of-range fields are unreadable", async () => {
    const tenant = await server.tenant("warnings");
    const res = await server.post(
      "/v1/batch",
      {
        batch: [
          { type: "track", event: "Bad Clock", anonymousId: "w", messageId: "w-1", timestamp: "2026-13-01T00:00:00Z" },
          { type: "track", event: "Good", anonymousId: "w", messageId: "w-2", timestamp: forms.js },
        ],
      },
      { key: tenant.writeKey },
    );
    const answer = await res.json();
    expect(answer.results[0]).toMatchObject({
      status: "accepted",
      warnings: ['timestamp "2026-13-01T00:00:00Z" is not a readable ISO 8601 date and time; the server\'s time was used'],
    });
    expect(answer.results[1].warnings).toBeUndefined();
    const byId = Object.fromEntries((await exportEvents(server.dbPath, tenant.tenantId)).map((e) => [e.messageId, e]));
    expect(byId["w-1"]!.context.inlet.warnings).toEqual(answer.results[0].warnings);
    expect(byId["w-2"]!.context.inlet).toBeUndefined();
  });

  test("a server-side library's call keeps the address and user agent its payload names", async () => {
    const tenant = await server.tenant("server-side");
    const res = await server.post(
      "/v1/track",
      {
        event: "Forwarded",
        userId: "u",
        messageId: "ss-1",
        context: { library: { name: "@segment/analytics-node", version: "2.1.0" }, ip: "203.0.113.9", userAgent: CHROME_UA },
      },
      { key: tenant.writeKey, headers: { "user-agent": "node-fetch/1.0" } },
    );
    expect(res.status).toBe(200);
    const [stored] = await exportEvents(server.dbPath, tenant.tenantId);
    expect(stored!.context.ip).toBe("203.0.113.9");
    expect(stored!.context.userAgent).toBe(CHROME_UA);
    expect(stored!.context.browser.name).toBe("Chrome");
  });

  test("a call made with a server key takes neither the peer address nor the request's user agent, whatever its library", async () => {
    const tenant = await server.tenant("server-key");
    const created = await cli(["key", "create", "--tenant", tenant.tenantId, "--server"], storeEnv(server.dbPath));
    const serverKey = JSON.parse(created.stdout).key as string;
    const call = (messageId: string, key: string) =>
      server.post(
        "/v1/track",
        { event: "Backend", userId: "u", messageId, context: { library: { name: "my-own-http-client" } } },
        { key, headers: { "user-agent": CHROME_UA } },
      );
    expect((await call("sk-1", serverKey)).status).toBe(200);
    expect((await call("wk-1", tenant.writeKey)).status).toBe(200);
    const byId = Object.fromEntries((await exportEvents(server.dbPath, tenant.tenantId)).map((event) => [event.messageId, event]));
    expect(byId["sk-1"]!.context.ip).toBeUndefined();
    expect(byId["sk-1"]!.context.userAgent).toBeUndefined();
    // The same call with the public write key is a browser's or an app's: it takes both.
    expect(byId["wk-1"]!.context.ip).toBeDefined();
    expect(byId["wk-1"]!.context.userAgent).toBe(CHROME_UA);
  });
});
