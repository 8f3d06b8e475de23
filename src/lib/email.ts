/** An email as leads are keyed by it: trimmed and lower-cased; null when there is none. */
export function normalizeEmail(email: unknown): string | null {
  return typeof email === "string" && email.trim() !== "" ? email.trim().toLowerCase() : null;
}
