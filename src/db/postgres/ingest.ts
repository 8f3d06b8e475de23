/**
 * The batched writer's store on PostgreSQL (the steps: src/pipeline/batch-record.ts). One commit
 * is one transaction on a reserved connection: sorted advisory locks, reads for all its events
 * with one statement each, and one multi-row statement per table. Raw SQL on Bun's client here
 * (the hot path; jsonb bound as objects); drizzle's schema (src/db/pg-schema.ts) defines the tables.
 */
import type { ReservedSQL, SQL } from "bun";
import type {
  BatchStore,
  BatchTransaction,
  EventRow,
  IdentityRows,
  LeadRow,
  LockKey,
  PendingWrites,
  SessionRow,
  StoredVisitor,
  VisitorRef,
} from "../../pipeline/ports";
import { storageError, within } from "./errors";
import { jsonbText, jsonbValue } from "./values";

const date = (value: number | null | undefined): Date | null => (value === null || value === undefined ? null : new Date(value));
const iso = (value: number): string => new Date(value).toISOString();

export class PostgresBatchStore implements BatchStore {
  constructor(
    private readonly sql: SQL,
    /** How long a commit waits for a pooled connection before its requests are answered busy. */
    private readonly acquireTimeoutMs: number,
  ) {}

  async begin(): Promise<BatchTransaction> {
    const reserving = this.sql.reserve();
    let connection: ReservedSQL;
    try {
      connection = await within(this.acquireTimeoutMs, reserving, "Waiting for a database connection");
    } catch (error) {
      // Given back whenever it comes.
      reserving.then((late) => late.release()).catch(() => {});
      throw storageError(error);
    }
    // Not awaited: BEGIN goes out with the commit's first statement (pipelined), which fails if it did.
    // Every statement of a commit looks rows up by key for a list of keys (unnest): one index probe
    // per key is right however large the tables grow, but with a single tenant the planner takes
    // `tenant_id = ...` for unselective and joins by scanning the whole table (seen: a sequential
    // scan of every session per commit). So, for this transaction only, no hash or merge joins and
    // no sequential scans.
    const begun = run(
      connection`BEGIN; SELECT set_config('enable_hashjoin', 'off', true), set_config('enable_mergejoin', 'off', true), set_config('enable_seqscan', 'off', true)`.simple(),
    );
    begun.catch(() => {});
    return new PostgresTransaction(connection, begun);
  }
}

class PostgresTransaction implements BatchTransaction {
  readonly identity: IdentityRows;
  private ended = false;

  constructor(
    private readonly sql: ReservedSQL,
    private readonly begun: Promise<unknown>,
  ) {
    this.identity = new PostgresIdentityRows(sql);
  }

  async lock(keys: LockKey[]): Promise<void> {
    await Promise.all([this.begun, run(lockAll(this.sql, keys))]);
  }

  async storedMessageIds(pairs: { tenantId: string; messageId: string }[]): Promise<Set<string>> {
    const rows = await run<{ tenant_id: string; message_id: string }[]>(
      this.sql`SELECT e.tenant_id, e.message_id FROM unnest(${pairs.map((p) => p.tenantId)}::text[], ${pairs.map((p) => p.messageId)}::text[]) AS u(t, m)
        JOIN events e ON e.tenant_id = u.t AND e.message_id = u.m`,
    );
    return new Set(rows.map((r) => `${r.tenant_id}\n${r.message_id}`));
  }

