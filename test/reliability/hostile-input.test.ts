/**
 * Hostile input: JSON shape limits (depth, keys, members, string and key lengths), prototype
 * keys, control characters in ids and event names, and event times out of range. A single call
 * breaking a rule is a 400 naming the path; in a batch only the offending item is rejected.
 * Slow clients (slowloris) and decompression bombs neither stop the server nor others' requests.
 * (Body size limits while reading and invalid UTF-8 are covered in test/track.test.ts.)
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { exportEvents, startTestServer, type TestServer } from "../helpers/server";

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(() => server.stop());

/** `k` objects nested in one another: nest(1) = {}, nest(2) = {"a": {}}. */
const nest = (k: number): unknown => (k <= 1 ? {} : { a: nest(k - 1) });

async function expect400(response: Response, path: string, message: RegExp) {
  const body = await response.json();
  expect(response.status).toBe(400);
  expect(body.error.code).toBe("invalid_request");
  expect(body.error.details).toContainEqual({ path, message: expect.stringMatching(message) });
  expect(typeof body.requestId).toBe("string");
}

const base = { event: "Hostile", anonymousId: "h" };

describe("JSON shape limits", () => {
  test("nesting: 32 levels are accepted, 33 are a 400 naming the path", async () => {
    // The body is level 1, properties level 2: nest(31) ends at level 32.
    expect((await server.track({ ...base, properties: nest(31) })).status).toBe(200);
    await expect400(await server.track({ ...base, properties: nest(32) }), "/properties" + "/a".repeat(31), /deeper than 32 levels/);
  });

  test("100,000 levels in one batch item reject that item alone (no stack overflow); in the envelope the batch", async () => {
    const deep = "[".repeat(100_000) + "]".repeat(100_000);
    const text = `{"batch":[{"type":"track","event":"Deep","anonymousId":"d","messageId":"deep-1","properties":{"x":${deep}}},{"type":"track","event":"Fine","anonymousId":"d","messageId":"deep-2"}]}`;
    const response = await server.post("/v1/events/batch", text);
    expect(response.status).toBe(200);
    const { results } = await response.json();
    expect(results[0]).toMatchObject({
      messageId: "deep-1",
      status: "rejected",
      errors: [{ path: expect.stringMatching(/^\/properties\/x(\/0)+$/), message: expect.stringMatching(/deeper/) }],
    });
    expect(results[1]).toEqual({ messageId: "deep-2", status: "accepted" });

    const envelope = `{"context":{"x":${deep}},"batch":[{"type":"track","event":"Fine","anonymousId":"d"}]}`;
    await expect400(await server.post("/v1/events/batch", envelope), expect.stringMatching(/^\/context\/x/) as unknown as string, /deeper/);
  });

  test("more than 1,000 keys in an object, or 10,000 keys and items in an event, are a 400", async () => {
    const wide = Object.fromEntries(Array.from({ length: 1001 }, (_, i) => [`k${i}`, 1]));
    await expect400(await server.track({ ...base, properties: wide }), "/properties", /More than 1000 keys/);
    const fine = Object.fromEntries(Array.from({ length: 1000 }, (_, i) => [`k${i}`, 1]));
    expect((await server.track({ ...base, properties: fine })).status).toBe(200);

    const many = Object.fromEntries(Array.from({ length: 11 }, (_, i) => [`list${i}`, Array(1000).fill(0)]));
    await expect400(
      await server.track({ ...base, properties: many }),
      expect.stringMatching(/^\/properties/) as unknown as string,
      /More than 10000 keys and array items/,
    );
  });

  test("strings over 8,192 characters and keys over 1,024 are a 400 naming the path", async () => {
    expect((await server.track({ ...base, properties: { s: "x".repeat(8192) } })).status).toBe(200);
    await expect400(await server.track({ ...base, properties: { s: "x".repeat(8193) } }), "/properties/s", /String longer than 8192/);
    await expect400(await server.track({ ...base, context: { page: { title: "é".repeat(8193) } } }), "/context/page/title", /String longer/);
    const longKey = "k".repeat(1025);
    const response = await server.track({ ...base, properties: { [longKey]: 1 } });
    const body = await response.json();
    expect(response.status).toBe(400);
    // The path shortens a huge key instead of echoing it back.
    expect(body.error.details[0]).toEqual({ path: `/properties/${"k".repeat(64)}...`, message: "A key is longer than 1024 characters" });
  });

  test("__proto__, constructor and prototype keys are refused, at any depth, and pollute nothing", async () => {
    const cases: [string, string, string][] = [
      ["/v1/events/track", `{"event":"P","anonymousId":"p","properties":{"__proto__":{"polluted":true}}}`, "/properties/__proto__"],
      ["/v1/events/track", `{"event":"P","anonymousId":"p","context":{"page":{"constructor":{"prototype":{"polluted":true}}}}}`, "/context/page/constructor"],
      ["/v1/events/identify", `{"userId":"u-proto","traits":{"prototype":1}}`, "/traits/prototype"],
      ["/v1/events/track", `{"__proto__":{"polluted":true},"event":"P","anonymousId":"p"}`, "/__proto__"],
    ];
    for (const [path, text, errorPath] of cases) await expect400(await server.post(path, text), errorPath, /is not allowed/);

    const mixed = `{"batch":[{"type":"track","event":"A","anonymousId":"p","messageId":"proto-ok"},{"type":"identify","userId":"u","messageId":"proto-bad","traits":{"a":{"__proto__":{"polluted":true}}}}]}`;
    const response = await server.post("/v1/events/batch", mixed);
    expect(response.status).toBe(200);
    const { results } = await response.json();
    expect(results).toEqual([
      { messageId: "proto-ok", status: "accepted" },
      { messageId: "proto-bad", status: "rejected", errors: [{ path: "/traits/a/__proto__", message: 'The key "__proto__" is not allowed' }] },
    ]);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.hasOwn(Object.prototype, "polluted")).toBe(false);
  });
});

