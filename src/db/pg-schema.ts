/**
 * Inlet's tables on PostgreSQL: the same data as src/db/schema.ts (SQLite), in PostgreSQL's own
 * types (jsonb, timestamptz) so that people can query them with the tools they have.
 * `drizzle-kit generate --config drizzle.pg.config.ts` turns this file into drizzle/pg/*.sql.
 *
 * Citus-ready: every table that holds a tenant's data starts its primary key and each unique
 * constraint with tenant_id, so it can be distributed by tenant
 * (`create_distributed_table('events', 'tenant_id')`). `tenants` and `api_keys` are small lookup
 * tables (a key is found by its hash before its tenant is known): reference tables under Citus.
 * test/pg-schema.test.ts checks the property.
 */
import { sql } from "drizzle-orm";
import { bigint, boolean, customType, index, integer, pgTable, primaryKey, text, timestamp, uniqueIndex } from "drizzle-orm/pg-core";

/**
 * jsonb whose values go to Bun's client as they are: it encodes objects and arrays as JSON itself.
 * (drizzle's own jsonb hands it JSON.stringify's string, which Bun binds as text: the column
 * would hold a JSON string instead of the object.) Values come back parsed by the client.
 */
const jsonb = customType<{ data: unknown; driverData: unknown }>({ dataType: () => "jsonb" });

const at = (name: string) => timestamp(name, { withTimezone: true, mode: "date" });
/** Ids the database hands out, for tables whose rows have no natural id. */
const serialId = () => bigint("id", { mode: "number" }).generatedAlwaysAsIdentity();

/** A 64-bit transaction id (xid8), read as a decimal string. */
const xid8 = customType<{ data: string; driverData: string }>({ dataType: () => "xid8" });

/** Lookup tables: found without a tenant id (reference tables under Citus). */
export const referenceTables = ["tenants", "api_keys"] as const;

export const tenants = pgTable("tenants", {
  id: text("id").primaryKey(),
  name: text("name").notNull(),
  settings: jsonb("settings").notNull().default({}),
  createdAt: at("created_at").notNull(),
  /** Key of the tenant's privacy hashes (see src/db/schema.ts). */
  privacySalt: text("privacy_salt"),
});

export const apiKeys = pgTable(
  "api_keys",
  {
    id: text("id").primaryKey(),
    tenantId: text("tenant_id")
      .notNull()
      .references(() => tenants.id),
    kind: text("kind").notNull().default("write"),
    prefix: text("prefix").notNull(),
    hash: text("hash").notNull(),
    createdAt: at("created_at").notNull(),
    revokedAt: at("revoked_at"),
  },
  (table) => [uniqueIndex("api_keys_hash").on(table.hash), index("api_keys_tenant").on(table.tenantId)],
);

export const visitors = pgTable(
  "visitors",
  {
    tenantId: text("tenant_id").notNull(),
    id: text("id").notNull(),
    key: text("key").notNull(),
    anonymousId: text("anonymous_id"),
    userId: text("user_id"),
    leadId: text("lead_id"),
    firstSeenAt: at("first_seen_at").notNull(),
    lastSeenAt: at("last_seen_at").notNull(),
  },
  (table) => [primaryKey({ columns: [table.tenantId, table.id] }), uniqueIndex("visitors_tenant_key").on(table.tenantId, table.key)],
);

export const sessions = pgTable(
  "sessions",
  {
    tenantId: text("tenant_id").notNull(),
    id: text("id").notNull(),
    visitorId: text("visitor_id").notNull(),
    startedAt: at("started_at").notNull(),
    lastEventAt: at("last_event_at").notNull(),
    eventCount: integer("event_count").notNull().default(0),
    landingPage: text("landing_page"),
    referrer: text("referrer"),
    campaign: jsonb("campaign"),
    channel: text("channel"),
    leadId: text("lead_id"),
    anonymousEvents: integer("anonymous_events").notNull().default(0),
  },
  (table) => [
    primaryKey({ columns: [table.tenantId, table.id] }),
    index("sessions_visitor").on(table.tenantId, table.visitorId),
    index("sessions_tenant_lead").on(table.tenantId, table.leadId).where(sql`lead_id IS NOT NULL`),
  ],
);

export const leads = pgTable(
  "leads",
  {
    tenantId: text("tenant_id").notNull(),
    id: text("id").notNull(),
    userId: text("user_id"),
    email: text("email"),
    traits: jsonb("traits").notNull().default({}),
    traitTimes: jsonb("trait_times").notNull().default({}),
    groupId: text("group_id"),
    createdAt: at("created_at").notNull(),
    updatedAt: at("updated_at").notNull(),
    mergedInto: text("merged_into"),
  },
  (table) => [
    primaryKey({ columns: [table.tenantId, table.id] }),
    uniqueIndex("leads_tenant_user").on(table.tenantId, table.userId),
    index("leads_tenant_email").on(table.tenantId, table.email),
  ],
);

