/**
 * A tiny OTLP/HTTP receiver for tests: accepts `POST /v1/traces` in the JSON encoding
 * (OTEL_EXPORTER_OTLP_PROTOCOL=http/json) and keeps the spans, flattened.
 */
export interface ReceivedSpan {
  traceId: string;
  spanId: string;
  parentSpanId: string;
  name: string;
  attributes: Record<string, string | number | boolean>;
  events: { name: string; attributes: Record<string, string | number | boolean> }[];
  status: { code?: number; message?: string };
  service: string;
}

interface OtlpAttribute {
  key: string;
  value: { stringValue?: string; intValue?: string | number; doubleValue?: number; boolValue?: boolean };
}

function flatten(attributes: OtlpAttribute[] = []): Record<string, string | number | boolean> {
  const out: Record<string, string | number | boolean> = {};
  for (const { key, value } of attributes) {
    out[key] = value.stringValue ?? (value.intValue !== undefined ? Number(value.intValue) : undefined) ?? value.doubleValue ?? value.boolValue ?? "";
  }
  return out;
}

export function startOtlpReceiver() {
  const spans: ReceivedSpan[] = [];
  /** Every request body as received, to search for values that must never leave the server. */
  const raw: string[] = [];
  const server = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    async fetch(request) {
      if (request.method !== "POST" || new URL(request.url).pathname !== "/v1/traces") return new Response("not found", { status: 404 });
      const text = await request.text();
      raw.push(text);
      const body = JSON.parse(text);
      for (const resourceSpans of body.resourceSpans ?? []) {
        const service = String(flatten(resourceSpans.resource?.attributes)["service.name"] ?? "");
        for (const scopeSpans of resourceSpans.scopeSpans ?? []) {
          for (const span of scopeSpans.spans ?? []) {
            spans.push({
              traceId: span.traceId,
              spanId: span.spanId,
              parentSpanId: span.parentSpanId ?? "",
              name: span.name,
              attributes: flatten(span.attributes),
              events: (span.events ?? []).map((e: { name: string; attributes?: OtlpAttribute[] }) => ({ name: e.name, attributes: flatten(e.attributes) })),
              status: span.status ?? {},
              service,
            });
          }
        }
      }
      return Response.json({});
    },
  });
  return {
    url: `http://127.0.0.1:${server.port}`,
    spans,
    raw,
    /** Waits until `done(spans)` holds (the exporter sends in the background). */
    async waitFor(done: (spans: ReceivedSpan[]) => boolean, timeoutMs = 20_000): Promise<ReceivedSpan[]> {
      const deadline = Date.now() + timeoutMs;
      while (!done(spans)) {
        if (Date.now() > deadline) throw new Error(`spans did not arrive; received: ${spans.map((s) => s.name).join(", ")}`);
        await Bun.sleep(25);
      }
      return spans;
    },
    stop: () => server.stop(true),
  };
}
