/**
 * The command line: `inlet serve` and the operator commands (tenants, keys, export). Operator
 * commands open the same store as the server (the SQLite file, where WAL lets them run beside it,
 * or DATABASE_URL) and print JSON, so they compose with jq and scripts.
 */
import { existsSync, statSync } from "node:fs";
import { parseArgs } from "node:util";
import { ConfigError, configFlagOptions, loadConfig, type Config } from "../config";
import { openDatabase, type DatabaseHandle } from "../db/client";
import { notifyChange } from "../db/postgres/change-feed";
import { openFailure, openStorage, readStoresOf, tenantStoreOf, type PostgresStorage, type Storage } from "../db/storage";
import { PostgresPrivacyStore, PostgresRetentionStore } from "../db/postgres/privacy";
import type { Privacy } from "../modules/privacy/contract";
import { ErasureService } from "../modules/privacy/erasure";
import { PrivacyService } from "../modules/privacy/service";
import { RetentionTask } from "../modules/privacy/retention";
import { SharedRetentionTask } from "../modules/privacy/shared-retention";
import { directStore } from "../modules/privacy/store";
import { ExportService, ndjsonLine } from "../modules/export/service";
import { callTypes } from "../modules/events/model";
import { LeadService } from "../modules/leads/service";
import { SqliteEventReads } from "../db/sqlite/event-reads";
import { SqliteLeadReads } from "../db/sqlite/lead-reads";
import { TenantService } from "../modules/tenants/service";
import { settingsPatchFromFlags } from "../modules/tenants/settings-flags";
import { ServeError, serveForever } from "../server";
import { commit, version } from "../build-info";
import { backupDatabase } from "../db/backup";
import { healthcheck } from "./healthcheck";

export const USAGE = `Inlet ${version}: self-hosted event ingestion (Segment-compatible)

Usage:
  inlet serve                                   start the HTTP server
  inlet tenant create <name>                    create a tenant and its first write key (JSON: tenantId, key...)
  inlet tenant list                             list tenants (JSON)
  inlet tenant set <id> [--rate-rps N] [--rate-eps N] [--ip-policy full|anonymize|drop] [--bots keep|flag|drop]
                   [--cors-origins https://a.example,https://b.example|*] [--retention-days N|forever]
                                                change a tenant's settings (a rate of 0: no limit; default: the server's;
                                                retention: events older than N days are deleted, default forever)
  inlet key create --tenant <id> [--server|--admin]
                                                create a key, shown once: a write key (public, for browsers
                                                and apps), a server key (secret, for backends: may merge
                                                two identified leads) or an admin key (secret, reads data)
  inlet key list --tenant <id>                  list keys by prefix (JSON)
  inlet key revoke <key id or prefix>           revoke a key
  inlet lead show --tenant <id> <userId|email>  a lead: merged traits, linked visitors, counts (JSON)
  inlet export --tenant <id> [--since ISO] [--until ISO] [--type track|identify|...]
                                                stored events as NDJSON, oldest first
  inlet privacy delete --tenant <id> [--suppress] <userId|email|anonymousId>
                                                erase a person: events, sessions, visitors, leads (receipt as JSON)
  inlet privacy suppress --tenant <id> <userId|email|anonymousId>
                                                refuse the person's later events (nothing deleted)
  inlet privacy suppressions --tenant <id>      list suppressions (hashes, never the subjects)
  inlet privacy lift --tenant <id> <suppression id>
                                                lift a suppression
  inlet privacy deletions --tenant <id>         the audit of erasures (when, by which key, counts, subject hash)
  inlet privacy apply-ip-policy --tenant <id>   apply the tenant's IP policy (anonymize|drop) to stored events
  inlet privacy retention                       run the retention of every tenant now (JSON summary)
  inlet privacy vacuum                          rebuild the file so deletions give space back (server stopped)
  (privacy commands: see docs/privacy.md; while a server runs, prefer its /v1/privacy API)
  inlet backup <file>                           a consistent copy of the live database (never overwrites);
                                                SQLite only: with DATABASE_URL use pg_dump (exit 2)
  inlet migrate                                 apply the migrations the database lacks (JSON: the ones applied)
  inlet healthcheck                             exit 0 when the server on --host/--port answers /health
  inlet --version

Every command takes the configuration flags (e.g. --db <file>, --port <n>); see docs/operations.md.
DATABASE_URL selects PostgreSQL: every command works on either store but backup (use pg_dump) and privacy vacuum (SQLite only).
`;

