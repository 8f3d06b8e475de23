/**
 * Tracing, end to end: a real `inlet serve` child process exporting OTLP/HTTP JSON to a receiver
 * inside the test. The SDK is process-wide, hence the child process.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { spawnServer, type ServerProcess } from "../helpers/process";
import { cli, startTestServer, storeEnv, TEST_STORE, tempDir } from "../helpers/server";
import { createTestDatabase, type TestDatabase } from "../helpers/postgres";
import { headSampler } from "../../src/observability/tracing";
import { startOtlpReceiver, type ReceivedSpan } from "./otlp-receiver";

const TRACE_ID = "0af7651916cd43dd8448eb211c80319c";
const PARENT_SPAN_ID = "b7ad6b7169203331";

/** Values a request carries that must never appear in an exported span. */
const PERSONAL = {
  anonymousId: "anon-7f3c9e21-private",
  userId: "user-5521-private",
  email: "jane.private@example.com",
  ip: "203.0.113.77",
  userAgent: "PrivateBrowser/9.9 (unique-agent-string)",
};

let receiver: ReturnType<typeof startOtlpReceiver>;
let server: ServerProcess;
let tenantId: string;
let writeKey: string;
let database: TestDatabase | null = null;

beforeAll(async () => {
  receiver = startOtlpReceiver();
  // The spans of a commit are the store's writer's: on INLET_TEST_STORE's store.
  if (TEST_STORE === "postgres") database = await createTestDatabase("tracing");
  const store = storeEnv(database?.url ?? join(tempDir(), "inlet.db"));
  const created = await cli(["tenant", "create", "traced"], store);
  ({ tenantId, key: writeKey } = JSON.parse(created.stdout));
  server = await spawnServer({
    ...store,
    INLET_DEMO: "false",
    LOG_LEVEL: "info",
    OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
    OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
    OTEL_SERVICE_NAME: "inlet-under-test",
    // Export within 50 ms instead of 5 s, so the test does not wait.
    OTEL_BSP_SCHEDULE_DELAY: "50",
  });
});

afterAll(async () => {
  server?.proc.kill();
  await server?.proc.exited;
  receiver?.stop();
  await database?.drop();
});