  async visitors(pairs: { tenantId: string; key: string }[]): Promise<Map<string, StoredVisitor & { latest?: SessionRow }>> {
    const rows = await run<(VisitorRecord & Partial<Omit<SessionRecord, "visitor_id">>)[]>(
      this.sql`SELECT v.tenant_id, v.key, v.id AS visitor_id, v.lead_id, v.first_seen_at, v.last_seen_at, v.user_id,
          s.id, s.started_at, s.last_event_at, s.event_count, s.anonymous_events
        FROM unnest(${pairs.map((p) => p.tenantId)}::text[], ${pairs.map((p) => p.key)}::text[]) AS u(t, k)
        JOIN visitors v ON v.tenant_id = u.t AND v.key = u.k
        LEFT JOIN LATERAL (
          SELECT id, started_at, last_event_at, event_count, anonymous_events FROM sessions
          WHERE tenant_id = v.tenant_id AND visitor_id = v.id ORDER BY last_event_at DESC LIMIT 1) s ON true`,
    );
    const found = new Map<string, StoredVisitor & { latest?: SessionRow }>();
    for (const r of rows) {
      const visitor: StoredVisitor & { latest?: SessionRow } = {
        id: r.visitor_id,
        leadId: r.lead_id,
        firstSeenAt: r.first_seen_at.getTime(),
        lastSeenAt: r.last_seen_at.getTime(),
        userId: r.user_id,
      };
      if (r.id) visitor.latest = sessionRow(r as SessionRecord);
      found.set(`${r.tenant_id}\n${r.key}`, visitor);
    }
    return found;
  }

  async covering(tenantId: string, visitorId: string, lower: number, upper: number): Promise<SessionRow | undefined> {
    const [row] = await run<SessionRecord[]>(
      this.sql`SELECT visitor_id, id, started_at, last_event_at, event_count, anonymous_events FROM sessions
        WHERE tenant_id = ${tenantId} AND visitor_id = ${visitorId} AND started_at <= ${date(upper)} AND last_event_at > ${date(lower)}
        ORDER BY last_event_at DESC LIMIT 1`,
    );
    return row && sessionRow(row);
  }

  /** Sends the statements one after another without waiting for each answer (pipelined), then waits for all. */
  async write(writes: PendingWrites): Promise<void> {
    const { sql } = this;
    const sent: Promise<unknown>[] = [];
    if (writes.visitors.length > 0) {
      const v = writes.visitors;
      sent.push(
        run(sql`INSERT INTO visitors (tenant_id, id, key, anonymous_id, user_id, first_seen_at, last_seen_at)
          SELECT * FROM unnest(${v.map((x) => x.tenantId)}::text[], ${v.map((x) => x.id)}::text[], ${v.map((x) => x.key)}::text[],
            ${v.map((x) => x.anonymousId)}::text[], ${v.map((x) => x.userId)}::text[], ${v.map((x) => iso(x.firstSeenAt))}::timestamptz[],
            ${v.map((x) => iso(x.lastSeenAt))}::timestamptz[])`),
      );
    }
    if (writes.visitorChanges.length > 0) {
      const c = writes.visitorChanges;
      sent.push(
        run(sql`UPDATE visitors v SET first_seen_at = least(v.first_seen_at, u.f), last_seen_at = greatest(v.last_seen_at, u.l), user_id = coalesce(u.uid, v.user_id)
        FROM unnest(${c.map((x) => x.tenantId)}::text[], ${c.map((x) => x.id)}::text[], ${c.map((x) => iso(x.firstSeenAt))}::timestamptz[],
          ${c.map((x) => iso(x.lastSeenAt))}::timestamptz[], ${c.map((x) => x.userId)}::text[]) AS u(t, id, f, l, uid)
        WHERE v.tenant_id = u.t AND v.id = u.id`),
      );
    }
    if (writes.sessions.length > 0) {
      const n = writes.sessions;
      sent.push(
        run(sql`INSERT INTO sessions (tenant_id, id, visitor_id, started_at, last_event_at, event_count, anonymous_events, lead_id, landing_page, referrer, campaign, channel)
          SELECT t, id, v, at, at, 1, a, l, p, r, c::jsonb, ch FROM unnest(${n.map((x) => x.tenantId)}::text[], ${n.map((x) => x.id)}::text[],
            ${n.map((x) => x.visitorId)}::text[], ${n.map((x) => iso(x.at))}::timestamptz[], ${n.map((x) => x.anonymousEvents)}::int[],
            ${n.map((x) => x.leadId)}::text[], ${n.map((x) => x.landingPage)}::text[], ${n.map((x) => x.referrer)}::text[],
            ${n.map((x) => (x.campaign === null ? null : jsonbText(JSON.parse(x.campaign))))}::text[], ${n.map((x) => x.channel)}::text[])
            AS u(t, id, v, at, a, l, p, r, c, ch)`),
      );
    }
    if (writes.events.length > 0) sent.push(run(insertEvents(sql, writes.events)));
    if (writes.sessionIncrements.length > 0) {
      const c = writes.sessionIncrements;
      sent.push(
        run(sql`UPDATE sessions s SET event_count = s.event_count + u.n, anonymous_events = s.anonymous_events + u.a,
          started_at = least(s.started_at, u.f), last_event_at = greatest(s.last_event_at, u.l)
        FROM unnest(${c.map((x) => x.tenantId)}::text[], ${c.map((x) => x.id)}::text[], ${c.map((x) => x.events)}::int[], ${c.map((x) => x.anonymousEvents)}::int[],
          ${c.map((x) => iso(x.startedAt))}::timestamptz[], ${c.map((x) => iso(x.lastEventAt))}::timestamptz[]) AS u(t, id, n, a, f, l)
        WHERE s.tenant_id = u.t AND s.id = u.id`),
      );
    }
    await Promise.all(sent);
  }

