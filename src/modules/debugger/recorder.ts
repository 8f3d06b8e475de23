/**
 * The debugger's observer on the ingestion routes: after each answer is sent, it records every
 * call of the request in the tenant's ring (./service.ts) with its outcome: accepted, duplicate,
 * dropped... from the answer; rejected or rate-limited, with the error and the payload as received
 * (truncated, with the tenant's IP policy applied), from the error. Runs after the response, so
 * the client never waits for it; requests whose key names no tenant are not recorded.
 */
import { Elysia } from "elysia";
import { keyFromRequest, type ResolvedKey } from "../../http/auth";
import { describeFailure } from "../../http/error-handler";
import type { ErrorDetail } from "../../http/errors";
import { applyIpPolicy } from "../../enrich/privacy";
import type { IpPolicy } from "../../enrich/settings";
import type { KeyCache } from "../tenants/key-cache";
import { isoNow } from "../../lib/iso-now";
import { step, stepTimes } from "../../lib/step-times";
import { clip, MAX_ERRORS, MAX_FIELD_CHARS, MAX_PAYLOAD_CHARS, RING_SIZE, type DebuggerService, type NewEntry } from "./service";

/** Characters of a key shown: the kind marker and 8 random characters (as `inlet key list` shows). */
const KEY_PREFIX_CHARS = 11;
const DEBUGGER = step("debugger");

type Json = Record<string, unknown>;
const isObject = (value: unknown): value is Json => typeof value === "object" && value !== null && !Array.isArray(value);

/** What the hook reads of Elysia's context: `error` and `code` after a failure, else the answer. */
interface AfterResponse {
  request: Request;
  headers: Record<string, string | undefined>;
  body: unknown;
  query: Record<string, string | undefined>;
  path: string;
  error?: unknown;
  code?: string | number;
  responseValue?: unknown;
}

interface RequestFacts {
  endpoint: string;
  keyPrefix: string;
  userAgent?: string;
  ipPolicy: IpPolicy;
  /** The batch envelope's context (its library applies to every item). */
  envelope?: Json;
}

/**
 * `typeOf(path)`: the call type a route takes (`track`...), or `batch`.
 * Used once per events controller (src/modules/events/index.ts).
 */
export function debuggerRecorder(debug: DebuggerService, keys: KeyCache, typeOf: (path: string) => string) {
  /** Records a request's calls in its tenant's ring. */
  const record = ({ request, headers, body, path, error, code, responseValue }: AfterResponse, key: string, resolved: ResolvedKey | null): void => {
    // Ingestion takes write and server keys; an admin key's call was refused before any tenant's data.
    if (!resolved || resolved.kind === "admin") return;
    const routeType = typeOf(path);
    const facts: RequestFacts = {
      endpoint: `${request.method} ${path}`,
      keyPrefix: key.slice(0, KEY_PREFIX_CHARS),
      userAgent: clip(headers["user-agent"]),
      ipPolicy: resolved.settings.ipPolicy,
      envelope: isObject(body) && isObject(body.context) ? body.context : undefined,
    };
    if (error !== undefined) {
      const failure = describeFailure(code ?? "UNKNOWN", error, request);
      const entry = describeCall(routeType === "batch" ? undefined : body, routeType, facts);
      if (routeType === "batch") {
        const items = isObject(body) && Array.isArray(body.batch) ? body.batch.length : undefined;
        if (items !== undefined) entry.event = `${items} call${items === 1 ? "" : "s"}`;
      }
      entry.status = failure?.status === 429 ? "rate-limited" : "rejected";
      entry.code = failure?.code ?? "internal_error";
      entry.errors = clipErrors(failure?.details.length ? failure.details : [{ path: "", message: failure?.message ?? "Something went wrong on the server." }]);
      withPayload(entry, body, facts.ipPolicy);
      debug.record(resolved.tenantId, entry);
      return;
    }
    const answer = responseValue;
    if (!isObject(answer)) return;
    if (Array.isArray(answer.results) && isObject(body) && Array.isArray(body.batch)) {
      const results = answer.results as { status: string; messageId?: string; errors?: ErrorDetail[] }[];
      // Only the last RING_SIZE of a large batch would stay in the ring.
      for (let i = Math.max(0, results.length - RING_SIZE); i < results.length; i++) {
        const item = body.batch[i];
        const entry = describeCall(item, isObject(item) && typeof item.type === "string" ? item.type : "unknown", facts);
        outcome(entry, results[i]!, item, facts.ipPolicy);
        debug.record(resolved.tenantId, entry);
      }
      return;
    }
    if (typeof answer.status === "string") {
      const entry = describeCall(body, routeType, facts);
      outcome(entry, answer as { status: string }, body, facts.ipPolicy);
      debug.record(resolved.tenantId, entry);
    }
  };
  const timed = (call: AfterResponse, key: string, resolved: ResolvedKey | null, started: number): void => {
    try {
      record(call, key, resolved);
    } finally {
      stepTimes?.add(DEBUGGER, started);
    }
  };

  // Destructured, not taken whole: Elysia computes only the context parts a hook names (a whole
  // context makes it parse every request's cookies too). Not an async function: a cached key is
  // recorded in the same turn, with no promise.
  return new Elysia().onAfterResponse(
    { as: "scoped" },
    ({ request, headers, body, query, path, error, code, responseValue }: AfterResponse): void | Promise<void> => {
      const started = stepTimes ? performance.now() : 0;
      const call: AfterResponse = { request, headers, body, query, path, error, code, responseValue };
      const key = keyFromRequest(headers, body, query);
      if (!key) {
        stepTimes?.add(DEBUGGER, started);
        return;
      }
      const found = keys.resolve(key);
      if (!(found instanceof Promise)) return timed(call, key, found, started);
      stepTimes?.add(DEBUGGER, started);
      // Resolved moments ago by authentication, so almost always cached; a store failure here
      // records nothing (the call's own answer has told the client).
      return found.catch(() => null).then((resolved) => timed(call, key, resolved, stepTimes ? performance.now() : 0));
    },
  );
}

