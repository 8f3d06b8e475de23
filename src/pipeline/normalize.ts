/**
 * Turns a validated call into Inlet's canonical event: ids as strings, a messageId for every
 * event, the batch's shared sentAt/context applied, and the client's clock skew corrected the
 * Segment way: timestamp = receivedAt − (sentAt − timestamp).
 *
 * It also refuses what the schema cannot express (docs/api.md, "Limits"): control characters in
 * ids and event names (invisible, they make ids that look equal but are not, and break logs),
 * and event times (after skew correction) before 2000 or more than a day in the future, which
 * are clock bugs; storing them would put the event outside every session and report. A refused
 * call is `rejected` on its own (a 400 for a single call, one rejected item in a batch).
 */
import type { Call, CanonicalEvent, Envelope, ErrorDetail, Json } from "./model";

const str = (v: string | number | undefined): string | undefined => (v === undefined ? undefined : String(v));

/** The earliest event time accepted: 2000-01-01T00:00:00Z. */
export const EARLIEST_EVENT_TIME = Date.UTC(2000, 0, 1);
/** How far past its receipt an event's (corrected) time may lie. */
export const MAX_FUTURE_MS = 24 * 60 * 60 * 1000;

/** C0 and C1 control characters and DEL. */
const CONTROL_CHARACTER = /[\u0000-\u001f\u007f-\u009f]/;

export function normalize(call: Call, envelope: Envelope): { event: CanonicalEvent } | { errors: ErrorDetail[] } {
  const anonymousId = str(call.anonymousId);
  const userId = str(call.userId);
  if (anonymousId === undefined && userId === undefined) {
    return { errors: [{ path: "/anonymousId", message: "Either userId or anonymousId is required" }] };
  }
  const controlErrors = controlCharacterErrors(call);
  if (controlErrors.length > 0) return { errors: controlErrors };

  const timeField = call.timestamp !== undefined ? "/timestamp" : "/originalTimestamp";
  const clientTime = parseTime(call.timestamp ?? call.originalTimestamp);
  const sentAt = parseTime(call.sentAt ?? envelope.sentAt);
  if (clientTime === null) return { errors: [{ path: timeField, message: "Not a valid date and time" }] };
  if (sentAt === null) return { errors: [{ path: "/sentAt", message: "Not a valid date and time" }] };
  const { receivedAt } = envelope;
  let timestamp = clientTime ?? receivedAt;
  if (clientTime !== undefined && sentAt !== undefined) timestamp = receivedAt - (sentAt - clientTime);
  if (timestamp < EARLIEST_EVENT_TIME) {
    return { errors: [{ path: timeField, message: "The event time (after clock-skew correction) is before 2000-01-01" }] };
  }
  if (timestamp > receivedAt + MAX_FUTURE_MS) {
    return { errors: [{ path: timeField, message: "The event time (after clock-skew correction) is more than 24 hours in the future" }] };
  }

  const context = envelope.context ? { ...envelope.context, ...call.context } : (call.context ?? {});
  const event: CanonicalEvent = {
    type: call.type,
    messageId: str(call.messageId) ?? crypto.randomUUID(),
    anonymousId,
    userId,
    context,
    integrations: call.integrations ?? envelope.integrations,
    timestamp,
    originalTimestamp: clientTime,
    sentAt,
    receivedAt,
  };
  switch (call.type) {
    case "track":
      event.event = call.event;
      event.properties = call.properties;
      break;
    case "identify":
      event.traits = call.traits;
      break;
    case "page":
    case "screen":
      event.properties = call.properties;
      event.extra = compact({ name: call.name, category: call.category });
      break;
    case "group":
      event.traits = call.traits;
      event.extra = { groupId: String(call.groupId) };
      break;
    case "alias":
      event.extra = { previousId: String(call.previousId) };
      break;
  }
  return { event };
}

/** Milliseconds, undefined when absent, null when the string is no real date (e.g. month 13). */
function parseTime(iso: string | undefined): number | undefined | null {
  if (iso === undefined) return undefined;
  const ms = Date.parse(iso);
  return Number.isNaN(ms) ? null : ms;
}

/** The ids and names that must be free of control characters, by path. */
function controlCharacterErrors(call: Call): ErrorDetail[] {
  const fields: [string, unknown][] = [
    ["/messageId", call.messageId],
    ["/userId", call.userId],
    ["/anonymousId", call.anonymousId],
  ];
  if (call.type === "track") fields.push(["/event", call.event]);
  if (call.type === "group") fields.push(["/groupId", call.groupId]);
  if (call.type === "alias") fields.push(["/previousId", call.previousId]);
  const errors: ErrorDetail[] = [];
  for (const [path, value] of fields) {
    if (typeof value === "string" && CONTROL_CHARACTER.test(value)) errors.push({ path, message: "Control characters are not allowed" });
  }
  return errors;
}

function compact(o: Json): Json | undefined {
  const out: Json = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined) out[k] = v;
  return Object.keys(out).length ? out : undefined;
}