  async commit(): Promise<void> {
    this.ended = true;
    try {
      await run(this.sql`COMMIT`);
    } finally {
      this.sql.release();
    }
  }

  async rollback(): Promise<void> {
    if (this.ended) return;
    this.ended = true;
    try {
      await this.sql`ROLLBACK`;
    } catch {
      // the connection is gone, and the transaction with it
    } finally {
      this.sql.release();
    }
  }
}

/** The identity rules' lookups and updates (src/pipeline/identity.ts), in the commit's transaction. */
class PostgresIdentityRows implements IdentityRows {
  constructor(private readonly sql: ReservedSQL) {}

  private async lead(where: PromiseLike<unknown>): Promise<LeadRow | undefined> {
    const [row] = await run<LeadRecord[]>(where);
    return row && leadRow(row);
  }

  leadById(tenantId: string, id: string) {
    return this.lead(this.sql`SELECT ${this.sql.unsafe(LEAD_COLUMNS)} FROM leads WHERE tenant_id = ${tenantId} AND id = ${id}`);
  }

  leadByUserId(tenantId: string, userId: string) {
    return this.lead(this.sql`SELECT ${this.sql.unsafe(LEAD_COLUMNS)} FROM leads WHERE tenant_id = ${tenantId} AND user_id = ${userId}`);
  }

  leadByEmail(tenantId: string, email: string) {
    return this.lead(
      this
        .sql`SELECT ${this.sql.unsafe(LEAD_COLUMNS)} FROM leads WHERE tenant_id = ${tenantId} AND email = ${email} AND merged_into IS NULL ORDER BY created_at LIMIT 1`,
    );
  }

  async insertLead(tenantId: string, lead: LeadRow, updatedAt: number): Promise<void> {
    await run(
      this.sql`INSERT INTO leads (tenant_id, id, user_id, email, traits, trait_times, created_at, updated_at)
        VALUES (${tenantId}, ${lead.id}, ${lead.userId}, ${lead.email}, ${jsonbValue(lead.traits)}, ${jsonbValue(lead.traitTimes)}, ${new Date(lead.createdAt)}, ${new Date(updatedAt)})`,
    );
  }

  async saveLead(
    tenantId: string,
    id: string,
    change: { traits: Record<string, unknown>; traitTimes: Record<string, number>; email: string | null | undefined; at: number },
  ) {
    const at = new Date(change.at);
    if (change.email === undefined)
      await run(
        this
          .sql`UPDATE leads SET traits = ${jsonbValue(change.traits)}, trait_times = ${jsonbValue(change.traitTimes)}, updated_at = ${at} WHERE tenant_id = ${tenantId} AND id = ${id}`,
      );
    else
      await run(
        this
          .sql`UPDATE leads SET traits = ${jsonbValue(change.traits)}, trait_times = ${jsonbValue(change.traitTimes)}, email = ${change.email}, updated_at = ${at} WHERE tenant_id = ${tenantId} AND id = ${id}`,
      );
  }

  async setLeadUserId(tenantId: string, id: string, userId: string): Promise<void> {
    await run(this.sql`UPDATE leads SET user_id = ${userId} WHERE tenant_id = ${tenantId} AND id = ${id}`);
  }

