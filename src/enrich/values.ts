/**
 * Safe readers for untrusted payload values. Enrichment reads fields of `context` that any client
 * can send in any shape, so every read goes through one of these instead of a cast.
 */

export type PlainObject = Record<string, unknown>;

/** The value as a plain object, or undefined for null, arrays and scalars. */
export function asObject(value: unknown): PlainObject | undefined {
  return typeof value === "object" && value !== null && !Array.isArray(value) ? (value as PlainObject) : undefined;
}

/** The value if it is a non-empty string. */
export function asNonEmptyString(value: unknown): string | undefined {
  return typeof value === "string" && value.length > 0 ? value : undefined;
}

/**
 * Server-derived fields overlaid with what the payload already says, key by key: the client knows
 * its own device better than our parser does. An empty payload value (null or "", as in
 * `os: {name: "", version: ""}`) says nothing and does not override what the server knows. A
 * payload value that is not an object (a malformed `os: "iOS"`) is kept as sent rather than
 * silently replaced: it is the client's data, not ours.
 */
export function preferPayload(server: object, payload: unknown): unknown {
  if (payload === undefined || payload === null) return { ...server };
  const fromPayload = asObject(payload);
  if (fromPayload === undefined) return payload;
  const merged: PlainObject = { ...server };
  for (const key in fromPayload) {
    const value = fromPayload[key];
    if (value !== undefined && value !== null && value !== "") merged[key] = value;
  }
  return merged;
}
