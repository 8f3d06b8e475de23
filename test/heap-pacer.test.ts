/**
 * The heap pacer asks for a garbage collection only while requests arrive: a busy server's heap
 * stays near its live size, and an idle server is not woken into collecting. Its ticks are
 * driven by hand here, so the test does not depend on timers.
 */
import { expect, test } from "bun:test";
import { startHeapPacer } from "../src/heap-pacer";

test("collects while requests arrive, and not while the server is idle", () => {
  let requests = 0;
  let collections = 0;
  let tick: (() => void) | null = null;
  const ticks = (n: number, between: () => void = () => {}) => {
    for (let i = 0; i < n; i++) {
      between();
      tick?.();
    }
  };
  const stop = startHeapPacer({
    intervalMs: 100,
    activity: () => requests,
    collect: () => collections++,
    every: (ms, fn) => {
      expect(ms).toBe(100);
      tick = fn;
      return () => {
        tick = null;
      };
    },
  });

  ticks(5);
  expect(collections).toBe(0); // idle: nothing to collect

  ticks(4, () => (requests += 3));
  expect(collections).toBe(4); // one collection per tick that saw requests

  ticks(5);
  expect(collections).toBe(4); // idle again

  stop();
  requests++;
  ticks(3);
  expect(collections).toBe(4); // stopped: no more ticks
});
