/**
 * Erasure, suppressions and the privacy audit on PostgreSQL (the contract: ../privacy-store.ts).
 *
 * Every step is one short transaction that first takes the advisory locks ingestion takes
 * (src/db/postgres/ingest.ts `lockAll`) for the person's visitors, userIds and emails: a commit
 * of any instance for that person waits for the step, and the step for the commit, so the person
 * is never half recreated. Events are read in id ranges within the tenant (the primary key), so a
 * step touches a bounded number of rows and ingestion of other people goes on meanwhile.
 */
import type { SQL } from "bun";
import type { LockKey } from "../../pipeline/ports";
import type { NotifyHandle } from "../change-feed";
import type {
  DeletionRecord,
  ErasedRest,
  ErasureStore,
  Person,
  PersonSubject,
  RetentionStore,
  SuppressionRecord,
  SuppressionSnapshot,
  SuppressionSource,
  Swept,
} from "../privacy-store";
import { lockAll } from "./ingest";
import { MAX_MERGE_HOPS } from "../../pipeline/identity-rules";

/** How many merged_into hops are followed to the lead that stands for the person now. */

const list = (values: Iterable<string>): string[] => [...values];

export class PostgresPrivacyStore implements ErasureStore, SuppressionSource {
  constructor(private readonly sql: SQL) {}

  async salt(tenantId: string, made: string): Promise<string | undefined> {
    const [known] = await this.sql<{ salt: string | null }[]>`SELECT privacy_salt AS salt FROM tenants WHERE id = ${tenantId}`;
    if (!known || known.salt !== null) return known?.salt ?? undefined;
    const [row] = await this.sql<
      { salt: string }[]
    >`UPDATE tenants SET privacy_salt = coalesce(privacy_salt, ${made}) WHERE id = ${tenantId} RETURNING privacy_salt AS salt`;
    return row?.salt;
  }

  async keyPrefix(keyId: string): Promise<string | null> {
    const [row] = await this.sql<{ prefix: string }[]>`SELECT prefix FROM api_keys WHERE id = ${keyId}`;
    return row?.prefix ?? null;
  }

  resolve(tenantId: string, subject: PersonSubject, into?: Person): Promise<Person & { grew: boolean }> {
    return resolvePerson(this.sql, tenantId, subject, into);
  }

  async lastEventId(): Promise<number> {
    const [row] = await this.sql<{ id: string | number }[]>`SELECT coalesce(max(id), 0) AS id FROM events`;
    return Number(row!.id);
  }

  eraseEvents(tenantId: string, person: Person, after: number, upTo: number): Promise<number> {
    return this.sql.begin(async (tx) => {
      await lockAll(tx, personLocks(tenantId, person));
      return deleteEvents(tx, tenantId, person, after, upTo);
    });
  }

  eraseRest(tenantId: string, subject: PersonSubject, person: Person, after: number, final: boolean): Promise<ErasedRest | null> {
    return this.sql.begin(async (tx) => {
      await lockAll(tx, personLocks(tenantId, person));
      const again = await resolvePerson(tx, tenantId, subject, person);
      if (again.grew && !final) return null;
      // Whatever joined the person in this last step is locked too (in one more sorted statement).
      if (again.grew) await lockAll(tx, personLocks(tenantId, person));
      const events = await deleteEvents(tx, tenantId, person, after, Number.MAX_SAFE_INTEGER);
      const leads = list(person.leads);
      // A visitor or session another person has now (a shared device) is theirs: kept.
      const sessions = await tx`DELETE FROM sessions WHERE tenant_id = ${tenantId} AND id = ANY(${list(person.sessions)}::text[])
        AND (lead_id IS NULL OR lead_id = ANY(${leads}::text[]))`;
      const gone = await tx<{ id: string }[]>`DELETE FROM visitors WHERE tenant_id = ${tenantId} AND id = ANY(${list(person.visitors)}::text[])
        AND (lead_id IS NULL OR lead_id = ANY(${leads}::text[])) RETURNING id`;
      await tx`DELETE FROM identity_links WHERE tenant_id = ${tenantId} AND (visitor_id = ANY(${gone.map((v) => v.id)}::text[]) OR lead_id = ANY(${leads}::text[]))`;
      await tx`DELETE FROM lead_merges WHERE tenant_id = ${tenantId} AND (from_lead_id = ANY(${leads}::text[]) OR into_lead_id = ANY(${leads}::text[]))`;
      const goneLeads = await tx`DELETE FROM leads WHERE tenant_id = ${tenantId} AND id = ANY(${leads}::text[])`;
      return { events, sessions: sessions.count, visitors: gone.length, leads: goneLeads.count };
    });
  }

