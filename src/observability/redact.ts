/**
 * Keys never reach a log line or a span whole: a path that carries one (Segment's settings route,
 * `/v1/projects/<writeKey>/settings`, or a `writeKey=` query parameter) is logged with the key's
 * prefix only, as `inlet key list` shows it.
 */

/** Characters of a key kept: as many as `inlet key list` shows (the kind marker and 8 more), at most half. */
const VISIBLE = 11;

/** The part of a key that may be logged: a prefix and an ellipsis, never the whole key. */
export function keyPrefix(key: string): string {
  return `${key.slice(0, Math.min(VISIBLE, Math.floor(key.length / 2)))}…`;
}

const PROJECT_KEY = /(\/projects\/)([^/?#]+)/g;
const QUERY_KEY = /([?&](?:writeKey|write_key|apiKey|api_key|key)=)([^&#]*)/gi;

/** `path` (a path, optionally with its query) with every key in it cut to its prefix. */
export function redactKeys(path: string): string {
  if (!path.includes("/projects/") && !path.includes("=")) return path;
  return path
    .replace(PROJECT_KEY, (_, before: string, key: string) => before + keyPrefix(decodeSafely(key)))
    .replace(QUERY_KEY, (_, before: string, key: string) => before + keyPrefix(decodeSafely(key)));
}

function decodeSafely(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}
