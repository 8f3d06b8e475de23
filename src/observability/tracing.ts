/**
 * Tracing with OpenTelemetry, on only when an exporter is configured (`OTEL_EXPORTER_OTLP_ENDPOINT`
 * or `OTEL_TRACES_EXPORTER`; the SDK reads the other standard `OTEL_*` variables itself). Then the
 * @elysiajs/opentelemetry plugin makes a span per request, continuing an incoming W3C
 * `traceparent`, and `step()` / `stepUnder()` make child spans for the pipeline's steps.
 *
 * Off, tracing costs nothing: the plugin and the SDK under it are not even loaded, and `step(name,
 * fn)` is a plain call of `fn`.
 *
 * Sampling (`OTEL_TRACES_SAMPLER`) is decided before the plugin sees a request, so an unsampled
 * request makes no spans and no attributes (Elysia still runs its tracing hooks for it).
 *
 * Traces carry no personal data: the plugin records request and response bodies, headers, the
 * user agent and the client address on the request span; a filter in front of the exporter keeps
 * only the attributes on an allowlist and drops exception messages (a validation error's message
 * quotes the input).
 */
import type * as OtelPlugin from "@elysiajs/opentelemetry";
import { Elysia } from "elysia";
import type { Config } from "../config";
import { logger } from "../logger";
import { redactKeys } from "./redact";

type Otel = typeof OtelPlugin;
export type Span = ReturnType<Otel["startSpan"]>;
type Context = NonNullable<Parameters<Otel["startSpan"]>[2]>;
type SpanProcessor = NonNullable<OtelPlugin.ElysiaOpenTelemetryOptions["spanProcessors"]>[number];
type ReadableSpan = Parameters<SpanProcessor["onEnd"]>[0];

/** The loaded plugin module while tracing is on; null (and never loaded) while it is off. */
let otel: Otel | null = null;

export type TracingSettings = Pick<Config, "otelEndpoint" | "otelTracesExporter" | "otelServiceName">;

/** Paths polled by machines: tracing them would only bury the interesting traces. */
const UNTRACED_PATHS = new Set(["/health", "/ready", "/metrics"]);

/** Whether the configuration asks for traces (the SDK's own rule: `none` alone means off). */
export function tracingConfigured(settings: Pick<TracingSettings, "otelEndpoint" | "otelTracesExporter">): boolean {
  const exporters = settings.otelTracesExporter
    .split(",")
    .map((name) => name.trim())
    .filter(Boolean);
  if (exporters.length > 0) return !(exporters.length === 1 && exporters[0] === "none");
  return settings.otelEndpoint !== "";
}

/**
 * Starts the OpenTelemetry SDK and returns the Elysia plugin that traces requests, or null when
 * tracing is not configured (or cannot be made private, see `installPrivacyFilter`).
 * The SDK is process-wide: the first call decides the exporter for the life of the process.
 */
export function startTracing(settings: TracingSettings) {
  if (!tracingConfigured(settings)) return null;
  // The SDK reads its exporter settings from the environment; values given as flags reach it so.
  if (settings.otelEndpoint) process.env.OTEL_EXPORTER_OTLP_ENDPOINT = settings.otelEndpoint;
  if (settings.otelTracesExporter) process.env.OTEL_TRACES_EXPORTER = settings.otelTracesExporter;
  // Inlet sends no OpenTelemetry logs; without this the SDK would set up an idle OTLP log exporter.
  process.env.OTEL_LOGS_EXPORTER ??= "none";

  // Loaded here, not imported at the top, so that a server without tracing never loads the SDK.
  // require() (start-up is synchronous) loads the plugin's CommonJS build, and with it Elysia's
  // CommonJS build beside the ESM one the app uses; an async start could import() the ESM build.
  const module = require("@elysiajs/opentelemetry") as Otel;
  const sampled = headSampler(process.env);
  const plugin = module.opentelemetry({
    serviceName: settings.otelServiceName,
    checkIfShouldTrace: (request) => !UNTRACED_PATHS.has(pathOf(request.url)) && sampled(request.headers.get("traceparent")),
    // The sampling decision is taken above, before the plugin does any work for a request.
    sampler: recordEverything,
  });
  if (!installPrivacyFilter(module)) {
    logger.error("tracing is configured but stays off: the span privacy filter could not be installed (OpenTelemetry SDK internals changed?)");
    return null;
  }
  otel = module;
  logger.setCorrelation(traceIds);
  logger.info("tracing on", { exporter: process.env.OTEL_TRACES_EXPORTER || "otlp", endpoint: process.env.OTEL_EXPORTER_OTLP_ENDPOINT });

  // No Elysia trace listener of Inlet's own: each one adds Elysia's per-hook tracing machinery to
  // every request. The tenant id is on the pipeline's spans instead.
  return new Elysia({ name: "tracing" }).use(plugin);
}

