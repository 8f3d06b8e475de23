/**
 * Calls sent by a server-side library: the request's socket address is the backend's and its
 * HTTP `User-Agent` is the library's, not the end user's. Such a call takes neither (nor the
 * forwarding headers or client hints of that request): only what its payload says (`context.ip`,
 * `context.userAgent`) is enriched. See docs/api.md "Server-side libraries".
 */

/** `context.library.name` of the server-side libraries of Segment and RudderStack. */
export const SERVER_LIBRARIES: ReadonlySet<string> = new Set([
  "@segment/analytics-node",
  "analytics-node",
  "analytics-python",
  "analytics-ruby",
  "analytics-go",
  "analytics-java",
  "analytics-php",
  "analytics-node-next",
  "Analytics.NET",
  "@rudderstack/rudder-sdk-node",
  "rudder-sdk-node",
  "rudder-analytics-python",
  "rudder-sdk-python",
  "rudderanalytics-ruby",
  "rudder-sdk-ruby",
  "rudder-sdk-go",
  "rudder-sdk-java",
  "rudder-sdk-php",
]);

/**
 * Whether a call comes from a server-side library, so that the request's peer address and HTTP
 * headers describe the backend rather than the user. `keyIsServerSide` is for keys that only
 * servers use.
 */
export function isServerSideCall(context: Record<string, unknown>, keyIsServerSide: boolean): boolean {
  if (keyIsServerSide) return true;
  const library = context.library;
  const name = library && typeof library === "object" ? (library as { name?: unknown }).name : undefined;
  return typeof name === "string" && SERVER_LIBRARIES.has(name);
}
