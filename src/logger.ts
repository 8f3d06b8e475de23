/**
 * The one logger: structured JSON, one object per line on stdout.
 * Lines are buffered and flushed on the next tick so that logging a line per request
 * does not cost a write syscall per request on the hot path.
 */
import { isoNow } from "./lib/iso-now";

export type LogLevel = "debug" | "info" | "warn" | "error" | "silent";
const order: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };

type Fields = Record<string, unknown>;

let threshold = order[(process.env.LOG_LEVEL as LogLevel) ?? "info"] ?? order.info;
let buffer: string[] = [];
let scheduled = false;
/** Fields every line carries while set (the trace and span ids while tracing is on); null costs nothing. */
let correlation: (() => Fields | undefined) | null = null;

function flush(): void {
  scheduled = false;
  if (buffer.length === 0) return;
  const out = buffer.join("");
  buffer = [];
  process.stdout.write(out);
}

/** Whether every field is a string, number, boolean, null or undefined: then no replacer is needed (it costs a call per key). */
function flat(fields: Fields | undefined): boolean {
  if (fields === undefined) return true;
  for (const key in fields) {
    const value = fields[key];
    if (value !== null && typeof value === "object") return false;
    if (typeof value === "bigint") return false;
  }
  return true;
}

function emit(level: Exclude<LogLevel, "silent">, msg: string, fields?: Fields): void {
  if (order[level] < threshold) return;
  const line: Fields = { time: isoNow(), level, msg, ...correlation?.(), ...fields };
  let text: string;
  try {
    text = JSON.stringify(line, flat(fields) ? undefined : errorReplacer);
  } catch {
    text = JSON.stringify({ time: line.time, level, msg, note: "fields not serializable" });
  }
  buffer.push(text + "\n");
  if (!scheduled) {
    scheduled = true;
    setImmediate(flush);
  }
}

function errorReplacer(_key: string, value: unknown): unknown {
  // With its cause: a wrapped failure is logged once, with why it happened.
  if (value instanceof Error) return { name: value.name, message: value.message, stack: value.stack, cause: value.cause };
  if (typeof value === "bigint") return value.toString();
  return value;
}

export const logger = {
  debug: (msg: string, fields?: Fields) => emit("debug", msg, fields),
  info: (msg: string, fields?: Fields) => emit("info", msg, fields),
  warn: (msg: string, fields?: Fields) => emit("warn", msg, fields),
  error: (msg: string, fields?: Fields) => emit("error", msg, fields),
  /** Whether a line of `level` would be written: lets a hot path skip building its fields. */
  enabled(level: Exclude<LogLevel, "silent">): boolean {
    return order[level] >= threshold;
  },
  setLevel(level: LogLevel): void {
    threshold = order[level];
  },
  /** Adds the fields `source` returns (e.g. `{ traceId, spanId }`) to every line; null stops it. */
  setCorrelation(source: (() => Fields | undefined) | null): void {
    correlation = source;
  },
  /** Write everything buffered now (before exit). */
  flush,
};

/**
 * Returns a function that logs at most `perWindow` times per `windowMs`, then counts what it
 * suppressed and reports the count with the next line that gets through. For noisy failures
 * (an enricher throwing on every event) that must be visible but must not flood the log.
 */
export function rateLimitedLog(level: "warn" | "error", perWindow = 5, windowMs = 60_000) {
  let windowStart = 0;
  let count = 0;
  let suppressed = 0;
  return (msg: string, fields?: Fields): void => {
    const now = Date.now();
    if (now - windowStart >= windowMs) {
      windowStart = now;
      count = 0;
    }
    if (count < perWindow) {
      count++;
      emit(level, msg, suppressed > 0 ? { ...fields, suppressed } : fields);
      suppressed = 0;
    } else {
      suppressed++;
    }
  };
}