function describeCall(call: unknown, type: string, facts: RequestFacts): NewEntry {
  const entry: NewEntry = {
    at: isoNow(),
    type: clip(type, 20)!,
    status: "",
    endpoint: facts.endpoint,
    keyPrefix: facts.keyPrefix,
    userAgent: facts.userAgent,
  };
  if (!isObject(call)) return entry;
  const name = type === "track" ? call.event : type === "group" ? call.groupId : type === "alias" ? call.previousId : call.name;
  if (name !== undefined) entry.event = clip(name);
  if (call.userId !== undefined) entry.userId = clip(call.userId);
  if (call.anonymousId !== undefined) entry.anonymousId = clip(call.anonymousId);
  if (call.messageId !== undefined) entry.messageId = clip(call.messageId);
  const library =
    (isObject(call.context) && isObject(call.context.library) ? call.context.library : undefined) ??
    (isObject(facts.envelope?.library) ? facts.envelope.library : undefined);
  if (library) entry.library = clip([library.name, library.version].filter((part) => part !== undefined).join(" "));
  return entry;
}

function outcome(entry: NewEntry, result: { status: string; messageId?: unknown; errors?: ErrorDetail[] }, call: unknown, ipPolicy: IpPolicy): void {
  entry.status = result.status;
  // The messageId Inlet gave a call that came without one.
  if (typeof result.messageId === "string") entry.messageId = clip(result.messageId);
  if (result.errors?.length) {
    entry.code = "invalid_request";
    entry.errors = clipErrors(result.errors);
  }
  // A stored event is read back from the database when looked at; the others keep what was sent.
  if (result.status !== "accepted" && result.status !== "duplicate") withPayload(entry, call, ipPolicy);
}

function clipErrors(errors: readonly ErrorDetail[]): ErrorDetail[] {
  return errors.slice(0, MAX_ERRORS).map((e) => ({ path: clip(e.path) ?? "", message: clip(e.message) ?? "" }));
}

/** The payload as JSON text, cut to MAX_PAYLOAD_CHARS, with context.ip as the tenant's IP policy stores it. */
function withPayload(entry: NewEntry, call: unknown, ipPolicy: IpPolicy): void {
  if (call === undefined) return;
  let text: string | undefined;
  try {
    text = JSON.stringify(redactIps(call, ipPolicy));
  } catch {
    text = undefined;
  }
  if (text === undefined) return;
  if (text.length > MAX_PAYLOAD_CHARS) {
    entry.payload = text.slice(0, MAX_PAYLOAD_CHARS);
    entry.truncated = true;
  } else entry.payload = text;
}

/** context.ip of a call (or of a batch's envelope and items) as the policy keeps it. */
function redactIps(call: unknown, policy: IpPolicy): unknown {
  if (policy === "full" || !isObject(call)) return call;
  const out: Json = { ...call };
  if (isObject(call.context) && "ip" in call.context) {
    const ip = call.context.ip;
    out.context = { ...call.context, ip: typeof ip === "string" ? applyIpPolicy(ip.slice(0, MAX_FIELD_CHARS), policy) : undefined };
  }
  if (Array.isArray(call.batch)) out.batch = call.batch.map((item) => redactIps(item, policy));
  return out;
}
