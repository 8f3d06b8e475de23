/**
 * The heap pacer asks for a garbage collection only while requests arrive: a busy server's heap
 * stays near its live size, and an idle server is not woken into collecting.
 */
import { expect, test } from "bun:test";
import { startHeapPacer } from "../src/heap-pacer";

test("collects while requests arrive, and not while the server is idle", async () => {
  let requests = 0;
  let collections = 0;
  const stop = startHeapPacer({ intervalMs: 10, activity: () => requests, collect: () => collections++ });
  try {
    await Bun.sleep(80);
    expect(collections).toBe(0); // idle: nothing to collect

    const busy = setInterval(() => requests++, 2);
    await Bun.sleep(80);
    clearInterval(busy);
    expect(collections).toBeGreaterThanOrEqual(3);

    await Bun.sleep(100); // the tick that sees the last requests, with room for a slow timer
    const afterLoad = collections;
    await Bun.sleep(80);
    expect(collections).toBe(afterLoad); // idle again
  } finally {
    stop();
  }
  requests++;
  const stopped = collections;
  await Bun.sleep(50);
  expect(collections).toBe(stopped); // stopped: no more ticks
});
