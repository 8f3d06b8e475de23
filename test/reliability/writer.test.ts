/**
 * The group-commit writer under lock contention and storage faults, on real SQLite files: a
 * lock held a moment by another connection is waited out (the job runs again and commits); a
 * lock held for long is a 503 but not a storage fault; after a real fault the readiness probe
 * clears the flag only once a commit works.
 */
import { afterAll, expect, test } from "bun:test";
import { Database, type Changes } from "bun:sqlite";
import { sql } from "drizzle-orm";
import { drizzle } from "drizzle-orm/bun-sqlite";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { logger } from "../../src/logger";
import { GroupCommitWriter } from "../../src/db/sqlite/writer";
import { StorageBusyError } from "../../src/pipeline/errors";
import type { WriterHooks } from "../../src/pipeline/ports";
import { tempDir } from "../helpers/server";

const dir = tempDir("inlet-writer-");
logger.setLevel("silent");
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function open(name: string): { path: string; writerDb: Database; other: Database; writer: GroupCommitWriter } {
  const path = join(dir, name);
  const writerDb = new Database(path, { create: true });
  writerDb.run("PRAGMA journal_mode = WAL");
  writerDb.run("CREATE TABLE t (x TEXT NOT NULL)");
  // No busy wait: the lock shows at once, as it does on the WAL paths that skip busy_timeout.
  writerDb.run("PRAGMA busy_timeout = 0");
  const other = new Database(path);
  const writer = new GroupCommitWriter(writerDb, { maxQueuedWeight: 100 });
  return { path, writerDb, other, writer };
}

const count = (db: Database) => (db.query("SELECT count(*) AS n FROM t").get() as { n: number }).n;

test("a lock held a moment by another connection is waited out: the write commits, no fault", async () => {
  const { writerDb, other, writer } = open("moment.db");
  other.run("BEGIN IMMEDIATE");
  setTimeout(() => other.run("COMMIT"), 30);
  const insert = writerDb.prepare("INSERT INTO t VALUES ('a')");
  await expect(writer.submit(1, () => insert.run().changes)).resolves.toBe(1);
  expect(count(other)).toBe(1);
  expect(writer.storageFault).toBeNull();
  other.close();
  writerDb.close();
});

test("a lock that lasts is a busy refusal with Retry-After (answered 503), not a storage fault, and nothing is written", async () => {
  const { writerDb, other, writer } = open("lasting.db");
  other.run("BEGIN IMMEDIATE");
  const insert = writerDb.prepare("INSERT INTO t VALUES ('a')");
  const refused = await writer.submit(1, () => insert.run()).catch((error: unknown) => error);
  other.run("COMMIT");
  expect(refused).toBeInstanceOf(StorageBusyError);
  expect(refused).toMatchObject({ retryAfter: 1 });
  expect(writer.storageFault).toBeNull();
  expect(count(other)).toBe(0);
  // And the writer works again once the lock is gone.
  await expect(writer.submit(1, () => insert.run().changes)).resolves.toBe(1);
  other.close();
  writerDb.close();
});

test("after a storage fault, the probe clears the flag only when a commit works again", async () => {
  const { writerDb, other, writer } = open("probe.db");
  writer.storageFault = "SQLITE_FULL: database or disk is full (simulated flag)";
  // Storage works: the probe's commit succeeds and clears the flag, changing nothing.
  const version = (other.query("PRAGMA user_version").get() as { user_version: number }).user_version;
  expect(writer.probeStorage()).toBe(true);
  expect(writer.storageFault).toBeNull();
  expect((other.query("PRAGMA user_version").get() as { user_version: number }).user_version).toBe(version);
  // Without a fault the probe writes nothing and says yes.
  expect(writer.probeStorage()).toBe(true);
  // A probe that cannot commit keeps the flag (here: another connection holds the write lock).
  writer.storageFault = "simulated";
  other.run("BEGIN IMMEDIATE");
  expect(writer.probeStorage()).toBe(false);
  expect(writer.storageFault).not.toBeNull();
  other.run("COMMIT");
  expect(writer.probeStorage()).toBe(true);
  expect(writerDb.inTransaction).toBe(false);
  other.close();
  writerDb.close();
});

test("a lock met by a query drizzle wraps (its DrizzleError) is waited out the same way", async () => {
  const { writerDb, other, writer } = open("wrapped.db");
  const db = drizzle(writerDb);
  other.run("BEGIN IMMEDIATE");
  setTimeout(() => other.run("COMMIT"), 30);
  await expect(writer.submit(1, () => (db.run(sql`INSERT INTO t VALUES ('a')`) as unknown as Changes).changes)).resolves.toBe(1);
  expect(count(other)).toBe(1);
  expect(writer.storageFault).toBeNull();
  other.close();
  writerDb.close();
});

test("paused commits (the WAL rewinding): writes wait unanswered and uncommitted, then commit together on resume; closing commits regardless", async () => {
  const { writerDb, other, writer } = open("paused.db");
  const insert = writerDb.prepare("INSERT INTO t VALUES ('a')");
  const resume = writer.pauseCommits();
  let answered = 0;
  const writes = [1, 2, 3].map(() => writer.submit(1, () => insert.run().changes).then((n: number) => (answered++, n)));
  await Bun.sleep(30);
  expect(answered).toBe(0);
  expect(count(other)).toBe(0);
  resume();
  resume(); // a second call changes nothing
  expect(await Promise.all(writes)).toEqual([1, 1, 1]);
  expect(count(other)).toBe(3);
  expect(writer.stats.lastCommitJobs).toBe(3);

  writer.pauseCommits(); // never resumed
  const last = writer.submit(1, () => insert.run().changes);
  await Bun.sleep(20);
  expect(count(other)).toBe(3);
  await writer.close();
  expect(await Promise.race([last, Bun.sleep(2_000).then(() => "still waiting")])).toBe(1);
  expect(count(other)).toBe(4);
  other.close();
  writerDb.close();
});

test("close() reports deferred work it could not write, with the cause; without deferred work pending it resolves", async () => {
  const path = join(dir, "deferred.db");
  const db = new Database(path, { create: true });
  db.run("CREATE TABLE t (x TEXT NOT NULL)");
  let pending = true;
  const hooks: WriterHooks = {
    onRollback: () => {},
    onJobRolledBack: () => {},
    deferred: {
      before: () => {},
      after: (mode) => {
        if (mode !== "busy") throw new Error("session update refused");
      },
      pending: () => pending,
    },
  };
  const failing = new GroupCommitWriter(db, { maxQueuedWeight: 100, hooks });
  const error = (await failing.close().then(
    () => null,
    (e: unknown) => e,
  )) as Error;
  expect(error).toBeInstanceOf(Error);
  expect(error.message).toContain("deferred writes");
  expect((error.cause as Error).message).toBe("session update refused");

  pending = false;
  const quiet = new GroupCommitWriter(db, { maxQueuedWeight: 100, hooks });
  expect(await quiet.close()).toBeUndefined();
  db.close();
});
