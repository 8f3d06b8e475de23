/**
 * The one validation path of every event, whichever route it came by (a single call, or an item of
 * a batch): JSON limits, size, the payload version's schema and its upgrade, the current schema,
 * then the tolerant reading of what real clients send (docs/api.md "What Inlet accepts"):
 * `null` in an optional field and `""` as an id mean absent; an event still needs one id.
 */
import { findJsonViolation } from "../../lib/json-limits";
import type { Call, ErrorDetail, Validated } from "../../pipeline/model";
import { callSchemas, callTypes, MAX_EVENT_BYTES, schemaErrors, type CallType } from "./model";
import { CURRENT_VERSION, upgradeToCurrent, type SchemaVersion } from "./versions";

type Json = Record<string, unknown>;

/** Fields whose value is an id: an empty string there means absent. */
const OPTIONAL_IDS = ["userId", "anonymousId", "messageId"] as const;

/** C0 and C1 control characters and DEL. */
const CONTROL_CHARACTER = /[\u0000-\u001f\u007f-\u009f]/;

/**
 * Validates one event: `type` is the route's call type, or undefined for a batch item (whose own
 * `type` field names it). Returns the canonical call (nulls and empty ids removed, `type` set) or
 * every failing path, one message each. `limitsChecked`: the body parser already applied the JSON
 * limits and the event's byte limit to this very value (a single call's body), so they are not
 * walked again.
 */
export function validateEvent(item: unknown, type: CallType | undefined, version: SchemaVersion, limitsChecked = false): Validated {
  if (item === null || typeof item !== "object" || Array.isArray(item)) return { errors: [{ path: "", message: "Expected an object" }] };
  const messageId = messageIdOf(item);
  const fail = (errors: ErrorDetail[]): Validated => ({ errors, messageId });
  if (!limitsChecked) {
    // First: the JSON limits (depth, keys, string lengths, prototype keys), before anything walks the item.
    const violation = findJsonViolation(item);
    if (violation) return fail([violation]);
    const bytes = Buffer.byteLength(JSON.stringify(item));
    if (bytes > MAX_EVENT_BYTES) return fail([{ path: "", message: `The event is ${bytes} bytes; at most ${MAX_EVENT_BYTES} are allowed` }]);
  }

  const ownType = (item as Json).type;
  const callType = type ?? ownType;
  if (typeof callType !== "string" || !(callType in callSchemas)) {
    return fail([{ path: "/type", message: `Expected one of ${callTypes.join(", ")}` }]);
  }
  // Read tolerantly first: `null` and `""` ids mean absent, in every version.
  let value = tolerantRead(item as Json);
  if (version !== CURRENT_VERSION) {
    const upgraded = upgradeToCurrent(value, callType as CallType, version);
    if ("errors" in upgraded) return fail(upgraded.errors);
    value = upgraded.value;
  }
  // The route names the type; a body's own `type` field is not checked against it.
  const errors = schemaErrors(callSchemas[callType as CallType], type === undefined ? value : { ...value, type });
  if (errors.length > 0) return fail(errors);

  const call: Json = { ...value, type: callType };
  if (call.userId === undefined && call.anonymousId === undefined) {
    return fail([{ path: "/anonymousId", message: "Either userId or anonymousId is required (a non-empty string or a number)" }]);
  }
  const controlErrors = controlCharacterErrors(call);
  if (controlErrors.length > 0) return fail(controlErrors);
  // Nulls and empty ids are gone (tolerantRead): what is left is the pipeline's Call.
  return { call: call as unknown as Call };
}

/** The messageId a (possibly invalid) call names, to report it beside the call's errors. */
export function messageIdOf(value: unknown): string | undefined {
  const id = value && typeof value === "object" ? (value as { messageId?: unknown }).messageId : undefined;
  return (typeof id === "string" && id !== "") || typeof id === "number" ? String(id).slice(0, 255) : undefined;
}

/** A copy without the top-level nulls and empty ids: both mean absent. */
function tolerantRead(value: Json): Json {
  const call: Json = {};
  for (const key in value) if (value[key] !== null) call[key] = value[key];
  for (const key of OPTIONAL_IDS) if (call[key] === "") delete call[key];
  return call;
}

/** The ids and names that must be free of control characters (invisible, they make ids that look equal but are not, and break logs). */
function controlCharacterErrors(call: Json): ErrorDetail[] {
  const errors: ErrorDetail[] = [];
  for (const path of ["messageId", "userId", "anonymousId", "event", "groupId", "previousId"]) {
    const value = call[path];
    if (typeof value === "string" && CONTROL_CHARACTER.test(value)) errors.push({ path: `/${path}`, message: "Control characters are not allowed" });
  }
  return errors;
}