function post(path: string, body: unknown, headers: Record<string, string> = {}) {
  return fetch(server.url + path, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${writeKey}`, ...headers },
    body: JSON.stringify(body),
  });
}

const traceparent = (traceId: string) => `00-${traceId}-${PARENT_SPAN_ID}-01`;

/** The spans of one trace once its request span and `mustInclude` spans have arrived. */
async function trace(traceId: string, mustInclude: string[]): Promise<ReceivedSpan[]> {
  const ofTrace = () => receiver.spans.filter((s) => s.traceId === traceId);
  await receiver.waitFor(() => {
    const spans = ofTrace();
    return spans.some((s) => s.parentSpanId === PARENT_SPAN_ID) && mustInclude.every((name) => spans.some((s) => s.name === name));
  });
  return ofTrace();
}

/** Whether `span` descends from `ancestor` through the parent links. */
function descends(spans: ReceivedSpan[], span: ReceivedSpan, ancestor: ReceivedSpan): boolean {
  const byId = new Map(spans.map((s) => [s.spanId, s]));
  for (let current: ReceivedSpan | undefined = span; current; current = byId.get(current.parentSpanId)) {
    if (current.parentSpanId === ancestor.spanId) return true;
  }
  return false;
}

const only = (spans: ReceivedSpan[], name: string) => {
  const found = spans.filter((s) => s.name === name);
  expect(found).toHaveLength(1);
  return found[0]!;
};

describe("tracing (OTLP exporter configured)", () => {
  test("a track request continues the incoming traceparent; auth, normalize, enrich and commit (with the tenant id) are child spans, session and identity run under commit", async () => {
    const res = await post("/v1/events/track", { event: "Signed Up", anonymousId: "a-1" }, { traceparent: traceparent(TRACE_ID) });
    expect(res.status).toBe(200);
    const spans = await trace(TRACE_ID, ["auth", "normalize", "enrich", "commit", "session", "identity"]);

    const root = spans.find((s) => s.parentSpanId === PARENT_SPAN_ID)!;
    expect(root.name).toBe("POST /v1/events/track");
    expect(root.service).toBe("inlet-under-test");
    expect(root.attributes).toMatchObject({
      "http.route": "/v1/events/track",
      "http.request.method": "POST",
      "http.response.status_code": 200,
    });
    for (const name of ["auth", "normalize", "enrich", "commit"]) expect(descends(spans, only(spans, name), root)).toBe(true);
    for (const name of ["normalize", "enrich", "commit"]) expect(only(spans, name).attributes["inlet.tenant_id"]).toBe(tenantId);

    const commit = only(spans, "commit");
    expect(commit.attributes).toMatchObject({ "inlet.tenant_id": tenantId, "inlet.events": 1 });
    expect(commit.attributes["inlet.group_size"]).toBeGreaterThanOrEqual(1);
    // The request is alone: it finds no other events waiting for the writer.
    expect(commit.attributes["inlet.queue_depth"]).toBe(0);
    expect(only(spans, "session").parentSpanId).toBe(commit.spanId);
    expect(only(spans, "identity").parentSpanId).toBe(commit.spanId);
    expect(only(spans, "normalize").attributes).toMatchObject({ "inlet.events": 1, "inlet.rejected": 0 });
  });

  test("a batch's spans count its events: rejected ones in normalize, stored ones in commit", async () => {
    const traceId = "1bf7651916cd43dd8448eb211c80319d";
    const res = await post(
      "/v1/events/batch",
      {
        batch: [
          { type: "track", event: "A", anonymousId: "b-1" },
          { type: "track", event: "B", anonymousId: "b-2" },
          { type: "track", anonymousId: "b-3" }, // no event name: rejected
          { type: "identify", userId: "u-b", anonymousId: "b-1" },
        ],
      },
      { traceparent: traceparent(traceId) },
    );
    expect(res.status).toBe(200);
    const spans = await trace(traceId, ["commit", "identity"]);
    expect(only(spans, "normalize").attributes).toMatchObject({ "inlet.events": 4, "inlet.rejected": 1 });
    const commit = only(spans, "commit");
    expect(commit.attributes["inlet.events"]).toBe(3);
    await receiver.waitFor(() => receiver.spans.filter((s) => s.parentSpanId === commit.spanId && s.name === "session").length === 3);
  });

  test("no personal data leaves in spans: no ids, emails, IP addresses, user agents, keys or bodies", async () => {
    const traceId = "2cf7651916cd43dd8448eb211c80319e";
    const headers = { traceparent: traceparent(traceId), "x-forwarded-for": PERSONAL.ip, "user-agent": PERSONAL.userAgent };
    const accepted = await post(
      "/v1/events/identify",
      { userId: PERSONAL.userId, anonymousId: PERSONAL.anonymousId, traits: { email: PERSONAL.email }, context: { ip: PERSONAL.ip } },
      headers,
    );
    expect(accepted.status).toBe(200);
    // A validation error's message quotes the offending input: it must not leave either.
    const invalidTrace = "3df7651916cd43dd8448eb211c80319f";
    const invalid = await post(
      "/v1/events/track",
      { event: PERSONAL.email, anonymousId: { email: PERSONAL.email } },
      { ...headers, traceparent: traceparent(invalidTrace) },
    );
    expect(invalid.status).toBe(400);

    await trace(traceId, ["commit", "identity"]);
    const invalidSpans = await trace(invalidTrace, []);
    expect(invalidSpans.find((s) => s.parentSpanId === PARENT_SPAN_ID)!.attributes["http.response.status_code"]).toBe(400);

    const exported = receiver.raw.join("\n");
    for (const value of [...Object.values(PERSONAL), writeKey]) expect(exported).not.toContain(value);
  });

  test("log lines carry the trace and span ids of the request they belong to", async () => {
    const traceId = "4ef7651916cd43dd8448eb211c8031a0";
    const requestId = "log-correlation-check";
    const res = await post("/v1/events/track", { event: "Logged", anonymousId: "l-1" }, { traceparent: traceparent(traceId), "x-request-id": requestId });
    expect(res.status).toBe(200);
    const deadline = Date.now() + 10_000;
    let line: Record<string, unknown> | undefined;
    while (!line && Date.now() < deadline) {
      line = server
        .output()
        .split("\n")
        .filter((l) => l.startsWith("{"))
        .map((l) => JSON.parse(l))
        .find((l) => l.msg === "request" && l.requestId === requestId);
      if (!line) await Bun.sleep(20);
    }
    expect(line).toBeDefined();
    expect(line!.traceId).toBe(traceId);
    expect(line!.spanId).toMatch(/^[0-9a-f]{16}$/);
  });
});

describe("sampling (OTEL_TRACES_SAMPLER), decided before the plugin does any work", () => {
  test("parentbased_always_off traces only requests whose traceparent is sampled", async () => {
    const sampledReceiver = startOtlpReceiver();
    const db = join(tempDir(), "inlet.db");
    const created = JSON.parse((await cli(["tenant", "create", "sampled"], { INLET_DB: db })).stdout);
    const sampledServer = await spawnServer({
      INLET_DB: db,
      INLET_DEMO: "false",
      OTEL_EXPORTER_OTLP_ENDPOINT: sampledReceiver.url,
      OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
      OTEL_BSP_SCHEDULE_DELAY: "50",
      OTEL_TRACES_SAMPLER: "parentbased_always_off",
    });
    try {
      const send = (headers: Record<string, string>) =>
        fetch(sampledServer.url + "/v1/events/track", {
          method: "POST",
          headers: { "content-type": "application/json", authorization: `Bearer ${created.key}`, ...headers },
          body: JSON.stringify({ event: "Sampled?", anonymousId: "s-1" }),
        });
      const notSampled = "7af7651916cd43dd8448eb211c8031a3";
      expect((await send({ traceparent: `00-${notSampled}-${PARENT_SPAN_ID}-00` })).status).toBe(200);
      expect((await send({})).status).toBe(200);
      const sampled = "8af7651916cd43dd8448eb211c8031a4";
      expect((await send({ traceparent: `00-${sampled}-${PARENT_SPAN_ID}-01` })).status).toBe(200);
      // Spans leave in the order they end: once the sampled request's commit span is here, the
      // earlier requests' spans would be too.
      await sampledReceiver.waitFor((spans) => spans.some((s) => s.traceId === sampled && s.name === "commit"));
      expect(new Set(sampledReceiver.spans.map((s) => s.traceId))).toEqual(new Set([sampled]));
    } finally {
      sampledServer.proc.kill();
      await sampledServer.proc.exited;
      sampledReceiver.stop();
    }
  });

  test("the standard samplers and their argument", () => {
    const sampledParent = `00-${TRACE_ID}-${PARENT_SPAN_ID}-01`;
    const unsampledParent = `00-${TRACE_ID}-${PARENT_SPAN_ID}-00`;
    const always = headSampler({});
    expect([always(null), always(sampledParent), always(unsampledParent)]).toEqual([true, true, false]);
    const never = headSampler({ OTEL_TRACES_SAMPLER: "always_off" });
    expect([never(null), never(sampledParent)]).toEqual([false, false]);
    const none = headSampler({ OTEL_TRACES_SAMPLER: "parentbased_traceidratio", OTEL_TRACES_SAMPLER_ARG: "0" });
    expect([none(null), none(sampledParent), none(unsampledParent)]).toEqual([false, true, false]);
    const tenth = headSampler({ OTEL_TRACES_SAMPLER: "traceidratio", OTEL_TRACES_SAMPLER_ARG: "0.1" });
    const share = Array.from({ length: 20_000 }, () => tenth(null)).filter(Boolean).length / 20_000;
    expect(share).toBeGreaterThan(0.08);
    expect(share).toBeLessThan(0.12);
  });
});

describe("shutdown", () => {
  test("a graceful stop exports the spans still buffered: the last requests' traces are not lost", async () => {
    const lateReceiver = startOtlpReceiver();
    const db = join(tempDir(), "inlet.db");
    const created = JSON.parse((await cli(["tenant", "create", "late"], { INLET_DB: db })).stdout);
    const lateServer = await spawnServer({
      INLET_DB: db,
      INLET_DEMO: "false",
      OTEL_EXPORTER_OTLP_ENDPOINT: lateReceiver.url,
      OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
      // Far beyond the test: only the flush at shutdown can send these spans.
      OTEL_BSP_SCHEDULE_DELAY: "600000",
    });
    try {
      const traceId = "9bf7651916cd43dd8448eb211c8031a5";
      const res = await fetch(lateServer.url + "/v1/events/track", {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${created.key}`, traceparent: traceparent(traceId) },
        body: JSON.stringify({ event: "Last before shutdown", anonymousId: "late-1" }),
      });
      expect(res.status).toBe(200);
      await Bun.sleep(200);
      expect(lateReceiver.spans.filter((s) => s.traceId === traceId)).toEqual([]);
      lateServer.proc.kill("SIGTERM");
      expect(await lateServer.proc.exited).toBe(0);
      const names = lateReceiver.spans.filter((s) => s.traceId === traceId).map((s) => s.name);
      for (const name of ["normalize", "enrich", "commit", "session"]) expect(names).toContain(name);
      expect(lateReceiver.spans.some((s) => s.traceId === traceId && s.parentSpanId === PARENT_SPAN_ID)).toBe(true);
    } finally {
      lateServer.proc.kill();
      await lateServer.proc.exited;
      lateReceiver.stop();
    }
  });
});

