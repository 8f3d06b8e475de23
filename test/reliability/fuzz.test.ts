/**
 * Fuzzing track, identify and batch of a real server with fast-check: random and adversarial
 * JSON (deep nesting, huge strings and keys, prototype keys, control characters, unpaired
 * surrogates, wrong types, numbers as ids, any Unicode) and random bytes. Bounded (a fixed seed
 * and number of runs, printed; FUZZ_SEED / FUZZ_RUNS change them). It checks:
 * - no 500, and the server still answers /health and /ready afterwards;
 * - nothing that breaks a documented rule is ever accepted;
 * - every messageId answered `accepted` is stored exactly once, and what is stored (type, event
 *   name, ids, properties, traits) equals what was sent: nothing garbled.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import fc from "fast-check";
import { exportEvents, startTestServer, TEST_STORE, type TestServer } from "../helpers/server";

const SEED = Number(process.env.FUZZ_SEED ?? 20261127);
const RUNS = Number(process.env.FUZZ_RUNS ?? 500);

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(() => server.stop());

// ---- generators ----

const nasty = fc.constantFrom("\ud800", "\udfff", "\u0000", "\u001b", "\u007f", "\u0085", "\u202e", "\ufeff", "é", "😀", "a");
const text = fc.oneof(
  { weight: 4, arbitrary: fc.string({ maxLength: 30 }) },
  { weight: 2, arbitrary: fc.string({ unit: "binary", maxLength: 20 }) },
  { weight: 1, arbitrary: fc.string({ unit: "binary-ascii", maxLength: 20 }) },
  { weight: 1, arbitrary: fc.string({ unit: nasty, maxLength: 6 }) },
);
const key = fc.oneof(
  { weight: 12, arbitrary: text },
  { weight: 1, arbitrary: fc.constantFrom("__proto__", "constructor", "prototype") },
  { weight: 1, arbitrary: fc.integer({ min: 1020, max: 1030 }).map((n) => "k".repeat(n)) },
);
const nest = (k: number): unknown => (k <= 1 ? {} : { a: nest(k - 1) });
const { value } = fc.letrec((tie) => ({
  value: fc.oneof({ depthSize: "small", maxDepth: 4 }, fc.constant(null), fc.boolean(), fc.integer(), fc.double(), text, tie("object"), tie("array")),
  object: fc.dictionary(key, tie("value"), { maxKeys: 5 }),
  array: fc.array(tie("value"), { maxLength: 4 }),
}));
const properties = fc.oneof(
  { weight: 10, arbitrary: fc.dictionary(key, value, { maxKeys: 6 }) },
  { weight: 1, arbitrary: fc.integer({ min: 25, max: 40 }).map(nest) },
  { weight: 1, arbitrary: fc.integer({ min: 8180, max: 8200 }).map((n) => ({ s: "x".repeat(n) })) },
  { weight: 1, arbitrary: value },
);
const id = fc.oneof(
  { weight: 8, arbitrary: fc.uuid() },
  { weight: 2, arbitrary: fc.constantFrom("dup-a", "dup-b", 42) },
  { weight: 2, arbitrary: text },
  { weight: 1, arbitrary: fc.integer() },
  { weight: 1, arbitrary: fc.double() },
  { weight: 1, arbitrary: fc.constantFrom("", null, true, [1], { id: 1 }) },
  { weight: 1, arbitrary: fc.string({ minLength: 250, maxLength: 260 }) },
);
const time = fc.oneof(
  { weight: 4, arbitrary: fc.date({ noInvalidDate: true, min: new Date("1995-01-01"), max: new Date("2035-01-01") }).map((d) => d.toISOString()) },
  { weight: 1, arbitrary: text },
  { weight: 1, arbitrary: fc.integer() },
);
const eventName = fc.oneof(
  { weight: 6, arbitrary: fc.string({ minLength: 1, maxLength: 40 }) },
  { weight: 2, arbitrary: text },
  { weight: 1, arbitrary: fc.integer() },
  { weight: 1, arbitrary: fc.string({ minLength: 195, maxLength: 210 }) },
);
const track = fc.record(
  { event: eventName, anonymousId: id, userId: id, messageId: id, properties, context: properties, timestamp: time, sentAt: time },
  { requiredKeys: ["event"] },
);
const identify = fc.record(
  {
    userId: id,
    anonymousId: id,
    messageId: id,
    traits: fc.oneof(properties, fc.record({ email: fc.oneof(fc.emailAddress(), text), name: text })),
    timestamp: time,
  },
  { requiredKeys: [] },
);
// Plausible calls (valid by the rules, with any Unicode, numbers as ids and nested values), so
// that what is stored gets compared often, not only what is refused.
const plausibleId = fc.oneof(
  { weight: 4, arbitrary: fc.uuid() },
  { weight: 1, arbitrary: fc.integer() },
  { weight: 1, arbitrary: fc.string({ unit: "grapheme", minLength: 1, maxLength: 20 }) },
);
const plausibleProperties = fc.dictionary(fc.string({ unit: "grapheme", maxLength: 15 }), value, { maxKeys: 8 });
const recent = fc.integer({ min: 0, max: 30 * 24 * 3600 * 1000 }).map((ago) => new Date(Date.now() - ago).toISOString());
const plausibleTrack = fc.record(
  {
    event: fc.string({ unit: "grapheme", minLength: 1, maxLength: 40 }),
    anonymousId: plausibleId,
    userId: plausibleId,
    messageId: plausibleId,
    properties: plausibleProperties,
    timestamp: recent,
  },
  { requiredKeys: ["event", "anonymousId"] },
);
const plausibleIdentify = fc.record(
  { userId: plausibleId, anonymousId: plausibleId, messageId: plausibleId, traits: plausibleProperties, timestamp: recent },
  { requiredKeys: ["userId"] },
);

const batchItem = fc.oneof(
  { weight: 4, arbitrary: plausibleTrack.map((c) => ({ type: "track", ...c })) },
  { weight: 2, arbitrary: plausibleIdentify.map((c) => ({ type: "identify", ...c })) },
  { weight: 3, arbitrary: track.map((c) => ({ type: "track", ...c })) },
  { weight: 2, arbitrary: identify.map((c) => ({ type: "identify", ...c })) },
  { weight: 1, arbitrary: fc.record({ type: fc.oneof(text, fc.integer()), anonymousId: id, messageId: id }) },
  { weight: 1, arbitrary: value },
);
const batch = fc.record({ batch: fc.array(batchItem, { maxLength: 6 }), sentAt: time, context: properties }, { requiredKeys: ["batch"] });

type Request = { endpoint: "track" | "identify" | "batch"; body: unknown } | { endpoint: "track" | "identify" | "batch"; raw: Uint8Array<ArrayBuffer> };
const request: fc.Arbitrary<Request> = fc.oneof(
  { weight: 3, arbitrary: plausibleTrack.map((body) => ({ endpoint: "track" as const, body })) },
  { weight: 2, arbitrary: plausibleIdentify.map((body) => ({ endpoint: "identify" as const, body })) },
  { weight: 4, arbitrary: track.map((body) => ({ endpoint: "track" as const, body })) },
  { weight: 3, arbitrary: identify.map((body) => ({ endpoint: "identify" as const, body })) },
  { weight: 4, arbitrary: batch.map((body) => ({ endpoint: "batch" as const, body })) },
  {
    weight: 1,
    arbitrary: fc.record({ endpoint: fc.constantFrom("track" as const, "identify" as const, "batch" as const), raw: fc.uint8Array({ maxLength: 300 }) }),
  },
);

// ---- the oracle: what must never be accepted (docs/api.md, "Limits") ----

const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
const FORBIDDEN = new Set(["__proto__", "constructor", "prototype"]);

/** Why a call (as the server parses it) must be refused, or null when nothing obliges it. */
function mustRefuse(call: unknown, depth = 1): string | null {
  if (typeof call === "string") return call.length > 8192 ? "string > 8192" : call.isWellFormed() ? null : "unpaired surrogate";
  if (call === null || typeof call !== "object") return null;
  if (depth > 32) return "depth > 32";
  for (const [k, v] of Object.entries(call)) {
    if (FORBIDDEN.has(k)) return `key ${k}`;
    if (k.length > 1024) return "key > 1024";
    if (!k.isWellFormed()) return "key with an unpaired surrogate";
    const why = mustRefuse(v, depth + 1);
    if (why) return why;
  }
  if (depth === 1) {
    for (const field of ["messageId", "userId", "anonymousId", "event", "groupId", "previousId"]) {
      const v = (call as Record<string, unknown>)[field];
      if (typeof v === "string" && CONTROL.test(v)) return `control character in ${field}`;
    }
  }
  return null;
}

