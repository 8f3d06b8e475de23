/**
 * Upgrading a database made by an earlier Inlet: the later migrations apply on start, and what
 * the old version stored reads back the same. Here: 0001 (session numbers kept in memory, anonymous
 * history attributed through sessions) on a database with 0000 only, whose events were backfilled
 * with their lead and whose session rows were counted event by event.
 */
import { afterAll, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { createServices } from "../src/app";
import { loadConfig } from "../src/config";
import { openDatabase } from "../src/db/client";
import { embeddedMigrations } from "../src/db/migrations.generated";
import { exportEvents, tempDir } from "./helpers/server";
import { sessionsOutOfStep } from "./reliability/stored";

const dir = tempDir("inlet-migrations-");
afterAll(() => rmSync(dir, { recursive: true, force: true }));

test("a database of the first schema upgrades on start: nothing recounted, leads and sessions read back the same", async () => {
  const path = join(dir, "old.db");
  const first = embeddedMigrations[0]!;
  expect(first.tag).toBe("0000_init");
  const old = new Database(path, { create: true });
  old.run("PRAGMA journal_mode = WAL");
  for (const statement of first.sql.split("--> statement-breakpoint")) old.run(statement);
  // As drizzle's migrator records an applied migration.
  old.run("CREATE TABLE __drizzle_migrations (id SERIAL PRIMARY KEY, hash text NOT NULL, created_at numeric)");
  old.run("INSERT INTO __drizzle_migrations (hash, created_at) VALUES (?, ?)", [new Bun.CryptoHasher("sha256").update(first.sql).digest("hex"), first.when]);
  const t = 1_795_000_000_000;
  old.run("INSERT INTO tenants (id, name, settings, created_at) VALUES ('ten', 'old', '{}', ?)", [t]);
  old.run(
    "INSERT INTO visitors (id, tenant_id, key, anonymous_id, lead_id, first_seen_at, last_seen_at) VALUES ('vis', 'ten', 'anon-1', 'anon-1', 'lead', ?, ?)",
    [t, t + 60_000],
  );
  old.run("INSERT INTO leads (id, tenant_id, user_id, traits, trait_times, created_at, updated_at) VALUES ('lead', 'ten', 'u-1', '{}', '{}', ?, ?)", [t, t]);
  old.run("INSERT INTO sessions (id, tenant_id, visitor_id, started_at, last_event_at, event_count) VALUES ('ses', 'ten', 'vis', ?, ?, 2)", [t, t + 60_000]);
  // The first schema backfilled the anonymous event with the lead after the identify.
  for (const [id, type, at] of [
    ["m-1", "track", t],
    ["m-2", "identify", t + 60_000],
  ] as const) {
    old.run(
      "INSERT INTO events (tenant_id, message_id, type, anonymous_id, visitor_id, session_id, lead_id, timestamp, received_at, context) VALUES ('ten', ?, ?, 'anon-1', 'vis', 'ses', 'lead', ?, ?, '{}')",
      [id, type, at, at],
    );
  }
  old.close();

  for (let start = 0; start < 2; start++) {
    const database = openDatabase(path);
    const services = createServices(loadConfig({ INLET_DB: path, LOG_LEVEL: "silent" }), database);
    services.sqlite!.writer.close();
    services.enricher.close();
    database.close();
  }
  const upgraded = new Database(path, { readonly: true });
  try {
    expect(upgraded.query("SELECT count(*) AS n FROM __drizzle_migrations").get()).toEqual({ n: embeddedMigrations.length });
    expect(upgraded.query("SELECT event_count, anonymous_events, lead_id FROM sessions").get()).toEqual({ event_count: 2, anonymous_events: 0, lead_id: null });
    expect(upgraded.query("SELECT value FROM writer_state WHERE key = 'sessions_counted_through'").get()).toEqual({ value: 2 });
  } finally {
    upgraded.close();
  }
  expect(sessionsOutOfStep(path)).toEqual([]);
  const events = await exportEvents(path, "ten");
  expect(events.map((e) => [e.messageId, e.leadId, e.sessionId])).toEqual([
    ["m-1", "lead", "ses"],
    ["m-2", "lead", "ses"],
  ]);
});
