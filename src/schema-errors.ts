/**
 * Validation errors a person understands: one message per path, saying what was expected
 * ("Expected a non-empty string of at most 255 characters, a number or null") rather than the
 * validator's internals ("Expected union value"). Used for every `t` schema check: the event
 * validation path and Elysia's own validation of the other routes.
 */
import type { TSchema } from "@sinclair/typebox";
import type { ErrorDetail } from "./http/errors";

/** At most this many paths are reported for one value. */
export const MAX_REPORTED_ERRORS = 20;

/** What `schema` accepts, in words. */
export function describeSchema(schema: TSchema): string {
  if (Array.isArray(schema.anyOf)) {
    const parts = [...new Set((schema.anyOf as TSchema[]).map(describeSchema))];
    return parts.length <= 1 ? (parts[0] ?? "a valid value") : `${parts.slice(0, -1).join(", ")} or ${parts.at(-1)}`;
  }
  if (schema.const !== undefined) return JSON.stringify(schema.const);
  switch (schema.type) {
    case "string": {
      if (schema.format === "email") return "an email address";
      const base = schema.minLength >= 1 ? "a non-empty string" : "a string";
      return typeof schema.maxLength === "number" ? `${base} of at most ${schema.maxLength} characters` : base;
    }
    case "number":
    case "integer":
      return "a number";
    case "boolean":
      return "true or false";
    case "null":
      return "null";
    case "object":
      return "an object";
    case "array":
      return typeof schema.maxItems === "number" ? `an array of at most ${schema.maxItems} items` : "an array";
  }
  return "a valid value";
}

/** One message per path (the first error of each), in the order the validator found them. */
export function humanErrors(errors: Iterable<{ path?: unknown; schema?: TSchema; value?: unknown }>): ErrorDetail[] {
  const details: ErrorDetail[] = [];
  const seen = new Set<string>();
  for (const error of errors) {
    const path = typeof error.path === "string" ? error.path : "";
    if (seen.has(path)) continue;
    seen.add(path);
    const expected = error.schema ? describeSchema(error.schema) : "a valid value";
    details.push({ path, message: error.value === undefined ? `Required: expected ${expected}` : `Expected ${expected}` });
    if (details.length >= MAX_REPORTED_ERRORS) break;
  }
  return details;
}
