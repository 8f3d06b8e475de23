import { describe, expect, test } from "bun:test";
import { backoff, retryAfter } from "../src/retry";

describe("retry schedule", () => {
  test("full jitter: the delay before retry n lies in [0, base * 2^(n-1))", () => {
    for (let n = 1; n <= 6; n++) {
      const ceiling = 1000 * 2 ** (n - 1);
      expect(backoff(n, 1000, 60000, () => 0)).toBe(0);
      expect(backoff(n, 1000, 60000, () => 0.5)).toBe(ceiling / 2);
      const top = backoff(n, 1000, 60000, () => 0.999999);
      expect(top).toBeLessThan(ceiling);
      expect(top).toBeGreaterThanOrEqual(ceiling - 1);
    }
  });

  test("the ceiling stops growing at the cap", () => {
    expect(backoff(7, 1000, 60000, () => 0.999999)).toBeLessThan(60000); // 64,000 capped
    expect(backoff(7, 1000, 60000, () => 0.999999)).toBeGreaterThan(59000);
    expect(backoff(30, 1000, 60000, () => 0.5)).toBe(30000);
  });

  test("draws spread over the whole window (not a fixed delay)", () => {
    let x = 0;
    const seq = () => (x = (x * 9301 + 49297) % 233280) / 233280;
    const d = Array.from({ length: 200 }, () => backoff(4, 1000, 60000, seq));
    expect(Math.min(...d)).toBeLessThan(1000);
    expect(Math.max(...d)).toBeGreaterThan(7000);
    expect(Math.max(...d)).toBeLessThan(8000);
  });

  test("Retry-After in seconds or as an HTTP date", () => {
    const now = Date.parse("2026-03-01T10:00:00Z");
    expect(retryAfter("7", now)).toBe(7000);
    expect(retryAfter(" 0 ", now)).toBe(0);
    expect(retryAfter("Sun, 01 Mar 2026 10:00:30 GMT", now)).toBe(30000);
    expect(retryAfter("Sun, 01 Mar 2026 09:00:00 GMT", now)).toBe(0); // a date in the past: retry now
    expect(retryAfter("soon", now)).toBeUndefined();
    expect(retryAfter(null, now)).toBeUndefined();
    expect(retryAfter("", now)).toBeUndefined();
  });
});