  async insertDeletion(r: DeletionRecord): Promise<void> {
    await this.sql`INSERT INTO privacy_deletions (tenant_id, id, subject_hash, subject_kinds, key_id, key_prefix, suppression_id,
        events, sessions, visitors, leads, wal_truncated, requested_at, finished_at)
      VALUES (${r.tenantId}, ${r.id}, ${r.subjectHash}, ${r.subjectKinds}, ${r.keyId}, ${r.keyPrefix}, ${r.suppressionId},
        ${r.events}, ${r.sessions}, ${r.visitors}, ${r.leads}, ${r.walTruncated}, ${new Date(r.requestedAt)}, ${new Date(r.finishedAt)})`;
  }

  async deletion(tenantId: string, id: string): Promise<DeletionRecord | null> {
    const [row] = await this.sql<DeletionRow[]>`SELECT * FROM privacy_deletions WHERE tenant_id = ${tenantId} AND id = ${id}`;
    return row ? deletionRecord(row) : null;
  }

  async deletions(tenantId: string): Promise<DeletionRecord[]> {
    const rows = await this.sql<DeletionRow[]>`SELECT * FROM privacy_deletions WHERE tenant_id = ${tenantId} ORDER BY requested_at DESC, id DESC`;
    return rows.map(deletionRecord);
  }

  async suppressions(tenantId: string): Promise<SuppressionRecord[]> {
    const rows = await this.sql<SuppressionRow[]>`SELECT * FROM privacy_suppressions WHERE tenant_id = ${tenantId} ORDER BY created_at DESC, id DESC`;
    return rows.map(suppressionRecord);
  }

  saveSuppression(record: SuppressionRecord, announce: (via: NotifyHandle, id: string) => Promise<void>): Promise<SuppressionRecord> {
    return this.sql.begin(async (tx) => {
      // One suppression per subject, even when two instances suppress it at once.
      await tx`SELECT pg_advisory_xact_lock(hashtextextended(${`suppression\n${record.tenantId}\n${record.subjectHash}`}, 0))`;
      const [existing] = await tx<
        SuppressionRow[]
      >`SELECT * FROM privacy_suppressions WHERE tenant_id = ${record.tenantId} AND subject_hash = ${record.subjectHash}
        ORDER BY created_at LIMIT 1`;
      let saved: SuppressionRecord;
      if (existing) {
        const known = suppressionRecord(existing);
        saved = { ...known, identifiers: [...new Set([...known.identifiers, ...record.identifiers])] };
        await tx`UPDATE privacy_suppressions SET identifiers = ${saved.identifiers} WHERE tenant_id = ${saved.tenantId} AND id = ${saved.id}`;
      } else {
        saved = record;
        await tx`INSERT INTO privacy_suppressions (tenant_id, id, subject_hash, subject_kinds, identifiers, key_id, key_prefix, created_at)
          VALUES (${record.tenantId}, ${record.id}, ${record.subjectHash}, ${record.subjectKinds}, ${record.identifiers}, ${record.keyId}, ${record.keyPrefix},
            ${new Date(record.createdAt)})`;
      }
      await announce(tx, saved.id);
      return saved;
    });
  }