describe("unpaired surrogates", () => {
  test("an escaped unpaired surrogate anywhere is a 400 (SQLite would store U+FFFD: garbled ids, false duplicates)", async () => {
    await expect400(await server.post("/v1/events/track", `{"event":"E","anonymousId":"a","messageId":"m-\\ud800"}`), "/messageId", /well-formed/);
    await expect400(await server.post("/v1/events/track", `{"event":"E\\udfff","anonymousId":"a"}`), "/event", /well-formed/);
    await expect400(await server.post("/v1/events/track", `{"event":"E","anonymousId":"a","properties":{"k\\ud83d":1}}`), "/properties/k\ud83d", /well-formed/);
    // A proper pair (an emoji, escaped or not) is fine.
    expect((await server.post("/v1/events/track", `{"event":"E \\ud83d\\ude00 😀","anonymousId":"a"}`)).status).toBe(200);
    const batch = `{"batch":[{"type":"track","event":"E","anonymousId":"\\udbff","messageId":"s-1"},{"type":"track","event":"E","anonymousId":"a","messageId":"s-2"}]}`;
    const { results } = await (await server.post("/v1/events/batch", batch)).json();
    expect(results.map((r: { status: string }) => r.status)).toEqual(["rejected", "accepted"]);
  });
});

describe("control characters in ids and event names", () => {
  test("are a 400 naming the field, for every id field and the event name", async () => {
    await expect400(await server.track({ event: "Sign\u0000Up", anonymousId: "c" }), "/event", /Control characters/);
    await expect400(await server.track({ ...base, messageId: "m\n1" }), "/messageId", /Control characters/);
    await expect400(await server.track({ event: "E", userId: "u\u007f" }), "/userId", /Control characters/);
    await expect400(await server.track({ event: "E", anonymousId: "a\u0085" }), "/anonymousId", /Control characters/); // C1 (NEL)
    await expect400(await server.post("/v1/events/alias", { previousId: "old\r", userId: "new" }), "/previousId", /Control characters/);
    await expect400(await server.post("/v1/events/group", { groupId: "g\t1", userId: "u" }), "/groupId", /Control characters/);
  });

  test("in a batch only that item is rejected; other Unicode is fine and stored as sent", async () => {
    const t = await server.tenant("control");
    const response = await server.post(
      "/v1/events/batch",
      {
        batch: [
          { type: "track", event: "Bad\u001b[31m", anonymousId: "c", messageId: "ctl-1" },
          { type: "track", event: "Café ☕ مرحبا 𝄞", anonymousId: "c", messageId: "ctl-2" },
          { type: "group", groupId: "g\u0007", anonymousId: "c", messageId: "ctl-3" },
        ],
      },
      { key: t.writeKey },
    );
    const { results } = await response.json();
    expect(results.map((r: { status: string }) => r.status)).toEqual(["rejected", "accepted", "rejected"]);
    expect(results[0].errors).toEqual([{ path: "/event", message: "Control characters are not allowed" }]);
    expect(results[2].errors).toEqual([{ path: "/groupId", message: "Control characters are not allowed" }]);
    const stored = await exportEvents(server.dbPath, t.tenantId);
    expect(stored.map((e) => e.event)).toEqual(["Café ☕ مرحبا 𝄞"]);
  });
});