describe("tracing off (nothing configured)", () => {
  test("the plugin is not registered and the OpenTelemetry SDK is not even loaded", async () => {
    // The API package alone is loaded anyway (prom-client uses it); the plugin and the SDK must not be.
    const loaded = () => Object.keys(require.cache).filter((path) => /elysiajs[+/]opentelemetry|@opentelemetry[+/](sdk-|exporter-)/.test(path));
    const plain = await startTestServer();
    try {
      expect(plain.running.services.tracing).toBeNull();
      const res = await plain.track({ event: "Untraced", anonymousId: "u-1" }, { headers: { traceparent: traceparent("5ff7651916cd43dd8448eb211c8031a1") } });
      expect(res.status).toBe(200);
      expect(loaded()).toEqual([]);
    } finally {
      await plain.stop();
    }
  });

  test("log lines have no trace ids", async () => {
    const db = join(tempDir(), "inlet.db");
    const created = JSON.parse((await cli(["tenant", "create", "plain"], { INLET_DB: db })).stdout);
    const plain = await spawnServer({ INLET_DB: db, INLET_DEMO: "false", LOG_LEVEL: "info", OTEL_EXPORTER_OTLP_ENDPOINT: "", OTEL_TRACES_EXPORTER: "" });
    try {
      const res = await fetch(plain.url + "/v1/events/track", {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${created.key}`, traceparent: traceparent("6af7651916cd43dd8448eb211c8031a2") },
        body: JSON.stringify({ event: "Untraced", anonymousId: "u-2" }),
      });
      expect(res.status).toBe(200);
      const deadline = Date.now() + 10_000;
      while (!plain.output().includes('"msg":"request"') && Date.now() < deadline) await Bun.sleep(20);
      const lines = plain
        .output()
        .split("\n")
        .filter((l) => l.startsWith("{"))
        .map((l) => JSON.parse(l));
      expect(lines.some((l) => l.msg === "request")).toBe(true);
      for (const line of lines) expect(line).not.toHaveProperty("traceId");
    } finally {
      plain.proc.kill();
      await plain.proc.exited;
    }
  });
});