/** Commands that read and write the SQLite file directly. */
/** The command line is incomplete or unknown: the message and the usage, exit 2. */
class UsageError extends Error {}
/** A value given on the command line is invalid: one line, exit 2. */
class InvalidValue extends Error {}
/** The command could not be carried out (no such tenant...): one line, exit 1. */
class CommandFailed extends Error {}

const commandOptions = {
  tenant: { type: "string" },
  since: { type: "string" },
  until: { type: "string" },
  type: { type: "string" },
  admin: { type: "boolean" },
  server: { type: "boolean" },
  "rate-rps": { type: "string" },
  "rate-eps": { type: "string" },
  "ip-policy": { type: "string" },
  bots: { type: "string" },
  "cors-origins": { type: "string" },
  "retention-days": { type: "string" },
  suppress: { type: "boolean" },
  help: { type: "boolean", short: "h" },
  version: { type: "boolean", short: "v" },
} as const;

function print(value: unknown): void {
  process.stdout.write(JSON.stringify(value, null, 2) + "\n");
}

function isoFlag(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const ms = Date.parse(value);
  if (Number.isNaN(ms)) throw new InvalidValue(`--${name} must be an ISO date or time, got ${JSON.stringify(value)}.`);
  return ms;
}

function need(value: string | undefined, what: string): string {
  if (!value) throw new UsageError(`Missing ${what}.`);
  return value;
}

async function writeNdjson(rows: AsyncIterable<unknown>): Promise<void> {
  const writer = Bun.stdout.writer();
  let pending = 0;
  for await (const row of rows) {
    writer.write(ndjsonLine(row) + "\n");
    if (++pending >= 500) {
      await writer.flush();
      pending = 0;
    }
  }
  await writer.flush();
}

