/**
 * Turns a validated call into Inlet's canonical event: ids as strings, a messageId for every
 * event, the batch's shared sentAt/context applied, and the client's clock skew corrected the
 * Segment way: timestamp = receivedAt − (sentAt − timestamp).
 *
 * Timestamps are read in every ISO 8601 form client libraries emit (see readIsoTime; docs/api.md "What Inlet accepts"). One that
 * cannot be read does not lose the event: it is stored at the server's time, with a warning in
 * the answer and in `context.inlet.warnings`. An event time (after skew correction) before 2000
 * or more than a day in the future is a clock bug and is refused: storing it would put the event
 * outside every session and report. A refused call is `rejected` on its own.
 */
import type { Call, CanonicalEvent, Envelope, ErrorDetail, Json } from "./model";

/** An id as a string; null and "" are absent. */
const str = (v: string | number | null | undefined): string | undefined => (v === undefined || v === null || v === "" ? undefined : String(v));

/** The earliest event time accepted: 2000-01-01T00:00:00Z. */
export const EARLIEST_EVENT_TIME = Date.UTC(2000, 0, 1);
/** How far past its receipt an event's (corrected) time may lie. */
export const MAX_FUTURE_MS = 24 * 60 * 60 * 1000;

export function normalize(call: Call, envelope: Envelope): { event: CanonicalEvent } | { errors: ErrorDetail[] } {
  const warnings: string[] = [];
  const read = (field: string, value: string | null | undefined): number | undefined => {
    if (value === undefined || value === null) return undefined;
    const ms = readIsoTime(value);
    if (ms === null) warnings.push(`${field} ${JSON.stringify(value)} is not a readable ISO 8601 date and time; the server's time was used`);
    return ms ?? undefined;
  };
  const timeField = call.timestamp != null ? "/timestamp" : "/originalTimestamp";
  const clientTime = read(timeField.slice(1), call.timestamp ?? call.originalTimestamp);
  const sentAt = read("sentAt", call.sentAt ?? envelope.sentAt);
  const { receivedAt } = envelope;
  let timestamp = clientTime ?? receivedAt;
  if (clientTime !== undefined && sentAt !== undefined) timestamp = receivedAt - (sentAt - clientTime);
  if (timestamp < EARLIEST_EVENT_TIME) {
    return { errors: [{ path: timeField, message: "The event time (after clock-skew correction) is before 2000-01-01" }] };
  }
  if (timestamp > receivedAt + MAX_FUTURE_MS) {
    return { errors: [{ path: timeField, message: "The event time (after clock-skew correction) is more than 24 hours in the future" }] };
  }

  const context: Json = envelope.context ? { ...envelope.context, ...call.context } : { ...call.context };
  if (warnings.length > 0) {
    const inlet = context.inlet && typeof context.inlet === "object" && !Array.isArray(context.inlet) ? (context.inlet as Json) : {};
    context.inlet = { ...inlet, warnings };
  }
  const event: CanonicalEvent = {
    type: call.type,
    messageId: str(call.messageId) ?? crypto.randomUUID(),
    anonymousId: str(call.anonymousId),
    userId: str(call.userId),
    context,
    integrations: call.integrations ?? envelope.integrations ?? undefined,
    timestamp,
    originalTimestamp: clientTime,
    sentAt,
    receivedAt,
  };
  if (warnings.length > 0) event.warnings = warnings;
  switch (call.type) {
    case "track":
      event.event = call.event;
      event.properties = call.properties ?? undefined;
      break;
    case "identify":
      event.traits = call.traits ?? undefined;
      break;
    case "page":
    case "screen":
      event.properties = call.properties ?? undefined;
      event.extra = compact({ name: call.name, category: call.category });
      break;
    case "group":
      event.traits = call.traits ?? undefined;
      event.extra = { groupId: String(call.groupId) };
      break;
    case "alias":
      event.extra = { previousId: String(call.previousId) };
      break;
  }
  return { event };
}

/**
 * An ISO 8601 date and time as client libraries write it, in milliseconds; null when unreadable.
 * Read: date only, `T` or a space before the time, non-padded fields (`2015-2-02T0:30:8Z`), 0 to 9
 * fractional digits (`.` or `,`), `Z`, `±hh`, `±hhmm` or `±hh:mm`, and no offset, which means UTC
 * (.NET's DateTime of unspecified kind). Fields out of range (month 13, 31 February) are unreadable.
 */
export function readIsoTime(text: string): number | null {
  const m = ISO_8601.exec(text.trim());
  if (!m) return null;
  const [, y, mo, d, h = "0", mi = "0", s = "0", fraction = "", zone = ""] = m;
  const year = Number(y),
    month = Number(mo),
    day = Number(d),
    hour = Number(h),
    minute = Number(mi),
    second = Number(s);
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return null;
  if (hour > 24 || minute > 59 || second > 60 || (hour === 24 && (minute > 0 || second > 0 || /[1-9]/.test(fraction)))) return null;
  const ms = Number((fraction + "000").slice(0, 3));
  // A leap second (:60) is read as the last millisecond of its minute.
  let time = Date.UTC(year, month - 1, day, hour, minute, Math.min(second, 59), second === 60 ? 999 : ms);
  if (zone !== "" && zone.toUpperCase() !== "Z") {
    const sign = zone[0] === "-" ? -1 : 1;
    const digits = zone.slice(1).replace(":", "");
    const offsetHours = Number(digits.slice(0, 2)),
      offsetMinutes = Number(digits.slice(2) || "0");
    if (offsetHours > 23 || offsetMinutes > 59) return null;
    time -= sign * (offsetHours * 60 + offsetMinutes) * 60_000;
  }
  return time;
}

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/** Days in `month` (1-12) of `year` as Date.UTC counts them (years 0-99 are 1900-1999), without making a Date per call. */
function daysInMonth(year: number, month: number): number {
  if (month !== 2) return DAYS_IN_MONTH[month - 1]!;
  const y = year >= 0 && year <= 99 ? 1900 + year : year;
  return (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0 ? 29 : 28;
}

const ISO_8601 = /^(\d{4})-(\d{1,2})-(\d{1,2})(?:[Tt ](\d{1,2}):(\d{1,2})(?::(\d{1,2})(?:[.,](\d{0,9}))?)?)?\s*(Z|z|[+-]\d{2}(?::?\d{2})?)?$/;

function compact(o: Json): Json | undefined {
  const out: Json = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined) out[k] = v;
  return Object.keys(out).length ? out : undefined;
}
