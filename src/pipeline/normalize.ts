/**
 * Turns a validated call into Inlet's canonical event: ids as strings, a messageId for every
 * event, the batch's shared sentAt/context applied, and the client's clock skew corrected the
 * Segment way: timestamp = receivedAt − (sentAt − timestamp).
 */
import type { ErrorDetail } from "../http/errors";
import type { Call, CallType } from "../modules/events/model";

type Json = Record<string, unknown>;

export interface CanonicalEvent {
  type: CallType;
  messageId: string;
  event?: string;
  anonymousId?: string;
  userId?: string;
  properties?: Json;
  traits?: Json;
  context: Json;
  integrations?: Json;
  /** Skew-corrected event time, ms. */
  timestamp: number;
  /** The client's own time for the event, ms, as sent. */
  originalTimestamp?: number;
  sentAt?: number;
  receivedAt: number;
  /** page/screen name and category, group's groupId, alias's previousId. */
  extra?: Json;
}

export interface Envelope {
  receivedAt: number;
  /** A batch's sentAt, applied to items that have none. */
  sentAt?: string;
  /** A batch's context, merged under each item's own. */
  context?: Json;
  integrations?: Json;
}

const str = (v: string | number | undefined): string | undefined => (v === undefined ? undefined : String(v));

export function normalize(call: Call, envelope: Envelope): { event: CanonicalEvent } | { errors: ErrorDetail[] } {
  const anonymousId = str(call.anonymousId);
  const userId = str(call.userId);
  if (anonymousId === undefined && userId === undefined) {
    return { errors: [{ path: "/anonymousId", message: "Either userId or anonymousId is required" }] };
  }

  const clientTime = parseTime(call.timestamp ?? call.originalTimestamp);
  const sentAt = parseTime(call.sentAt ?? envelope.sentAt);
  const { receivedAt } = envelope;
  let timestamp = clientTime ?? receivedAt;
  if (clientTime !== undefined && sentAt !== undefined) timestamp = receivedAt - (sentAt - clientTime);

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

function parseTime(iso: string | undefined): number | undefined {
  if (iso === undefined) return undefined;
  const ms = Date.parse(iso);
  return Number.isNaN(ms) ? undefined : ms;
}

function compact(o: Json): Json | undefined {
  const out: Json = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined) out[k] = v;
  return Object.keys(out).length ? out : undefined;
}