  removeSuppression(tenantId: string, id: string, announce: (via: NotifyHandle) => Promise<void>): Promise<boolean> {
    return this.sql.begin(async (tx) => {
      const { count } = await tx`DELETE FROM privacy_suppressions WHERE tenant_id = ${tenantId} AND id = ${id}`;
      if (count > 0) await announce(tx);
      return count > 0;
    });
  }

  async settingsOf(tenantId: string): Promise<string | null> {
    const [row] = await this.sql<{ settings: unknown }[]>`SELECT settings FROM tenants WHERE id = ${tenantId}`;
    return row ? JSON.stringify(row.settings ?? {}) : null;
  }

  async eventIps(tenantId: string, after: number, upTo: number): Promise<{ id: number; ip: unknown }[]> {
    const rows = await this.sql<{ id: string | number; ip: unknown }[]>`SELECT id, context -> 'ip' AS ip FROM events
      WHERE tenant_id = ${tenantId} AND id > ${after} AND id <= ${upTo} AND context ? 'ip'`;
    return rows.map((row) => ({ id: Number(row.id), ip: row.ip }));
  }

  async setEventIps(tenantId: string, changes: { id: number; ip: string | undefined }[]): Promise<void> {
    const set = changes.filter((c) => c.ip !== undefined);
    const drop = changes.filter((c) => c.ip === undefined).map((c) => c.id);
    await this.sql.begin(async (tx) => {
      if (set.length > 0)
        await tx`UPDATE events e SET context = jsonb_set(e.context, '{ip}', to_jsonb(u.ip)) FROM unnest(${set.map((c) => c.id)}::int8[], ${set.map((c) => c.ip)}::text[]) AS u(id, ip)
          WHERE e.tenant_id = ${tenantId} AND e.id = u.id`;
      if (drop.length > 0) await tx`UPDATE events SET context = context - 'ip' WHERE tenant_id = ${tenantId} AND id = ANY(${drop}::int8[])`;
    });
  }

  async load(): Promise<SuppressionSnapshot> {
    const [salts, rows] = await Promise.all([
      this.sql<{ id: string; salt: string }[]>`SELECT id, privacy_salt AS salt FROM tenants WHERE privacy_salt IS NOT NULL`,
      this.sql<{ id: string; tenant_id: string; identifiers: string[] }[]>`SELECT id, tenant_id, identifiers FROM privacy_suppressions`,
    ]);
    return {
      salts: new Map(salts.map((row) => [row.id, row.salt])),
      rows: rows.map((row) => ({ id: row.id, tenantId: row.tenant_id, identifiers: row.identifiers })),
    };
  }
}

/** The session-level lock only one instance's retention run holds at a time. */
const RETENTION_LOCK = "inlet retention";

export class PostgresRetentionStore implements RetentionStore {
  constructor(private readonly sql: SQL) {}

  async tenantSettings(): Promise<{ id: string; settings: string }[]> {
    const rows = await this.sql<{ id: string; settings: unknown }[]>`SELECT id, settings FROM tenants ORDER BY created_at, id`;
    return rows.map((row) => ({ id: row.id, settings: JSON.stringify(row.settings ?? {}) }));
  }

  async alone<T>(work: () => Promise<T>): Promise<T | null> {
    const connection = await this.sql.reserve();
    try {
      const [row] = await connection<{ ok: boolean }[]>`SELECT pg_try_advisory_lock(hashtextextended(${RETENTION_LOCK}, 0)) AS ok`;
      if (!row?.ok) return null;
      try {
        return await work();
      } finally {
        await connection`SELECT pg_advisory_unlock(hashtextextended(${RETENTION_LOCK}, 0))`;
      }
    } finally {
      connection.release();
    }
  }

  async oldEvents(tenantId: string, before: number, limit: number): Promise<Swept> {
    // Oldest first, through events_tenant_timestamp. Events are only ever added: no lock needed.
    const { count } = await this.sql`DELETE FROM events WHERE tenant_id = ${tenantId} AND id IN (
      SELECT id FROM events WHERE tenant_id = ${tenantId} AND timestamp < ${new Date(before)} ORDER BY timestamp LIMIT ${limit})`;
    return { matched: count, deleted: count };
  }

