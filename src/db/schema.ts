/**
 * The single source of Inlet's tables. Queries use these definitions and
 * `drizzle-kit generate` turns them into the SQL migrations committed in `drizzle/`.
 *
 * Times are stored as integer milliseconds since the epoch (cheap to compare and index);
 * free-form JSON (properties, traits, context, settings) is stored as text.
 */

import { sql } from "drizzle-orm";
import { index, integer, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";

const ms = (name: string) => integer(name, { mode: "number" });

export const tenants = sqliteTable("tenants", {
  id: text("id").primaryKey(),
  name: text("name").notNull(),
  /** Per-tenant options (privacy, bots, rate limits, CORS), JSON; see src/modules/tenants/settings.ts. */
  settings: text("settings").notNull().default("{}"),
  createdAt: ms("created_at").notNull(),
  /**
   * Random key (hex) of the tenant's privacy hashes: erased subjects and suppressed identifiers
   * are kept only as HMAC-SHA-256 under it (src/modules/privacy). Set on first use.
   */
  privacySalt: text("privacy_salt"),
});

export const apiKeys = sqliteTable(
  "api_keys",
  {
    id: text("id").primaryKey(),
    tenantId: text("tenant_id")
      .notNull()
      .references(() => tenants.id),
    /**
     * 'write' keys (public, in browsers) ingest; 'server' keys (secret, in backends) ingest and may
     * merge two identified leads; 'admin' keys read a tenant's data.
     */
    kind: text("kind", { enum: ["write", "server", "admin"] })
      .notNull()
      .default("write"),
    /** The first characters of the key, shown in listings so a person can tell keys apart. */
    prefix: text("prefix").notNull(),
    /** SHA-256 of the whole key, hex. The key itself is never stored. */
    hash: text("hash").notNull(),
    createdAt: ms("created_at").notNull(),
    revokedAt: ms("revoked_at"),
  },
  (table) => [uniqueIndex("api_keys_hash").on(table.hash), index("api_keys_tenant").on(table.tenantId)],
);

/** A browser or device as seen by its anonymousId (or a userId-only caller), per tenant. */
export const visitors = sqliteTable(
  "visitors",
  {
    id: text("id").primaryKey(),
    tenantId: text("tenant_id").notNull(),
    /** anonymousId, or `user:<userId>` for calls that carry only a userId. */
    key: text("key").notNull(),
    anonymousId: text("anonymous_id"),
    userId: text("user_id"),
    /** The lead this visitor is linked to now (null while anonymous). */
    leadId: text("lead_id"),
    firstSeenAt: ms("first_seen_at").notNull(),
    lastSeenAt: ms("last_seen_at").notNull(),
  },
  (table) => [uniqueIndex("visitors_tenant_key").on(table.tenantId, table.key)],
);

export const sessions = sqliteTable(
  "sessions",
  {
    id: text("id").primaryKey(),
    tenantId: text("tenant_id").notNull(),
    visitorId: text("visitor_id").notNull(),
    startedAt: ms("started_at").notNull(),
    lastEventAt: ms("last_event_at").notNull(),
    eventCount: integer("event_count").notNull().default(0),
    landingPage: text("landing_page"),
    referrer: text("referrer"),
    /** The first event's context.campaign, JSON. */
    campaign: text("campaign"),
    channel: text("channel"),
    /**
     * The lead the session's anonymous events belong to: set when its visitor is first linked to
     * a lead (instead of rewriting each anonymous event), or at start when the visitor is known.
     * An event's lead is its own lead_id, else its session's (src/db/sqlite/identity.ts).
     */
    leadId: text("lead_id"),
    /** How many of event_count were stored anonymous (lead_id null): they count for lead_id. */
    anonymousEvents: integer("anonymous_events").notNull().default(0),
    /**
     * The highest events.id included in the counts above. The writer keeps active sessions'
     * numbers in memory and writes them every few seconds (src/pipeline/sessions.ts); after a
     * crash, events above this id are counted again from the events table.
     */
    countedThrough: integer("counted_through").notNull().default(0),
  },
  // Not on last_event_at: every event moves it, and an index on it would be rewritten per event.
  // A visitor has few sessions; they are read by this index and sorted.
  (table) => [
    index("sessions_visitor").on(table.tenantId, table.visitorId),
    index("sessions_tenant_lead").on(table.tenantId, table.leadId).where(sql`lead_id IS NOT NULL`),
  ],
);

/** Small durable facts of the write path, by name (e.g. how far session counts are written). */
export const writerState = sqliteTable("writer_state", {
  key: text("key").primaryKey(),
  value: integer("value").notNull(),
});

/** A tenant's known person: keyed by userId, or by email where there is no userId. */
export const leads = sqliteTable(
  "leads",
  {
    id: text("id").primaryKey(),
    tenantId: text("tenant_id").notNull(),
    userId: text("user_id"),
    email: text("email"),
    traits: text("traits").notNull().default("{}"),
    /** For each trait, the timestamp (ms) of the identify that last set it: newer values win. */
    traitTimes: text("trait_times").notNull().default("{}"),
    /** The group (account) of the lead, from group calls. */
    groupId: text("group_id"),
    createdAt: ms("created_at").notNull(),
    updatedAt: ms("updated_at").notNull(),
    /** Set when this lead was merged into another; the row stays for the record. */
    mergedInto: text("merged_into"),
  },
  (table) => [uniqueIndex("leads_tenant_user").on(table.tenantId, table.userId), index("leads_tenant_email").on(table.tenantId, table.email)],
);

/** Which visitor was linked to which lead, when, and by which event. History is kept. */
export const identityLinks = sqliteTable(
  "identity_links",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    tenantId: text("tenant_id").notNull(),
    visitorId: text("visitor_id").notNull(),
    leadId: text("lead_id").notNull(),
    messageId: text("message_id").notNull(),
    linkedAt: ms("linked_at").notNull(),
    /** Set when the visitor was linked to another lead later (a shared device). */
    unlinkedAt: ms("unlinked_at"),
  },
  (table) => [index("identity_links_visitor").on(table.tenantId, table.visitorId), index("identity_links_lead").on(table.tenantId, table.leadId)],
);

