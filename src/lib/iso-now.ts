/** The current time as an ISO 8601 string, formatted once per millisecond: a busy server asks many times in one. */
let lastMs = Number.NaN;
let lastText = "";

export function isoNow(): string {
  const ms = Date.now();
  if (ms !== lastMs) {
    lastMs = ms;
    lastText = new Date(ms).toISOString();
  }
  return lastText;
}