  endedSessions(tenantId: string, before: number, limit: number): Promise<Swept> {
    const at = new Date(before);
    return this.sql.begin(async (tx) => {
      const found = await tx<{ id: string; key: string | null }[]>`SELECT s.id, v.key FROM sessions s
        LEFT JOIN visitors v ON v.tenant_id = s.tenant_id AND v.id = s.visitor_id
        WHERE s.tenant_id = ${tenantId} AND s.last_event_at < ${at} LIMIT ${limit}`;
      if (found.length === 0) return { matched: 0, deleted: 0 };
      await lockAll(tx, visitorLocks(tenantId, found));
      // Checked again under the locks: an event may have extended the session meanwhile.
      const { count } = await tx`DELETE FROM sessions WHERE tenant_id = ${tenantId} AND id = ANY(${found.map((r) => r.id)}::text[]) AND last_event_at < ${at}`;
      return { matched: found.length, deleted: count };
    });
  }

  idleVisitors(tenantId: string, before: number, limit: number): Promise<Swept> {
    const at = new Date(before);
    return this.sql.begin(async (tx) => {
      const found = await tx<{ id: string; key: string }[]>`SELECT id, key FROM visitors WHERE tenant_id = ${tenantId} AND last_seen_at < ${at} LIMIT ${limit}`;
      if (found.length === 0) return { matched: 0, deleted: 0 };
      await lockAll(tx, visitorLocks(tenantId, found));
      const gone = await tx<{ id: string }[]>`DELETE FROM visitors WHERE tenant_id = ${tenantId} AND id = ANY(${found.map((r) => r.id)}::text[])
        AND last_seen_at < ${at} RETURNING id`;
      await tx`DELETE FROM identity_links WHERE tenant_id = ${tenantId} AND visitor_id = ANY(${gone.map((r) => r.id)}::text[])`;
      return { matched: found.length, deleted: gone.length };
    });
  }

  lonelyLeads(tenantId: string, before: number, limit: number): Promise<Swept> {
    const at = new Date(before);
    // A merged lead is alone once the lead it was merged into is gone.
    const alone = (sql: SQL) => sql`l.updated_at < ${at}
      AND (l.merged_into IS NULL OR NOT EXISTS (SELECT 1 FROM leads w WHERE w.tenant_id = l.tenant_id AND w.id = l.merged_into))
      AND NOT EXISTS (SELECT 1 FROM identity_links il WHERE il.tenant_id = l.tenant_id AND il.lead_id = l.id)
      AND NOT EXISTS (SELECT 1 FROM events e WHERE e.tenant_id = l.tenant_id AND e.lead_id = l.id)
      AND NOT EXISTS (SELECT 1 FROM sessions s WHERE s.tenant_id = l.tenant_id AND s.lead_id = l.id)`;
    return this.sql.begin(async (tx) => {
      const found = await tx<{ id: string; user_id: string | null; email: string | null }[]>`SELECT l.id, l.user_id, l.email FROM leads l
        WHERE l.tenant_id = ${tenantId} AND ${alone(tx)} LIMIT ${limit}`;
      if (found.length === 0) return { matched: 0, deleted: 0 };
      const keys: LockKey[] = [];
      for (const lead of found) {
        if (lead.user_id !== null) keys.push({ tenantId, kind: "user", value: lead.user_id });
        if (lead.email !== null) keys.push({ tenantId, kind: "email", value: lead.email });
      }
      await lockAll(tx, keys);
      const gone = await tx<{ id: string }[]>`DELETE FROM leads l WHERE l.tenant_id = ${tenantId} AND l.id = ANY(${found.map((r) => r.id)}::text[])
        AND ${alone(tx)} RETURNING l.id`;
      const ids = gone.map((r) => r.id);
      await tx`DELETE FROM lead_merges WHERE tenant_id = ${tenantId} AND (from_lead_id = ANY(${ids}::text[]) OR into_lead_id = ANY(${ids}::text[]))`;
      return { matched: found.length, deleted: gone.length };
    });
  }
}

