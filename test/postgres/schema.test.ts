import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { is } from "drizzle-orm";
import { getTableConfig, PgTable } from "drizzle-orm/pg-core";
import { SQLiteTable, getTableConfig as sqliteTableConfig } from "drizzle-orm/sqlite-core";
import * as sqliteSchema from "../../src/db/schema";
import * as pgSchema from "../../src/db/pg-schema";
import { connectPostgres, migratePostgres, postgresMigrationsApplied } from "../../src/db/postgres/connect";
import { embeddedPgMigrations } from "../../src/db/migrations.generated";
import { createTestDatabase, type TestDatabase } from "../helpers/postgres";

let database: TestDatabase;
beforeAll(async () => {
  database = await createTestDatabase("schema");
});
afterAll(async () => {
  await database?.drop();
});

const tables = Object.values(pgSchema).filter((value) => is(value, PgTable)) as PgTable[];

describe("PostgreSQL schema", () => {
  test("instances starting together apply the migrations exactly once", async () => {
    const clients = [0, 1, 2].map(() => connectPostgres(database.url, { poolSize: 2 }));
    try {
      const results = await Promise.all(clients.map((client) => migratePostgres(client)));
      const applied = results.flatMap((result) => result.applied);
      expect(applied).toEqual(embeddedPgMigrations.map((m) => m.tag));
      expect(await postgresMigrationsApplied(clients[0])).toBe(true);
      const [{ n }] = await clients[0]`SELECT count(*)::int AS n FROM drizzle.__drizzle_migrations`;
      expect(n).toBe(embeddedPgMigrations.length);
      // Again: nothing to do.
      expect((await migratePostgres(clients[1])).applied).toEqual([]);
    } finally {
      await Promise.all(clients.map((client) => client.close()));
    }
  });

  test("every table of the schema exists in the migrated database", async () => {
    const client = connectPostgres(database.url, { poolSize: 1 });
    try {
      await migratePostgres(client);
      const rows = await client`SELECT tablename FROM pg_tables WHERE schemaname = 'public'`;
      const names = rows.map((row: { tablename: string }) => row.tablename).sort();
      expect(names).toEqual(tables.map((table) => getTableConfig(table).name).sort());
    } finally {
      await client.close();
    }
  });

  test("Citus-ready: each tenant table's primary key and unique indexes start with tenant_id (read from the database)", async () => {
    const client = connectPostgres(database.url, { poolSize: 1 });
    try {
      await migratePostgres(client);
      const rows: { table: string; index: string; first: string; primary: boolean }[] = await client`
        SELECT c.relname AS table, i.relname AS index, a.attname AS first, x.indisprimary AS primary
        FROM pg_index x
        JOIN pg_class c ON c.oid = x.indrelid
        JOIN pg_class i ON i.oid = x.indexrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'public'
        JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = x.indkey[0]
        WHERE x.indisunique`;
      const reference = new Set<string>(pgSchema.referenceTables);
      const tenantTables = new Set(rows.map((row) => row.table).filter((name) => !reference.has(name)));
      // Every table but the reference tables holds tenant data.
      expect([...tenantTables].sort()).toEqual(
        tables
          .map((table) => getTableConfig(table).name)
          .filter((name) => !reference.has(name))
          .sort(),
      );
      const offenders = rows.filter((row) => tenantTables.has(row.table) && row.first !== "tenant_id");
      expect(offenders).toEqual([]);
      // And each tenant table has a primary key (Citus distributes by it).
      for (const name of tenantTables) expect(rows.some((row) => row.table === name && row.primary)).toBe(true);
    } finally {
      await client.close();
    }
  });

  test("the SQLite and PostgreSQL schemas hold the same columns (but for each store's bookkeeping)", () => {
    const sqliteTables = Object.values(sqliteSchema).filter((value) => is(value, SQLiteTable)) as SQLiteTable[];
    // SQLite-only: how far in-memory session counts are written (PostgreSQL writes increments).
    const sqliteOnly = new Set(["writer_state", "sessions.counted_through"]);
    // PostgreSQL-only: the transaction that stored an event, for readers paging by cursor.
    const pgOnly = new Set(["events.tx"]);
    const columnsOf = (name: string, columns: { name: string }[]) => columns.map((column) => `${name}.${column.name}`);
    const sqliteColumns = sqliteTables
      .map((table) => sqliteTableConfig(table))
      .filter((config) => !sqliteOnly.has(config.name))
      .flatMap((config) => columnsOf(config.name, config.columns))
      .filter((column) => !sqliteOnly.has(column))
      .sort();
    const pgColumns = tables
      .map((table) => getTableConfig(table))
      .flatMap((config) => columnsOf(config.name, config.columns))
      .filter((column) => !pgOnly.has(column))
      .sort();
    expect(pgColumns).toEqual(sqliteColumns);
  });

  test("both stores index the same lookups (each index by name and columns), but for the documented differences", () => {
    type Index = { config: { name: string; columns: { name?: string }[] } };
    const named = (name: string, indexes: Index[]) =>
      indexes.map((i) => `${name}.${i.config.name}(${i.config.columns.map((c) => c.name ?? "expression").join(",")})`);
    const sqliteTables = Object.values(sqliteSchema).filter((value) => is(value, SQLiteTable)) as SQLiteTable[];
    const sqliteIndexes = new Set(
      sqliteTables.flatMap((table) => named(sqliteTableConfig(table).name, sqliteTableConfig(table).indexes as unknown as Index[])),
    );
    const pgIndexes = new Set(tables.flatMap((table) => named(getTableConfig(table).name, getTableConfig(table).indexes as unknown as Index[])));
    // SQLite orders events by the second of their timestamp (docs/performance.md), PostgreSQL by the timestamp;
    // PostgreSQL's primary keys start with tenant_id, so a tenant's suppressions need no index of their own there.
    expect([...sqliteIndexes].filter((i) => !pgIndexes.has(i)).sort()).toEqual([
      "events.events_tenant_second(tenant_id,expression)",
      "privacy_suppressions.privacy_suppressions_tenant(tenant_id)",
    ]);
    expect([...pgIndexes].filter((i) => !sqliteIndexes.has(i))).toEqual(["events.events_tenant_timestamp(tenant_id,timestamp)"]);
    // A lead's merges are read by the lead they went into and deleted by either side.
    expect(pgIndexes).toContain("lead_merges.lead_merges_into(tenant_id,into_lead_id)");
    expect(pgIndexes).toContain("lead_merges.lead_merges_from(tenant_id,from_lead_id)");
  });
});