export async function runCli(argv: string[]): Promise<number> {
  const parse = () => parseArgs({ args: argv, options: { ...configFlagOptions(), ...commandOptions }, allowPositionals: true, strict: true });
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse();
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n\n${USAGE}`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.version) {
    process.stdout.write(`inlet ${version} (commit ${commit})\n`);
    return 0;
  }
  const [command, sub, ...rest] = positionals;
  if (values.help || !command) {
    process.stdout.write(USAGE);
    return command || values.help ? 0 : 2;
  }

  let config: Config;
  try {
    config = loadConfig(process.env, values as Record<string, string | undefined>);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`inlet: ${error.message}\n`);
      return 2;
    }
    throw error;
  }

  if (command === "serve") {
    try {
      await serveForever(config);
    } catch (error) {
      if (!(error instanceof ServeError)) throw error;
      process.stderr.write(`inlet: ${error.message}\n`);
      return 1;
    }
    return -1; // keeps running
  }
  if (command === "healthcheck") return healthcheck(config);
  if (command === "backup") return backup(config, sub);
  if (command === "migrate") return migrate(config);

  let storage: Storage;
  try {
    storage = await openStorage(config);
  } catch (error) {
    const { where, reason } = openFailure(config, error);
    process.stderr.write(`inlet: cannot open the database (${where}): ${reason}\n`);
    return 1;
  }
  // On PostgreSQL, running instances hear of a revoked key or changed settings at once.
  const tenants = new TenantService(
    tenantStoreOf(storage),
    storage.kind === "postgres" ? { publish: (change) => notifyChange(storage.sql, change) } : undefined,
  );
  try {
    switch (`${command} ${sub ?? ""}`.trim()) {
      case "tenant create":
        print(await tenants.createTenant(need(rest[0], "tenant name (inlet tenant create <name>)")));
        return 0;
      case "tenant set": {
        const tenantId = need(rest[0], "tenant id (inlet tenant set <id> --rate-rps N ...)");
        const patch = settingsPatchFromFlags(values);
        if (Object.keys(patch).length === 0)
          throw new UsageError("Nothing to set: give --rate-rps, --rate-eps, --ip-policy, --bots, --cors-origins or --retention-days.");
        // Running servers see the change at once on PostgreSQL (NOTIFY), within KEY_CACHE_TTL_SECONDS on SQLite.
        print({ tenantId, settings: await tenants.setSettings(tenantId, patch) });
        return 0;
      }
      case "tenant list":
        print(await tenants.listTenants());
        return 0;
      case "key create": {
        const tenantId = need(values.tenant, "--tenant <id>");
        if (values.admin && values.server) throw new UsageError("A key is of one kind: give --server or --admin, not both.");
        print(await tenants.createKey(tenantId, values.admin ? "admin" : values.server ? "server" : "write"));
        return 0;
      }
      case "key list":
        print(await tenants.listKeys(need(values.tenant, "--tenant <id>")));
        return 0;
      case "key revoke":
        print({ revoked: await tenants.revokeKey(need(rest[0], "key id or prefix (inlet key revoke <id|prefix>)")) });
        return 0;
    }
    const reads = readStoresOf(storage);
    if (`${command} ${sub ?? ""}`.trim() === "lead show") {
      const tenantId = need(values.tenant, "--tenant <id>");
      const lead = await new LeadService(reads.leads).showLead(tenantId, need(rest[0], "userId or email (inlet lead show --tenant <id> <userId|email>)"));
      if (!lead) {
        process.stderr.write(`inlet: no lead ${rest[0]} in tenant ${tenantId}.\n`);
        return 1;
      }
      print(lead);
      return 0;
    }
    if (command === "export") {
      const tenantId = need(values.tenant, "--tenant <id>");
      if (!(await tenants.tenantExists(tenantId))) throw new CommandFailed(`No tenant with id ${tenantId}.`);
      if (values.type !== undefined && !(callTypes as string[]).includes(values.type)) {
        throw new InvalidValue(`--type must be one of ${callTypes.join(", ")}, got ${JSON.stringify(values.type)}.`);
      }
      await writeNdjson(
        new ExportService(reads.events).exportEvents({
          tenantId,
          since: isoFlag("since", values.since),
          until: isoFlag("until", values.until),
          type: values.type,
        }),
      );
      return 0;
    }
    if (command === "privacy") {
      await privacyCommand(storage, tenants, config, sub, rest, values);
      return 0;
    }
    throw new UsageError(`Unknown command: ${positionals.join(" ")}`);
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(`inlet: ${error.message}\n\n${USAGE}`);
      return 2;
    }
    if (error instanceof InvalidValue) {
      process.stderr.write(`inlet: ${error.message}\n`);
      return 2;
    }
    process.stderr.write(`inlet: ${(error as Error).message}\n`);
    return 1;
  } finally {
    await storage.close();
  }
}

/** `inlet migrate`: applies the migrations the store lacks (SQLite file or DATABASE_URL) and prints them. */
async function migrate(config: Config): Promise<number> {
  let storage: Storage;
  try {
    // Opening applies them: on PostgreSQL under a lock, once however many instances start together.
    storage = await openStorage(config);
  } catch (error) {
    const { where, reason } = openFailure(config, error);
    process.stderr.write(`inlet: migrate failed (${where}): ${reason}\n`);
    return 1;
  }
  const database = storage.kind === "sqlite" ? storage.database.path : storage.where;
  print({ store: storage.kind, database, applied: storage.applied });
  await storage.close();
  return 0;
}

/** `inlet privacy ...`: the same service as the HTTP API, in the command line's own transactions. */
async function privacyCommand(
  storage: Storage,
  tenants: TenantService,
  config: Config,
  sub: string | undefined,
  rest: string[],
  values: { tenant?: string; suppress?: boolean },
): Promise<void> {
  const sqlite = storage.kind === "sqlite" ? storage.database : null;
  const store = sqlite && directStore(sqlite.sqlite, sqlite.db);
  const onSqlite = store && new PrivacyService(store, null);
  // On PostgreSQL a suppression made or lifted here is published: every running instance reloads its list.
  const privacy: Privacy =
    onSqlite ?? new ErasureService(new PostgresPrivacyStore((storage as PostgresStorage).sql), null, { publish: (change, via) => notifyChange(via, change) });
  const sqliteOnly = () => {
    if (!sqlite || !store) throw new CommandFailed(`privacy ${sub} works on the SQLite store only, not with DATABASE_URL (PostgreSQL).`);
    return { sqlite, store };
  };
  const tenant = async () => {
    const tenantId = need(values.tenant, "--tenant <id>");
    if (!(await tenants.tenantExists(tenantId))) throw new CommandFailed(`No tenant with id ${tenantId}.`);
    return tenantId;
  };
  // One identifier on the command line: it is looked up as a userId, an anonymousId and (when it
  // looks like one) an email.
  const subject = () => {
    const value = need(rest[0], "the person's userId, email or anonymousId");
    return { userId: value, anonymousId: value, ...(value.includes("@") ? { email: value } : {}) };
  };
  switch (sub) {
    case "delete":
      print(await privacy.delete(await tenant(), subject(), { suppress: values.suppress === true, by: null }));
      return;
    case "suppress":
      print(await privacy.suppress(await tenant(), subject(), null));
      return;
    case "suppressions":
      print(await privacy.suppressionsOf(await tenant()));
      return;
    case "lift": {
      const tenantId = await tenant();
      const id = need(rest[0], "the suppression id (inlet privacy suppressions --tenant <id>)");
      if (!(await privacy.lift(tenantId, id))) throw new Error(`No suppression ${id} in tenant ${tenantId}.`);
      print({ lifted: true, suppressionId: id });
      return;
    }
    case "deletions":
      print(await privacy.deletions(await tenant()));
      return;
    case "apply-ip-policy":
      print({ tenantId: values.tenant, ...(await privacy.applyIpPolicy(await tenant())) });
      return;
    case "retention": {
      const options = { sessionTimeoutMs: config.sessionTimeoutMinutes * 60_000 };
      // On PostgreSQL it waits for no one: when an instance is running it now, this run is empty.
      const task = store ? new RetentionTask(store, options) : new SharedRetentionTask(new PostgresRetentionStore((storage as PostgresStorage).sql), options);
      print(await task.run());
      return;
    }
    case "vacuum": {
      const { sqlite: database, store } = sqliteOnly();
      const before = statSync(config.db).size;
      database.sqlite.run("PRAGMA auto_vacuum = INCREMENTAL");
      database.sqlite.run("VACUUM");
      await store.truncateWal();
      print({ autoVacuum: "incremental", bytesBefore: before, bytesAfter: statSync(config.db).size });
      return;
    }
  }
  throw new UsageError(`Unknown command: privacy ${sub ?? ""}`);
}

function backup(config: Config, target: string | undefined): number {
  if (config.databaseUrl !== "") {
    process.stderr.write(
      'inlet: backup copies the SQLite file; with DATABASE_URL (PostgreSQL), back up with pg_dump, e.g. pg_dump --format=custom --file inlet.dump "$DATABASE_URL"\n',
    );
    return 2;
  }
  if (!target) {
    process.stderr.write(`inlet: Missing the backup file (inlet backup <file>).\n\n${USAGE}`);
    return 2;
  }
  // Checked first: opening a missing database would create an empty one and back that up.
  if (config.db === ":memory:" || !existsSync(config.db)) {
    process.stderr.write(`inlet: no database at ${config.db} (set INLET_DB or --db).\n`);
    return 1;
  }
  // Read-only: a backup never migrates or otherwise changes the database it copies.
  const database = openDatabase(config.db, { readonly: true });
  try {
    print(backupDatabase(database.db, target));
    return 0;
  } catch (error) {
    process.stderr.write(`inlet: backup failed: ${(error as Error).message}\n`);
    return 1;
  } finally {
    database.close();
  }
}