  async setGroup(tenantId: string, id: string, groupId: string, at: number): Promise<void> {
    await run(this.sql`UPDATE leads SET group_id = ${groupId}, updated_at = ${new Date(at)} WHERE tenant_id = ${tenantId} AND id = ${id}`);
  }

  async visitorByKey(tenantId: string, key: string): Promise<VisitorRef | undefined> {
    const [row] = await run<{ id: string; lead_id: string | null }[]>(
      this.sql`SELECT id, lead_id FROM visitors WHERE tenant_id = ${tenantId} AND key = ${key}`,
    );
    return row && { id: row.id, leadId: row.lead_id };
  }

  async markMerged(tenantId: string, absorbedId: string, survivorId: string, at: number): Promise<void> {
    await run(this.sql`UPDATE leads SET merged_into = ${survivorId}, updated_at = ${new Date(at)} WHERE tenant_id = ${tenantId} AND id = ${absorbedId}`);
  }

  async insertMerge(m: { tenantId: string; fromLeadId: string; intoLeadId: string; reason: string; messageId: string; mergedAt: number }): Promise<void> {
    await run(
      this.sql`INSERT INTO lead_merges (tenant_id, from_lead_id, into_lead_id, reason, message_id, merged_at)
        VALUES (${m.tenantId}, ${m.fromLeadId}, ${m.intoLeadId}, ${m.reason}, ${m.messageId}, ${new Date(m.mergedAt)})`,
    );
  }

  async repointLead(tenantId: string, fromLeadId: string, toLeadId: string): Promise<void> {
    for (const table of ["identity_links", "visitors", "events", "sessions"]) {
      await run(this.sql`UPDATE ${this.sql(table)} SET lead_id = ${toLeadId} WHERE tenant_id = ${tenantId} AND lead_id = ${fromLeadId}`);
    }
  }

  async link(c: { tenantId: string; visitorId: string; leadId: string; previousLeadId: string | null; messageId: string; at: number }): Promise<void> {
    const at = new Date(c.at);
    if (c.previousLeadId !== null)
      await run(
        this.sql`UPDATE identity_links SET unlinked_at = ${at} WHERE tenant_id = ${c.tenantId} AND visitor_id = ${c.visitorId} AND unlinked_at IS NULL`,
      );
    await run(
      this
        .sql`INSERT INTO identity_links (tenant_id, visitor_id, lead_id, message_id, linked_at) VALUES (${c.tenantId}, ${c.visitorId}, ${c.leadId}, ${c.messageId}, ${at})`,
    );
    await run(this.sql`UPDATE visitors SET lead_id = ${c.leadId} WHERE tenant_id = ${c.tenantId} AND id = ${c.visitorId}`);
    await run(this.sql`UPDATE sessions SET lead_id = ${c.leadId} WHERE tenant_id = ${c.tenantId} AND visitor_id = ${c.visitorId} AND lead_id IS NULL`);
  }
}

const LEAD_COLUMNS = "id, user_id, email, traits, trait_times, group_id, created_at, merged_into";

interface LeadRecord {
  id: string;
  user_id: string | null;
  email: string | null;
  traits: Record<string, unknown>;
  trait_times: Record<string, number>;
  group_id: string | null;
  created_at: Date;
  merged_into: string | null;
}

function leadRow(r: LeadRecord): LeadRow {
  return {
    id: r.id,
    userId: r.user_id,
    email: r.email,
    traits: r.traits,
    traitTimes: r.trait_times,
    groupId: r.group_id,
    createdAt: r.created_at.getTime(),
    mergedInto: r.merged_into,
  };
}

interface VisitorRecord {
  tenant_id: string;
  key: string;
  visitor_id: string;
  lead_id: string | null;
  first_seen_at: Date;
  last_seen_at: Date;
  user_id: string | null;
}

interface SessionRecord {
  visitor_id: string;
  id: string;
  started_at: Date;
  last_event_at: Date;
  event_count: number;
  anonymous_events: number;
}

function sessionRow(r: SessionRecord): SessionRow {
  return {
    id: r.id,
    startedAt: r.started_at.getTime(),
    lastEventAt: r.last_event_at.getTime(),
    eventCount: r.event_count,
    anonymousEvents: r.anonymous_events,
    countedThrough: 0,
  };
}