export const leadMerges = sqliteTable(
  "lead_merges",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    tenantId: text("tenant_id").notNull(),
    fromLeadId: text("from_lead_id").notNull(),
    intoLeadId: text("into_lead_id").notNull(),
    reason: text("reason").notNull(),
    messageId: text("message_id").notNull(),
    mergedAt: ms("merged_at").notNull(),
  },
  // A lead's merges are read by the lead they went into (its page, the family an erasure resolves)
  // and deleted by either side: without these, each read scanned the tenant's every merge.
  (table) => [index("lead_merges_into").on(table.tenantId, table.intoLeadId), index("lead_merges_from").on(table.tenantId, table.fromLeadId)],
);

export const events = sqliteTable(
  "events",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    tenantId: text("tenant_id").notNull(),
    messageId: text("message_id").notNull(),
    type: text("type").notNull(),
    /** The track call's event name. */
    event: text("event"),
    anonymousId: text("anonymous_id"),
    userId: text("user_id"),
    visitorId: text("visitor_id").notNull(),
    sessionId: text("session_id").notNull(),
    /** The lead known when the event was stored; null for anonymous events (see sessions.lead_id). */
    leadId: text("lead_id"),
    timestamp: ms("timestamp").notNull(),
    originalTimestamp: ms("original_timestamp"),
    sentAt: ms("sent_at"),
    receivedAt: ms("received_at").notNull(),
    properties: text("properties"),
    traits: text("traits"),
    context: text("context"),
    integrations: text("integrations"),
    /** Type-specific Segment fields (page name/category, groupId, previousId), JSON. */
    extra: text("extra"),
    /** The payload schema version the event arrived in. */
    schemaVersion: text("schema_version"),
  },
  (table) => [
    uniqueIndex("events_tenant_message").on(table.tenantId, table.messageId),
    // By tenant and the second of the event's timestamp, not the millisecond: timestamps arrive a
    // little out of order (clients' clocks, batching), so an index on the exact timestamp puts each
    // event in a random page of its recent range, one page write per event per commit. Within a
    // second the index is in row order, so events append to the end of their second's range.
    // Readers range over seconds and sort within one (see eventSecond below).
    index("events_tenant_second").on(table.tenantId, sql`(${table.timestamp} / 1000)`),
    // No index by visitor or session: with ids spread at random, each would cost a randomly
    // placed page write per event. A visitor's anonymous history reaches its lead through
    // sessions.lead_id instead.
    // Partial: anonymous events (most of them) pay nothing for it; lead merges re-point through it.
    index("events_tenant_lead").on(table.tenantId, table.leadId).where(sql`lead_id IS NOT NULL`),
  ],
);