type Sampler = NonNullable<OtelPlugin.ElysiaOpenTelemetryOptions["sampler"]>;

/** RECORD_AND_SAMPLED, OpenTelemetry's SamplingDecision for "record and export". */
const RECORD_AND_SAMPLED = 2;
const recordEverything: Sampler = { shouldSample: () => ({ decision: RECORD_AND_SAMPLED }), toString: () => "InletHeadSampled" };

/**
 * Head sampling by the standard `OTEL_TRACES_SAMPLER` / `OTEL_TRACES_SAMPLER_ARG`, decided before
 * the plugin sees a request: most of tracing's cost is the plugin's per-request work (lifecycle
 * spans, attributes), which it does even for requests the SDK's sampler then drops. So an
 * unsampled request skips the plugin altogether, and the SDK records whatever gets through.
 * `parentbased_*` samplers follow the sampled flag of an incoming `traceparent`.
 */
export function headSampler(env: Record<string, string | undefined>): (traceparent: string | null) => boolean {
  const name = (env.OTEL_TRACES_SAMPLER ?? "parentbased_always_on").trim().toLowerCase();
  const argument = Number(env.OTEL_TRACES_SAMPLER_ARG ?? "1");
  const ratio = name.endsWith("always_off") ? 0 : name.endsWith("traceidratio") ? (Number.isFinite(argument) ? Math.min(1, Math.max(0, argument)) : 1) : 1;
  const parentBased = name.startsWith("parentbased_");
  return (traceparent) => {
    if (parentBased && traceparent) {
      const match = /^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-([0-9a-f]{2})$/.exec(traceparent.trim());
      if (match) return (Number.parseInt(match[1]!, 16) & 1) === 1;
    }
    return ratio >= 1 || (ratio > 0 && Math.random() < ratio);
  };
}

/**
 * Runs `fn` as a child span `name` (with `attributes`) of the active span when tracing is on and
 * the request is traced (not sampled out), else just runs it. `fn` gets the span (undefined
 * otherwise) to set more attributes on; a returned promise ends the span when it settles, a throw
 * or rejection marks it as failed.
 */
export function step<T>(name: string, fn: (span: Span | undefined) => T, attributes?: Record<string, string | number>): T {
  return otel?.getCurrentSpan() ? (otel.startActiveSpan(name, { attributes }, (span) => fn(span)) as T) : fn(undefined);
}

/**
 * Like `step`, under an explicit parent: for work that runs outside the request's own async
 * context, such as the group-commit writer running many requests' events in one turn.
 */
export function stepUnder<T>(parent: Span | undefined, name: string, fn: (span: Span | undefined) => T): T {
  return otel && parent ? (otel.startActiveSpan(name, {}, contextWith(otel.contextKeySpan, parent), (span) => fn(span)) as T) : fn(undefined);
}

/** The active span's trace and span ids, for log lines. */
function traceIds(): Record<string, string> | undefined {
  const span = otel?.getCurrentSpan();
  if (!span) return undefined;
  const { traceId, spanId } = span.spanContext();
  return { traceId, spanId };
}

