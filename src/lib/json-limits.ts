/**
 * Limits on the shape of parsed JSON, checked in one iterative pass (no recursion, so a body
 * nested 100,000 deep cannot overflow the stack here or later in JSON.stringify):
 * nesting depth, keys per object, members in total, string and key lengths, and the keys
 * `__proto__`, `constructor` and `prototype`, which are refused outright because code that
 * copies properties with `target[key] = value` would otherwise change an object's prototype.
 * (JSON.parse makes `__proto__` an ordinary own property, so own keys are what is checked.)
 * Strings and keys must also be well-formed Unicode: JSON may escape an unpaired surrogate
 * (`"\ud800"`), which SQLite's UTF-8 turns into U+FFFD, so such an id would be stored garbled
 * (and two different ones would dedupe as one).
 *
 * The limits apply per event: to a single call's body, and to each item of a batch on its own
 * (a batch's envelope is checked without its items), so one hostile item rejects only itself.
 */
/** What is wrong, by JSON pointer (the same shape as the pipeline's JsonViolation). */
export interface JsonViolation {
  path: string;
  message: string;
}

export const JSON_LIMITS = {
  /** Levels of objects and arrays, the event itself being level 1. */
  maxDepth: 32,
  maxKeysPerObject: 1_000,
  /** Object keys plus array items, in the whole event. */
  maxMembers: 10_000,
  /** UTF-16 code units of a string value. */
  maxStringLength: 8_192,
  maxKeyLength: 1_024,
} as const;

const FORBIDDEN_KEYS = new Set(["__proto__", "constructor", "prototype"]);
/** Path segments longer than this are shortened in error paths (a 1 MB key is not echoed back). */
const MAX_PATH_SEGMENT = 64;

interface Frame {
  value: object;
  depth: number;
  parent: Frame | null;
  key: string;
}

/**
 * The first limit `value` breaks, with its JSON pointer path, or null. `separateItems` names a
 * top-level array whose items are not descended into (they are checked one by one, later).
 */
export function findJsonViolation(value: unknown, separateItems?: string): JsonViolation | null {
  if (typeof value === "string") return stringViolation(value, null, "");
  if (value === null || typeof value !== "object") return null;
  const stack: Frame[] = [{ value, depth: 1, parent: null, key: "" }];
  let members = 0;
  while (stack.length > 0) {
    const frame = stack.pop()!;
    const container = frame.value;
    const isArray = Array.isArray(container);
    const keys = isArray ? null : Object.keys(container);
    const size = isArray ? (container as unknown[]).length : keys!.length;
    if (!isArray && size > JSON_LIMITS.maxKeysPerObject) {
      return { path: pathOf(frame), message: `More than ${JSON_LIMITS.maxKeysPerObject} keys in one object` };
    }
    members += size;
    if (members > JSON_LIMITS.maxMembers) {
      return { path: pathOf(frame), message: `More than ${JSON_LIMITS.maxMembers} keys and array items in one event` };
    }
    for (let i = 0; i < size; i++) {
      const key = isArray ? String(i) : keys![i]!;
      if (!isArray) {
        if (FORBIDDEN_KEYS.has(key)) return { path: pathOf(frame, key), message: `The key "${key}" is not allowed` };
        if (key.length > JSON_LIMITS.maxKeyLength) return { path: pathOf(frame, key), message: `A key is longer than ${JSON_LIMITS.maxKeyLength} characters` };
        if (!key.isWellFormed()) return { path: pathOf(frame, key), message: NOT_WELL_FORMED };
      }
      const child = (container as Record<string, unknown>)[key];
      if (typeof child === "string") {
        const violation = stringViolation(child, frame, key);
        if (violation) return violation;
      } else if (child !== null && typeof child === "object") {
        if (frame.depth === 1 && key === separateItems && Array.isArray(child)) continue;
        if (frame.depth >= JSON_LIMITS.maxDepth) {
          return { path: pathOf(frame, key), message: `Nested deeper than ${JSON_LIMITS.maxDepth} levels` };
        }
        stack.push({ value: child, depth: frame.depth + 1, parent: frame, key });
      }
    }
  }
  return null;
}

const NOT_WELL_FORMED = "Not well-formed Unicode (an unpaired surrogate)";

function stringViolation(value: string, frame: Frame | null, key: string): JsonViolation | null {
  if (value.length > JSON_LIMITS.maxStringLength) {
    return { path: frame ? pathOf(frame, key) : "", message: `String longer than ${JSON_LIMITS.maxStringLength} characters` };
  }
  if (!value.isWellFormed()) return { path: frame ? pathOf(frame, key) : "", message: NOT_WELL_FORMED };
  return null;
}

/** The JSON pointer (RFC 6901) of `frame`, or of its member `key`. */
function pathOf(frame: Frame, key?: string): string {
  const segments: string[] = key === undefined ? [] : [key];
  for (let f: Frame | null = frame; f && f.parent; f = f.parent) segments.push(f.key);
  let path = "";
  for (let i = segments.length - 1; i >= 0; i--) {
    let segment = segments[i]!;
    if (segment.length > MAX_PATH_SEGMENT) segment = `${segment.slice(0, MAX_PATH_SEGMENT)}...`;
    path += "/" + segment.replace(/~/g, "~0").replace(/\//g, "~1");
  }
  return path;
}