describe("characters a store might choke on, in properties and traits", () => {
  test("NUL, quotes, backslashes, braces and the word NULL in values and keys are stored; NUL in a value commits nobody else's call to failure", async () => {
    const t = await server.tenant("odd-values");
    const odd = {
      nul: "a\u0000b",
      ["k\u0000ey"]: 1,
      quote: 'say "hi"',
      backslash: "C:\\dir\\",
      braces: "{a,b}",
      word: "NULL",
      empty: "",
      list: ["NULL", null, "x,y"],
    };
    // Sent together, so that they share a group commit: the odd one must not fail the plain one.
    const [oddAnswer, plainAnswer, identifyAnswer] = await Promise.all([
      server.track({ event: "Odd", anonymousId: "odd", messageId: "odd-1", properties: odd }, { key: t.writeKey }),
      server.track({ event: "Plain", anonymousId: "plain", messageId: "plain-1" }, { key: t.writeKey }),
      server.post("/v1/events/identify", { userId: "odd-user", anonymousId: "odd", messageId: "odd-2", traits: { name: "N\u0000ul" } }, { key: t.writeKey }),
    ]);
    expect([oddAnswer.status, plainAnswer.status, identifyAnswer.status]).toEqual([200, 200, 200]);
    const stored = await exportEvents(server.dbPath, t.tenantId);
    const properties = stored.find((e) => e.messageId === "odd-1")!.properties;
    // NUL is kept where the store can hold it (SQLite), and is U+FFFD where it cannot (PostgreSQL's jsonb).
    const nul = properties.nul === "a\u0000b" ? "\u0000" : "\uFFFD";
    expect(properties).toEqual({ ...odd, nul: `a${nul}b`, [`k\u0000ey`]: undefined, [`k${nul}ey`]: 1 });
    expect(stored.map((e) => e.messageId).sort()).toEqual(["odd-1", "odd-2", "plain-1"]);
  });
});

describe("event times", () => {
  const day = 24 * 60 * 60 * 1000;
  const iso = (ms: number) => new Date(ms).toISOString();

  test("more than a day in the future or before 2000 is a 400; within the window is accepted", async () => {
    await expect400(await server.track({ ...base, timestamp: iso(Date.now() + 2 * day) }), "/timestamp", /more than 24 hours in the future/);
    await expect400(await server.track({ ...base, timestamp: "1999-12-31T23:59:59.000Z" }), "/timestamp", /before 2000-01-01/);
    await expect400(await server.track({ ...base, originalTimestamp: "1990-01-01T00:00:00.000Z" }), "/originalTimestamp", /before 2000/);
    expect((await server.track({ ...base, timestamp: iso(Date.now() + day - 60_000) })).status).toBe(200);
    expect((await server.track({ ...base, timestamp: "2000-01-01T00:00:00.000Z" })).status).toBe(200);
  });

  test("the rule applies after clock-skew correction: a client clock years off but consistent is fine", async () => {
    const t = await server.tenant("skewed");
    const clientNow = Date.parse("2040-06-01T12:00:00.000Z");
    const response = await server.track({ ...base, messageId: "skewed-1", timestamp: iso(clientNow - 1000), sentAt: iso(clientNow) }, { key: t.writeKey });
    expect(response.status).toBe(200);
    const [stored] = await exportEvents(server.dbPath, t.tenantId);
    expect(Math.abs(Date.parse(stored!.timestamp) - Date.now())).toBeLessThan(day);
    expect(stored!.originalTimestamp).toBe(iso(clientNow - 1000));
  });

  test("in a batch only the out-of-range items are rejected", async () => {
    const response = await server.post("/v1/events/batch", {
      batch: [
        { type: "track", event: "Now", anonymousId: "t", messageId: "time-1" },
        { type: "track", event: "Future", anonymousId: "t", messageId: "time-2", timestamp: iso(Date.now() + 3 * day) },
        { type: "page", anonymousId: "t", messageId: "time-3", timestamp: "1970-01-01T00:00:00.000Z" },
      ],
    });
    const { results } = await response.json();
    expect(results.map((r: { status: string }) => r.status)).toEqual(["accepted", "rejected", "rejected"]);
    expect(results[1].errors[0].path).toBe("/timestamp");
  });
});