function visitorLocks(tenantId: string, rows: { key: string | null }[]): LockKey[] {
  return rows.flatMap((row) => (row.key === null ? [] : [{ tenantId, kind: "visitor" as const, value: row.key }]));
}

/** What ingestion locks for this person: each visitor key, userId and email. */
function personLocks(tenantId: string, person: Person): LockKey[] {
  const keys: LockKey[] = [];
  for (const value of person.visitorKeys) keys.push({ tenantId, kind: "visitor", value });
  for (const value of person.anonymousIds) keys.push({ tenantId, kind: "visitor", value });
  for (const value of person.userIds) keys.push({ tenantId, kind: "user", value }, { tenantId, kind: "visitor", value: `user:${value}` });
  for (const value of person.emails) keys.push({ tenantId, kind: "email", value });
  return keys;
}

/**
 * The person's events in an id range: stored with one of the leads or userIds, or anonymous in one
 * of the sessions. An event found by its userId alone names a visitor and session of the person too.
 */
async function deleteEvents(sql: SQL, tenantId: string, person: Person, after: number, upTo: number): Promise<number> {
  const rows = await sql<{ visitor_id: string; session_id: string }[]>`DELETE FROM events WHERE tenant_id = ${tenantId} AND id > ${after} AND id <= ${upTo}
    AND (lead_id = ANY(${list(person.leads)}::text[]) OR user_id = ANY(${list(person.userIds)}::text[])
      OR (lead_id IS NULL AND session_id = ANY(${list(person.sessions)}::text[])))
    RETURNING visitor_id, session_id`;
  for (const row of rows) {
    person.visitors.add(row.visitor_id);
    person.sessions.add(row.session_id);
  }
  return rows.length;
}

