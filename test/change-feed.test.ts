/**
 * The change feed as every store has it: the in-process feed, the payloads, and the caches a change
 * reaches, over the tenants of the run's store (a SQLite file, or with INLET_TEST_STORE=postgres a
 * PostgreSQL database). test/postgres/change-feed.test.ts covers PostgreSQL's feed between instances.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { loadConfig } from "../src/config";
import { decodeChange, encodeChange, FeedListeners, LocalChangeFeed, type ChangeFeed, type FeedEvent } from "../src/db/change-feed";
import { openStorage, tenantStoreOf } from "../src/db/storage";
import { invalidateCachesOnChange } from "../src/modules/cache-invalidation";
import { KeyCache } from "../src/modules/tenants/key-cache";
import { TenantService } from "../src/modules/tenants/service";
import { tempDir, testStore } from "./helpers/server";

const dir = tempDir("inlet-change-feed-");
const store = await testStore(dir, "change_feed");
const storage = await openStorage(loadConfig({ ...store.env, LOG_LEVEL: "silent" }));
afterAll(async () => {
  await storage.close();
  await store.drop();
  rmSync(dir, { recursive: true, force: true });
});

describe("the in-process change feed", () => {
  test("a publish reaches every listener before it returns, until they unsubscribe", async () => {
    const feed = new LocalChangeFeed();
    const heard: FeedEvent[] = [];
    const other: FeedEvent[] = [];
    const stop = feed.subscribe((event) => heard.push(event));
    feed.subscribe((event) => other.push(event));
    const done = feed.publish({ topic: "key", tenantId: "t1", id: "k1" });
    expect(heard).toEqual([{ topic: "key", tenantId: "t1", id: "k1" }]);
    await done;
    stop();
    await feed.publish({ topic: "tenant", tenantId: "t1" });
    expect(heard).toHaveLength(1);
    expect(other).toEqual([
      { topic: "key", tenantId: "t1", id: "k1" },
      { topic: "tenant", tenantId: "t1" },
    ]);
    await feed.close();
  });

  test("a listener that throws does not keep the others from hearing", async () => {
    const feed = new LocalChangeFeed();
    const heard: FeedEvent[] = [];
    feed.subscribe(() => {
      throw new Error("listener bug");
    });
    feed.subscribe((event) => heard.push(event));
    await feed.publish({ topic: "suppression", tenantId: "t1" });
    expect(heard).toEqual([{ topic: "suppression", tenantId: "t1" }]);
  });

  test("payloads: a change survives the round trip; anything else is not a change", () => {
    for (const change of [
      { topic: "key", tenantId: "t", id: "k" },
      { topic: "tenant", tenantId: "t" },
      { topic: "suppression", tenantId: "t", id: "s" },
    ] as const) {
      expect(decodeChange(encodeChange(change))).toEqual(change);
    }
    for (const payload of ["", "not json", "null", "[]", '{"topic":"key"}', '{"topic":"lead","tenantId":"t"}', '{"topic":"key","tenantId":"t","id":5}']) {
      expect(decodeChange(payload)).toBeNull();
    }
  });
});

describe("caches invalidated by the feed", () => {
  const tenants = new TenantService(tenantStoreOf(storage));

  test("a revoked key, a changed setting, a suppression and a reset each reach their cache", async () => {
    // The in-process feed, plus a way to send what only a PostgreSQL feed sends: a reset.
    const listeners = new FeedListeners();
    const feed: ChangeFeed = { publish: async (change) => listeners.emit(change), subscribe: (l) => listeners.add(l), close: async () => {} };
    const keys = new KeyCache(tenants, { max: 100, ttlSeconds: 3600 });
    let reloads = 0;
    invalidateCachesOnChange(feed, { keys, suppressions: { reload: () => void reloads++ } });

    const first = await tenants.createTenant("feed-a");
    const second = await tenants.createKey(first.tenantId);
    expect((await keys.resolve(first.key))?.keyId).toBe(first.keyId);
    expect((await keys.resolve(second.key))?.keyId).toBe(second.keyId);

    // Changed in the store the way another instance would change it: the cache does not know yet.
    await tenants.revokeKey(first.keyId);
    expect(await keys.resolve(first.key)).not.toBeNull();
    await feed.publish({ topic: "key", tenantId: first.tenantId, id: first.keyId });
    expect(await keys.resolve(first.key)).toBeNull();

    await tenants.setSettings(first.tenantId, { bots: "drop" });
    expect((await keys.resolve(second.key))?.settings.bots).toBe("flag");
    await feed.publish({ topic: "tenant", tenantId: first.tenantId });
    expect((await keys.resolve(second.key))?.settings.bots).toBe("drop");

    await feed.publish({ topic: "suppression", tenantId: first.tenantId, id: "s1" });
    expect(reloads).toBe(1);

    await tenants.setSettings(first.tenantId, { bots: "keep" });
    listeners.emit({ topic: "reset", reason: "reconnected" });
    expect((await keys.resolve(second.key))?.settings.bots).toBe("keep");
    expect(reloads).toBe(2);
  });
});
