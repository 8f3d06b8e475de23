/**
 * Delay before retry number `failures` (1 for the first retry): exponential backoff with full
 * jitter, uniform in [0, min(cap, base * 2^(failures-1))).
 */
export const backoff = (failures: number, base: number, cap: number, random: () => number): number =>
  Math.floor(random() * Math.min(cap, base * 2 ** (failures - 1)));

/** A Retry-After header (seconds, or an HTTP date) in ms from now; undefined when absent or invalid. */
export function retryAfter(h: string | null | undefined, now: number): number | undefined {
  if (!h) return;
  const ms = /^\s*\d+\s*$/.test(h) ? +h * 1000 : Date.parse(h) - now;
  return ms >= 0 ? ms : ms < 0 ? 0 : undefined;
}