/**
 * The audit record and receipt of each erasure of a person (src/modules/privacy): when, by which
 * key, what was deleted. The subject itself is never stored, only its salted hash.
 */
export const privacyDeletions = sqliteTable(
  "privacy_deletions",
  {
    id: text("id").primaryKey(),
    tenantId: text("tenant_id").notNull(),
    /** HMAC-SHA-256 (tenant salt) of `kind:value`, e.g. `email:ada@example.com`, hex. */
    subjectHash: text("subject_hash").notNull(),
    /** Which identifiers the subject gave, e.g. `userId` or `userId,anonymousId`. */
    subjectKinds: text("subject_kinds").notNull(),
    /** The admin key that asked (null: the command line). */
    keyId: text("key_id"),
    keyPrefix: text("key_prefix"),
    suppressionId: text("suppression_id"),
    events: integer("events").notNull(),
    sessions: integer("sessions").notNull(),
    visitors: integer("visitors").notNull(),
    leads: integer("leads").notNull(),
    /** Whether the WAL was checkpointed and truncated afterwards (false: a reader held it). */
    walTruncated: integer("wal_truncated", { mode: "boolean" }).notNull(),
    requestedAt: ms("requested_at").notNull(),
    finishedAt: ms("finished_at").notNull(),
  },
  (table) => [index("privacy_deletions_tenant").on(table.tenantId, table.requestedAt)],
);

/**
 * A suppressed person: later events carrying any of its identifiers are not stored. The
 * identifiers are kept as salted hashes only (JSON array of hex), never in clear.
 */
export const privacySuppressions = sqliteTable(
  "privacy_suppressions",
  {
    id: text("id").primaryKey(),
    tenantId: text("tenant_id").notNull(),
    subjectHash: text("subject_hash").notNull(),
    subjectKinds: text("subject_kinds").notNull(),
    identifiers: text("identifiers").notNull(),
    keyId: text("key_id"),
    keyPrefix: text("key_prefix"),
    createdAt: ms("created_at").notNull(),
  },
  (table) => [index("privacy_suppressions_tenant").on(table.tenantId)],
);

/**
 * The key of events_tenant_second: the second of an event's timestamp. A query must use this very
 * expression for SQLite to use the index; `secondOf` is the same number in JavaScript (SQLite's
 * integer division truncates toward zero, as Math.trunc does).
 */
export const eventSecond = sql<number>`(${events.timestamp} / 1000)`;
export const secondOf = (ms: number): number => Math.trunc(ms / 1000);

export type Tenant = typeof tenants.$inferSelect;
export type ApiKey = typeof apiKeys.$inferSelect;
export type Visitor = typeof visitors.$inferSelect;
export type Session = typeof sessions.$inferSelect;
export type Lead = typeof leads.$inferSelect;
export type EventRow = typeof events.$inferInsert;
