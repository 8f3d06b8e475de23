/** PostgreSQL's values as the read stores hand them on: times as ms since the epoch, counts as numbers. */

/** A timestamptz (Bun's client gives a Date) as ms since the epoch. */
export const ms = (value: Date): number => value.getTime();
export const msOrNull = (value: Date | null): number | null => (value === null ? null : value.getTime());

/**
 * A value as jsonb text. PostgreSQL's jsonb refuses the character U+0000 (a JSON "\u0000"), which
 * JSON and SQLite accept: such characters, in strings and keys, are stored as U+FFFD instead,
 * rather than failing the whole group commit the value is part of.
 */
export function jsonbText(value: unknown): string | null {
  if (value === undefined || value === null) return null;
  const text = JSON.stringify(value);
  return text.includes("\\u0000") ? JSON.stringify(withoutNul(value)) : text;
}

/** The same value with U+0000 replaced in every string and key (for values bound as objects). */
export function jsonbValue<T>(value: T): T {
  return JSON.stringify(value).includes("\\u0000") ? (withoutNul(value) as T) : value;
}

function withoutNul(value: unknown): unknown {
  if (typeof value === "string") return value.replaceAll("\u0000", "\uFFFD");
  if (Array.isArray(value)) return value.map(withoutNul);
  if (value && typeof value === "object") return Object.fromEntries(Object.entries(value).map(([k, v]) => [k.replaceAll("\u0000", "\uFFFD"), withoutNul(v)]));
  return value;
}