/** Attributes that may leave the process: ones that say nothing about a person. */
const ALLOWED_ATTRIBUTES = new Set([
  "http.request.method",
  "http.route",
  "http.response.status_code",
  "http.request.id",
  "http.request_content_length",
  "http.request.body.size",
  "http.response.body.size",
  "url.path",
  "url.scheme",
  "server.address",
  "server.port",
  "error.type",
  "exception.type",
]);

export function attributeAllowed(key: string): boolean {
  return key.startsWith("inlet.") || ALLOWED_ATTRIBUTES.has(key);
}

/**
 * Strips what is not allowlisted from a finished span before any exporter sees it: attributes,
 * exception messages and stack traces (their first line repeats the message), and the status
 * message. Spans are plain objects by then; the exporter reads them later, in the background.
 */
export const privacyFilter: SpanProcessor = {
  onStart() {},
  onEnd(span: ReadableSpan) {
    const attributes = span.attributes as Record<string, unknown>;
    for (const key of Object.keys(attributes)) if (!attributeAllowed(key)) delete attributes[key];
    if (typeof attributes["url.path"] === "string") attributes["url.path"] = redactKeys(attributes["url.path"]);
    for (const event of span.events) {
      const eventAttributes = event.attributes as Record<string, unknown> | undefined;
      if (!eventAttributes) continue;
      for (const key of Object.keys(eventAttributes)) if (!attributeAllowed(key)) delete eventAttributes[key];
    }
    if (span.status.message !== undefined) (span.status as { message?: string }).message = undefined;
  },
  forceFlush: () => Promise.resolve(),
  shutdown: () => Promise.resolve(),
};

/**
 * Sends the spans still buffered: the SDK's batch processor exports every few seconds
 * (OTEL_BSP_SCHEDULE_DELAY), so without this the spans of the last requests before a shutdown
 * would be lost. Waits at most `timeoutMs` (an unreachable collector must not hold the exit).
 */
export async function flushTracing(timeoutMs: number): Promise<void> {
  if (otel === null) return;
  const processor = (otel.getTracer() as unknown as { _spanProcessor?: { forceFlush?: () => Promise<void> } })._spanProcessor;
  if (typeof processor?.forceFlush !== "function") return;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, timeoutMs);
  });
  try {
    await Promise.race([processor.forceFlush(), deadline]);
  } catch (error) {
    logger.warn("tracing: the last spans could not be exported", { error });
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Puts `privacyFilter` first among the span processors of the SDK the plugin started, so it runs
 * before the exporter's. The SDK builds its exporter from the environment only when it is given
 * no span processors of its own, and the filter must not replace that exporter; the SDK keeps its
 * processors in the tracer (`_spanProcessor._spanProcessors`, checked here so a changed SDK turns
 * tracing off rather than exporting unfiltered spans).
 * With @opentelemetry/sdk-trace-base as a direct dependency this becomes
 * `spanProcessors: [privacyFilter, new BatchSpanProcessor(exporter)]`.
 */
function installPrivacyFilter(module: Otel): boolean {
  const tracer = module.getTracer() as unknown as { _spanProcessor?: { _spanProcessors?: unknown } };
  const processors = tracer._spanProcessor?._spanProcessors;
  if (!Array.isArray(processors) || processors.length === 0) return false;
  if (!processors.includes(privacyFilter)) processors.unshift(privacyFilter);
  return true;
}

/** A context holding only `span` as the active span (an OpenTelemetry Context is an immutable map). */
function contextWith(key: symbol, span: Span): Context {
  const make = (values: Map<symbol, unknown>): Context => ({
    getValue: (k) => values.get(k),
    setValue: (k, v) => make(new Map(values).set(k, v)),
    deleteValue: (k) => {
      const copy = new Map(values);
      copy.delete(k);
      return make(copy);
    },
  });
  return make(new Map([[key, span]]));
}

function pathOf(url: string): string {
  const start = url.indexOf("/", url.indexOf("//") + 2);
  if (start === -1) return "/";
  const query = url.indexOf("?", start);
  return query === -1 ? url.slice(start) : url.slice(start, query);
}
