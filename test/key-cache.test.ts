/**
 * The key cache: a hit answers synchronously (the hot path awaits nothing), a miss asks the store
 * once however many requests carry the key meanwhile, and a revocation during a lookup wins.
 */
import { describe, expect, test } from "bun:test";
import { KeyCache } from "../src/modules/tenants/key-cache";
import type { ResolvedKey } from "../src/modules/tenants/service";
import { parseSettings } from "../src/modules/tenants/settings";

const resolved = (keyId: string, tenantId = "t1"): ResolvedKey => ({ keyId, tenantId, kind: "write", settings: parseSettings(null) });

/** A store whose lookups the test answers when it wants. */
function controlledStore() {
  const lookups: { key: string; answer(found: ResolvedKey | null): void; fail(error: Error): void }[] = [];
  return {
    lookups,
    findKey: (key: string) =>
      new Promise<ResolvedKey | null>((resolve, reject) => {
        lookups.push({ key, answer: resolve, fail: reject });
      }),
  };
}

describe("KeyCache", () => {
  test("a miss is a promise; concurrent misses of one key share one lookup; then a hit is answered synchronously", async () => {
    const store = controlledStore();
    const keys = new KeyCache(store, { max: 10, ttlSeconds: 60 });
    const first = keys.resolve("wk_a");
    const second = keys.resolve("wk_a");
    expect(first).toBeInstanceOf(Promise);
    expect(second).toBe(first);
    expect(store.lookups.map((l) => l.key)).toEqual(["wk_a"]);
    store.lookups[0]!.answer(resolved("k1"));
    expect(await first).toEqual(resolved("k1"));
    expect(keys.resolve("wk_a")).toEqual(resolved("k1"));
    expect(store.lookups).toHaveLength(1);
    expect({ hits: keys.hits, misses: keys.misses }).toEqual({ hits: 1, misses: 2 });
  });

  test("unknown keys are cached as misses: null, synchronously, without asking again", async () => {
    const store = controlledStore();
    const keys = new KeyCache(store, { max: 10, ttlSeconds: 60 });
    const pending = keys.resolve("wk_unknown");
    store.lookups[0]!.answer(null);
    expect(await pending).toBeNull();
    expect(keys.resolve("wk_unknown")).toBeNull();
    expect(store.lookups).toHaveLength(1);
  });

  test("a failed lookup is not cached: the next request asks the store again", async () => {
    const store = controlledStore();
    const keys = new KeyCache(store, { max: 10, ttlSeconds: 60 });
    const pending = keys.resolve("wk_a");
    store.lookups[0]!.fail(new Error("store down"));
    await expect(pending as Promise<unknown>).rejects.toThrow("store down");
    const again = keys.resolve("wk_a");
    expect(again).toBeInstanceOf(Promise);
    expect(store.lookups).toHaveLength(2);
    store.lookups[1]!.answer(resolved("k1"));
    expect(await again).toEqual(resolved("k1"));
  });

  test("a key forgotten (revoked) while its lookup runs is neither cached nor joined by later requests", async () => {
    const store = controlledStore();
    const keys = new KeyCache(store, { max: 10, ttlSeconds: 60 });
    const before = keys.resolve("wk_a");
    keys.forget({ keyId: "k1" });
    const after = keys.resolve("wk_a");
    expect(after).not.toBe(before);
    expect(store.lookups).toHaveLength(2);
    // The first lookup read the row before the revocation; the second after it.
    store.lookups[0]!.answer(resolved("k1"));
    store.lookups[1]!.answer(null);
    expect(await before).toEqual(resolved("k1"));
    expect(await after).toBeNull();
    expect(keys.resolve("wk_a")).toBeNull();
    expect(store.lookups).toHaveLength(2);
  });

  test("forget drops the cached keys of a key id or a tenant, and clear drops all", async () => {
    const store = controlledStore();
    const keys = new KeyCache(store, { max: 10, ttlSeconds: 60 });
    const answers: Record<string, ResolvedKey> = { wk_a: resolved("k1", "t1"), wk_b: resolved("k2", "t1"), wk_c: resolved("k3", "t2") };
    for (const key of Object.keys(answers)) {
      const pending = keys.resolve(key);
      store.lookups.at(-1)!.answer(answers[key]!);
      await pending;
    }
    keys.forget({ tenantId: "t1" });
    expect(keys.resolve("wk_a")).toBeInstanceOf(Promise);
    expect(keys.resolve("wk_b")).toBeInstanceOf(Promise);
    expect(keys.resolve("wk_c")).toEqual(answers.wk_c!);
    keys.clear();
    expect(keys.resolve("wk_c")).toBeInstanceOf(Promise);
  });
});