export const identityLinks = pgTable(
  "identity_links",
  {
    tenantId: text("tenant_id").notNull(),
    id: serialId(),
    visitorId: text("visitor_id").notNull(),
    leadId: text("lead_id").notNull(),
    messageId: text("message_id").notNull(),
    linkedAt: at("linked_at").notNull(),
    unlinkedAt: at("unlinked_at"),
  },
  (table) => [
    primaryKey({ columns: [table.tenantId, table.id] }),
    index("identity_links_visitor").on(table.tenantId, table.visitorId),
    index("identity_links_lead").on(table.tenantId, table.leadId),
  ],
);

export const leadMerges = pgTable(
  "lead_merges",
  {
    tenantId: text("tenant_id").notNull(),
    id: serialId(),
    fromLeadId: text("from_lead_id").notNull(),
    intoLeadId: text("into_lead_id").notNull(),
    reason: text("reason").notNull(),
    messageId: text("message_id").notNull(),
    mergedAt: at("merged_at").notNull(),
  },
  // Read by the lead merged into (its page, an erasure's family), deleted by either side (see ./schema.ts).
  (table) => [
    primaryKey({ columns: [table.tenantId, table.id] }),
    index("lead_merges_into").on(table.tenantId, table.intoLeadId),
    index("lead_merges_from").on(table.tenantId, table.fromLeadId),
  ],
);

export const events = pgTable(
  "events",
  {
    tenantId: text("tenant_id").notNull(),
    id: serialId(),
    messageId: text("message_id").notNull(),
    type: text("type").notNull(),
    event: text("event"),
    anonymousId: text("anonymous_id"),
    userId: text("user_id"),
    visitorId: text("visitor_id").notNull(),
    sessionId: text("session_id").notNull(),
    leadId: text("lead_id"),
    timestamp: at("timestamp").notNull(),
    originalTimestamp: at("original_timestamp"),
    sentAt: at("sent_at"),
    receivedAt: at("received_at").notNull(),
    properties: jsonb("properties"),
    traits: jsonb("traits"),
    context: jsonb("context"),
    integrations: jsonb("integrations"),
    extra: jsonb("extra"),
    schemaVersion: text("schema_version"),
    /**
     * The transaction that stored the event, set by the database (the writer never gives it).
     * Ids are taken before commit, so concurrent transactions commit them out of order; readers
     * that page with a cursor order ties by this and stop before events of transactions that may
     * still be followed by older ones (src/db/postgres/event-reads.ts).
     */
    tx: xid8("tx").notNull().default(sql`pg_current_xact_id()`),
  },
  (table) => [
    primaryKey({ columns: [table.tenantId, table.id] }),
    uniqueIndex("events_tenant_message").on(table.tenantId, table.messageId),
    index("events_tenant_timestamp").on(table.tenantId, table.timestamp),
    index("events_tenant_lead").on(table.tenantId, table.leadId).where(sql`lead_id IS NOT NULL`),
  ],
);

/** The audit of erasures: counts and a salted hash of the subject, never the subject (src/db/schema.ts). */
export const privacyDeletions = pgTable(
  "privacy_deletions",
  {
    tenantId: text("tenant_id").notNull(),
    id: text("id").notNull(),
    subjectHash: text("subject_hash").notNull(),
    subjectKinds: text("subject_kinds").notNull(),
    keyId: text("key_id"),
    keyPrefix: text("key_prefix"),
    suppressionId: text("suppression_id"),
    events: integer("events").notNull(),
    sessions: integer("sessions").notNull(),
    visitors: integer("visitors").notNull(),
    leads: integer("leads").notNull(),
    walTruncated: boolean("wal_truncated").notNull(),
    requestedAt: at("requested_at").notNull(),
    finishedAt: at("finished_at").notNull(),
  },
  (table) => [primaryKey({ columns: [table.tenantId, table.id] }), index("privacy_deletions_tenant").on(table.tenantId, table.requestedAt)],
);

/** Suppressed people: their identifiers as salted hashes only (src/db/schema.ts). */
export const privacySuppressions = pgTable(
  "privacy_suppressions",
  {
    tenantId: text("tenant_id").notNull(),
    id: text("id").notNull(),
    subjectHash: text("subject_hash").notNull(),
    subjectKinds: text("subject_kinds").notNull(),
    identifiers: jsonb("identifiers").notNull(),
    keyId: text("key_id"),
    keyPrefix: text("key_prefix"),
    createdAt: at("created_at").notNull(),
  },
  (table) => [primaryKey({ columns: [table.tenantId, table.id] })],
);