interface Sent {
  type: string;
  event?: unknown;
  userId?: unknown;
  anonymousId?: unknown;
  properties?: unknown;
  traits?: unknown;
}

test(`fuzz: ${RUNS} runs of random and hostile input to track, identify and batch (seed ${SEED})`, { timeout: 120_000 }, async () => {
  console.log(`fuzz: seed ${SEED}, ${RUNS} runs (set FUZZ_SEED / FUZZ_RUNS to change)`);
  const accepted = new Map<string, Sent>();
  const statuses = new Map<number, number>();

  /** Books one accepted call; a messageId accepted twice is a dedupe failure. */
  const book = (messageId: string, call: Record<string, unknown>, type: string) => {
    const why = mustRefuse(call);
    if (why) throw new Error(`accepted although it must be refused (${why}): ${JSON.stringify(call).slice(0, 300)}`);
    if (accepted.has(messageId)) throw new Error(`messageId ${JSON.stringify(messageId)} accepted twice`);
    accepted.set(messageId, { type, event: call.event, userId: call.userId, anonymousId: call.anonymousId, properties: call.properties, traits: call.traits });
  };

  await fc.assert(
    fc.asyncProperty(request, async (r) => {
      const payload: string | Uint8Array<ArrayBuffer> = "raw" in r ? new Uint8Array(r.raw) : JSON.stringify(r.body);
      const response = await fetch(`${server.url}/v1/events/${r.endpoint}`, {
        method: "POST",
        headers: { authorization: `Bearer ${server.writeKey}`, "content-type": "application/json" },
        body: payload,
      });
      statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
      const answer = (await response.json()) as any;
      if (![200, 400, 413].includes(response.status)) throw new Error(`status ${response.status}: ${JSON.stringify(answer)}`);
      if (response.status !== 200) {
        expect(typeof answer.error.code).toBe("string");
        return;
      }
      // The server saw the JSON text, not our objects: judge what it parsed.
      const parsed = JSON.parse(payload as string) as Record<string, unknown>;
      if (r.endpoint !== "batch") {
        if (answer.status === "accepted") book(answer.messageId, parsed, r.endpoint);
        else if (answer.status === "duplicate") expect(accepted.has(answer.messageId)).toBe(true);
        return;
      }
      const items = parsed.batch as Record<string, unknown>[];
      expect(answer.results.length).toBe(items.length);
      if (mustRefuse({ ...parsed, batch: [] })) throw new Error(`a batch with a hostile envelope was answered 200: ${JSON.stringify(parsed).slice(0, 300)}`);
      // Accepted first: a messageId repeated in one batch is accepted once, then a duplicate.
      answer.results.forEach((result: any, i: number) => {
        if (result.status === "accepted") book(result.messageId, items[i]!, String(items[i]!.type));
      });
      for (const result of answer.results) if (result.status === "duplicate") expect(accepted.has(result.messageId)).toBe(true);
    }),
    { numRuns: RUNS, seed: SEED, endOnFailure: true },
  );

  console.log(`fuzz: statuses ${JSON.stringify(Object.fromEntries(statuses))}; ${accepted.size} events accepted`);
  expect((await fetch(`${server.url}/health`)).status).toBe(200);
  expect((await fetch(`${server.url}/ready`)).status).toBe(200);
  expect(accepted.size).toBeGreaterThan(RUNS / 4);

  // Stored exactly once each, and equal to what was sent.
  const stored = await exportEvents(server.dbPath, server.tenantId);
  const ids = stored.map((e) => e.messageId as string);
  expect(new Set(ids).size).toBe(ids.length);
  expect([...ids].sort()).toEqual([...accepted.keys()].sort());
  // The tolerant reader (docs/api.md): null and "" ids are absent.
  const asId = (v: unknown) => (v === undefined || v === null || v === "" ? undefined : String(v));
  // PostgreSQL's jsonb cannot hold U+0000: there it is stored as U+FFFD, in strings and keys (docs/api.md).
  const asOptional = (v: unknown) => (v === null ? undefined : TEST_STORE === "postgres" ? withoutNul(v) : v);
  for (const event of stored) {
    const sent = accepted.get(event.messageId)!;
    expect({ messageId: event.messageId, type: event.type }).toEqual({ messageId: event.messageId, type: sent.type });
    expect(event.anonymousId).toBe(asId(sent.anonymousId));
    expect(event.userId).toBe(asId(sent.userId));
    if (sent.type === "track") {
      expect(event.event).toBe(sent.event);
      expect(event.properties).toEqual(asOptional(sent.properties));
    }
    if (sent.type === "identify") expect(event.traits).toEqual(asOptional(sent.traits));
  }
});

/** A JSON value with each U+0000 in its strings and keys replaced by U+FFFD. */
function withoutNul(value: unknown): unknown {
  if (typeof value === "string") return value.replaceAll("\u0000", "\uFFFD");
  if (Array.isArray(value)) return value.map(withoutNul);
  if (value && typeof value === "object") return Object.fromEntries(Object.entries(value).map(([k, v]) => [k.replaceAll("\u0000", "\uFFFD"), withoutNul(v)]));
  return value;
}