/**
 * One INSERT of a commit's events, column by column: the statement's text is the same whatever the
 * number of rows, so PostgreSQL plans it once per connection (a multi-row VALUES list would be a
 * new statement, parsed and planned, for every count). Plain columns go as arrays (unnest); each
 * JSON column as one JSON array (one native JSON.stringify), split by jsonb_array_elements: as a
 * text[] array, the client quoted and escaped every element of it, a third of a row's encoding
 * cost, for the same work in PostgreSQL. ROWS FROM pairs the lists up by position.
 */
function insertEvents(sql: ReservedSQL, rows: EventRow[]) {
  const col = <T>(pick: (row: EventRow) => T) => rows.map(pick);
  const json = (pick: (row: EventRow) => unknown) => jsonbText(rows.map((row) => pick(row) ?? null));
  const at = (value: number | undefined) => (value === undefined ? null : iso(value));
  // A JSON null in a list is jsonb 'null': stored as SQL NULL, as an absent value always was.
  return sql`INSERT INTO events (tenant_id, message_id, type, event, anonymous_id, user_id, visitor_id, session_id, lead_id, timestamp,
      original_timestamp, sent_at, received_at, properties, traits, context, integrations, extra, schema_version)
    SELECT t, m, ty, e, a, u, v, s, l, ts, ot, sa, ra, nullif(p, 'null'), nullif(tr, 'null'), nullif(c, 'null'), nullif(i, 'null'), nullif(x, 'null'), sv
    FROM ROWS FROM (
      unnest(${col((r) => r.tenantId)}::text[], ${col((r) => r.event.messageId)}::text[], ${col((r) => r.event.type)}::text[], ${col((r) => r.event.event ?? null)}::text[],
        ${col((r) => r.event.anonymousId ?? null)}::text[], ${col((r) => r.event.userId ?? null)}::text[], ${col((r) => r.visitorId)}::text[],
        ${col((r) => r.sessionId)}::text[], ${col((r) => r.leadId)}::text[], ${col((r) => iso(r.event.timestamp))}::timestamptz[],
        ${col((r) => at(r.event.originalTimestamp))}::timestamptz[], ${col((r) => at(r.event.sentAt))}::timestamptz[], ${col((r) => iso(r.event.receivedAt))}::timestamptz[],
        ${col((r) => r.schemaVersion)}::text[]),
      jsonb_array_elements(${json((r) => r.event.properties)}::text::jsonb), jsonb_array_elements(${json((r) => r.event.traits)}::text::jsonb),
      jsonb_array_elements(${json((r) => r.event.context)}::text::jsonb), jsonb_array_elements(${json((r) => r.event.integrations)}::text::jsonb),
      jsonb_array_elements(${json((r) => r.event.extra)}::text::jsonb))
      AS u(t, m, ty, e, a, u, v, s, l, ts, ot, sa, ra, sv, p, tr, c, i, x)`;
}

/**
 * Takes the transaction-scoped advisory locks of these keys, in one statement and in numeric
 * order, as every instance does: ingestion's commits, and the erasure of a person
 * (src/db/postgres/privacy.ts), which locks the person's visitors, userIds and emails the same way.
 */
export function lockAll(sql: SQL, keys: LockKey[]) {
  const sorted = [...new Set(keys.map(lockId))].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)).map(String);
  // In the array's order: every instance takes locks in the same (numeric) order.
  return sql`SELECT count(pg_advisory_xact_lock(k)) FROM unnest(${sorted}::int8[]) WITH ORDINALITY AS t(k, n)`;
}

/** A lock's 64-bit key: the tenant, the kind and the value, hashed (a collision only makes two commits wait for each other). */
function lockId(key: LockKey): bigint {
  return BigInt.asIntN(64, BigInt(Bun.hash(`${key.tenantId}\n${key.kind}\n${key.value}`)));
}

/** Awaits a statement, failing with the pipeline's storage errors. */
async function run<T = unknown>(statement: PromiseLike<unknown>): Promise<T> {
  try {
    return (await statement) as T;
  } catch (error) {
    throw storageError(error);
  }
}