/** As the SQLite store resolves a person (src/modules/privacy/service.ts), on PostgreSQL. */
async function resolvePerson(sql: SQL, tenantId: string, subject: PersonSubject, into?: Person): Promise<Person & { grew: boolean }> {
  const person: Person = into ?? {
    leads: new Set(),
    visitors: new Set(),
    visitorKeys: new Set(),
    sessions: new Set(),
    userIds: new Set(),
    emails: new Set(),
    anonymousIds: new Set(),
  };
  const size = () => person.leads.size + person.visitors.size + person.sessions.size + person.userIds.size;
  const before = size();
  const seeds = new Set<string>();
  const leadOf = async (id: string | null | undefined) => {
    // Follow merged_into to the lead that stands for the person now.
    for (let hops = 0; id && hops < MAX_MERGE_HOPS; hops++) {
      const [row] = await sql<
        { id: string; target: string | null }[]
      >`SELECT id, merged_into AS target FROM leads WHERE tenant_id = ${tenantId} AND id = ${id}`;
      if (!row) return;
      if (!row.target) return void seeds.add(row.id);
      id = row.target;
    }
  };
  if (subject.userId) {
    person.userIds.add(subject.userId);
    const [lead] = await sql<{ id: string }[]>`SELECT id FROM leads WHERE tenant_id = ${tenantId} AND user_id = ${subject.userId}`;
    await leadOf(lead?.id);
  }
  if (subject.email) {
    person.emails.add(subject.email);
    for (const row of await sql<{ id: string }[]>`SELECT id FROM leads WHERE tenant_id = ${tenantId} AND email = ${subject.email}`) await leadOf(row.id);
  }
  const visitorKeys = new Set<string>();
  if (subject.anonymousId) {
    person.anonymousIds.add(subject.anonymousId);
    const [visitor] = await sql<{ lead_id: string | null }[]>`SELECT lead_id FROM visitors WHERE tenant_id = ${tenantId} AND key = ${subject.anonymousId}`;
    if (visitor) {
      visitorKeys.add(subject.anonymousId);
      await leadOf(visitor.lead_id);
    }
  }
  // The live leads and every lead merged into them, at any depth.
  const family = await sql<{ id: string; user_id: string | null; email: string | null }[]>`WITH RECURSIVE family(id) AS (
      SELECT unnest(${[...seeds, ...person.leads]}::text[])
      UNION SELECT m.from_lead_id FROM lead_merges m JOIN family f ON m.into_lead_id = f.id WHERE m.tenant_id = ${tenantId})
    SELECT l.id, l.user_id, l.email FROM leads l JOIN family f ON l.id = f.id WHERE l.tenant_id = ${tenantId}`;
  for (const lead of family) {
    person.leads.add(lead.id);
    if (lead.user_id !== null) person.userIds.add(lead.user_id);
    if (lead.email !== null) person.emails.add(lead.email);
  }
  const leads = list(person.leads);
  for (const userId of person.userIds) visitorKeys.add(`user:${userId}`);
  // Visitors now linked to one of the leads (a visitor re-linked to someone else is theirs now),
  // and those the subject or the person's userIds name.
  const visitors = await sql<{ id: string; key: string; anonymous_id: string | null }[]>`
    SELECT v.id, v.key, v.anonymous_id FROM identity_links il JOIN visitors v ON v.tenant_id = il.tenant_id AND v.id = il.visitor_id
      WHERE il.tenant_id = ${tenantId} AND il.lead_id = ANY(${leads}::text[]) AND v.lead_id = ANY(${leads}::text[])
    UNION
    SELECT id, key, anonymous_id FROM visitors WHERE tenant_id = ${tenantId} AND key = ANY(${list(visitorKeys)}::text[])
      AND (lead_id IS NULL OR lead_id = ANY(${leads}::text[]))`;
  for (const visitor of visitors) {
    person.visitors.add(visitor.id);
    person.visitorKeys.add(visitor.key);
    if (visitor.anonymous_id !== null) person.anonymousIds.add(visitor.anonymous_id);
  }
  // Their sessions: the leads' (anonymous history included), and the visitors' own that are nobody else's.
  const sessions = await sql<{ id: string }[]>`
    SELECT id FROM sessions WHERE tenant_id = ${tenantId} AND lead_id = ANY(${leads}::text[])
    UNION
    SELECT id FROM sessions WHERE tenant_id = ${tenantId} AND visitor_id = ANY(${list(person.visitors)}::text[])
      AND (lead_id IS NULL OR lead_id = ANY(${leads}::text[]))`;
  for (const session of sessions) person.sessions.add(session.id);
  return Object.assign(person, { grew: into !== undefined && size() > before });
}

interface DeletionRow {
  id: string;
  tenant_id: string;
  subject_hash: string;
  subject_kinds: string;
  key_id: string | null;
  key_prefix: string | null;
  suppression_id: string | null;
  events: number;
  sessions: number;
  visitors: number;
  leads: number;
  wal_truncated: boolean;
  requested_at: Date;
  finished_at: Date;
}

function deletionRecord(r: DeletionRow): DeletionRecord {
  return {
    id: r.id,
    tenantId: r.tenant_id,
    subjectHash: r.subject_hash,
    subjectKinds: r.subject_kinds,
    keyId: r.key_id,
    keyPrefix: r.key_prefix,
    suppressionId: r.suppression_id,
    events: r.events,
    sessions: r.sessions,
    visitors: r.visitors,
    leads: r.leads,
    walTruncated: r.wal_truncated,
    requestedAt: r.requested_at.getTime(),
    finishedAt: r.finished_at.getTime(),
  };
}

interface SuppressionRow {
  id: string;
  tenant_id: string;
  subject_hash: string;
  subject_kinds: string;
  identifiers: string[];
  key_id: string | null;
  key_prefix: string | null;
  created_at: Date;
}

function suppressionRecord(r: SuppressionRow): SuppressionRecord {
  return {
    id: r.id,
    tenantId: r.tenant_id,
    subjectHash: r.subject_hash,
    subjectKinds: r.subject_kinds,
    identifiers: r.identifiers,
    keyId: r.key_id,
    keyPrefix: r.key_prefix,
    createdAt: r.created_at.getTime(),
  };
}