describe("slow clients (slowloris)", () => {
  test("hundreds of connections stalled mid-headers or mid-body do not stop others being served, and the server drops them", { timeout: 60_000 }, async () => {
    const { port } = new URL(server.url);
    let closed = 0;
    const stalled = await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        Bun.connect({
          hostname: "127.0.0.1",
          port: Number(port),
          socket: {
            data() {},
            close() {
              closed++;
            },
          },
        }).then((socket) => {
          // Half stop inside the headers, half after promising a body they never send.
          socket.write(
            i % 2 === 0
              ? "POST /v1/events/track HTTP/1.1\r\nHost: x\r\nX-Slow: "
              : `POST /v1/events/track HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${server.writeKey}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"event":`,
          );
          return socket;
        }),
      ),
    );
    try {
      // Everyone else is served meanwhile.
      const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => server.track({ ...base, messageId: `slowloris-${i}` })));
      expect(answers.map((r) => r.status)).toEqual(new Array(20).fill(200));
      // The stalled connections are not held for ever (the server's idle timeout closes them); a
      // guard of 45 s only keeps a regression from hanging the suite.
      const deadline = Date.now() + 45_000;
      while (closed < stalled.length && Date.now() < deadline) await Bun.sleep(100);
      expect(closed).toBe(stalled.length);
    } finally {
      for (const socket of stalled) socket.end();
    }
  });
});

describe("compressed bodies (decompression bombs)", () => {
  test("a gzip or deflate bomb with a valid key is a 413 after at most the limit is inflated; the server keeps serving", async () => {
    const { gzipSync, deflateSync } = await import("node:zlib");
    const inflated = Buffer.concat([Buffer.from('{"batch":[],"pad":"'), Buffer.alloc(20 * 1024 * 1024, 0x20), Buffer.from('"}')]);
    for (const [encoding, body] of [
      ["gzip", gzipSync(inflated)],
      ["deflate", deflateSync(inflated)],
    ] as const) {
      expect(body.byteLength).toBeLessThan(100 * 1024);
      const response = await fetch(`${server.url}/v1/batch`, {
        method: "POST",
        headers: { authorization: `Bearer ${server.writeKey}`, "content-type": "application/json", "content-encoding": encoding },
        body,
      });
      expect([encoding, response.status]).toEqual([encoding, 413]);
      expect((await response.json()).error.code).toBe("payload_too_large");
    }
    expect((await server.track({ ...base, messageId: "after-bombs" })).status).toBe(200);
  });
});

describe("bodies where no body is taken", () => {
  // The socket takes bodies of any size (so that every refusal gets the JSON error format); a
  // route that takes no body must therefore not read one, or any caller could make it buffer GBs.
  test("a 64 MiB body to an unknown path or a wrong method is answered without being read", async () => {
    const total = 64 * 1024 * 1024;
    const chunk = new Uint8Array(1024 * 1024).fill(0x20);
    for (const [method, path, status] of [
      ["POST", "/nowhere", 404],
      ["POST", "/health", 405],
      ["PUT", "/v1/track", 405],
    ] as const) {
      let pulled = 0;
      const body = new ReadableStream<Uint8Array>({
        pull(controller) {
          if (pulled >= total) return controller.close();
          pulled += chunk.byteLength;
          controller.enqueue(chunk);
        },
      });
      const response = await fetch(`${server.url}${path}`, { method, body, headers: { "content-type": "application/json" }, duplex: "half" } as RequestInit);
      expect(response.status).toBe(status);
      expect((await response.json()).error.code).toBe(status === 404 ? "not_found" : "method_not_allowed");
      // The client stops sending once answered; what the server pulled is far below the whole body.
      expect(pulled).toBeLessThan(total / 2);
    }
  });
});
