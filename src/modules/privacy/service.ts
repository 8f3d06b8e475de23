/**
 * Erasing a person, suppressing one, and the audit of both (docs/privacy.md).
 *
 * A person is who identity resolution (src/db/sqlite/identity.ts) sees: the lead named by the
 * subject (followed to the lead it was merged into), every lead merged into that one, the
 * visitors now linked to any of them (and the visitor the anonymousId or `user:<userId>` names),
 * and their sessions. Their events are the events stored with one of those leads or userIds, and
 * the anonymous events of those sessions.
 *
 * Events have no index by visitor or session (each would cost a random page write per event), so
 * the person's events are found by reading the events table in rowid ranges between requests,
 * and deleted in writer jobs that stop once their time is up (STEP_MS, the steps of the read
 * likewise): ingestion commits between them and waits a few milliseconds at most. The last job
 * resolves the person again (a new visitor may have been linked meanwhile: then the table is read
 * again), deletes what arrived since the scan passed, then the sessions, visitors, identity links,
 * merges and leads, and drops them from the caches, all in one transaction. Then the WAL is
 * checkpointed and truncated, and with `secure_delete` the freed space holds zeros: the person's
 * bytes are gone from the database files.
 */
import { and, desc, eq, isNull } from "drizzle-orm";
import { anonymizeIp } from "../../enrich/privacy";
import { apiKeys, privacyDeletions, privacySuppressions, tenants } from "../../db/schema";
import { logger } from "../../logger";
import { normalizeEmail } from "../../lib/email";
import { parseSettings } from "../tenants/settings";
import { deleteMergesOf, forAWhile, jsonList, nextTurn, STEP_MS, StepRows, type PrivacyStore } from "./store";
import { identifierHash, storedSalt, type IdentifierKind, type SuppressionList } from "./suppressions";
import { MAX_MERGE_HOPS } from "../../pipeline/identity-rules";

export interface Subject {
  userId?: string;
  email?: string;
  anonymousId?: string;
}

/** Who asked: an admin key (id and prefix), or the command line (null). */
export type Requester = { keyId: string; keyPrefix: string | null } | null;

export interface Counts {
  events: number;
  sessions: number;
  visitors: number;
  leads: number;
}

export interface DeletionReceipt {
  deletionId: string;
  tenantId: string;
  status: "completed";
  deleted: Counts;
  /** True when nothing of the person was left to delete (e.g. a repeated request). */
  nothingLeft: boolean;
  suppressionId: string | null;
  /** Whether the WAL was checkpointed and truncated (false: a reader held it; the next checkpoint does it). */
  walTruncated: boolean;
  requestedAt: string;
  finishedAt: string;
  requestedBy: { keyId: string | null; keyPrefix: string | null };
}

export interface SuppressionView {
  suppressionId: string;
  tenantId: string;
  /** The salted hash of the subject that was suppressed (the subject itself is not kept). */
  subjectHash: string;
  subjectKinds: string;
  identifiers: number;
  createdAt: string;
  requestedBy: { keyId: string | null; keyPrefix: string | null };
}

/** A person as identity resolution sees it; the sets only grow while a deletion runs. */
interface Person {
  leads: Set<string>;
  visitors: Set<string>;
  sessions: Set<string>;
  userIds: Set<string>;
  emails: Set<string>;
  anonymousIds: Set<string>;
}

export interface PrivacyOptions {
  /** The most events rows read per step of the scan (between two steps the server answers requests). */
  scanRows?: number;
  /** How long a step may take: a read between requests, or a writer job (STEP_MS). */
  stepMs?: number;
  /** Called with what a deletion removed (metrics). */
  onErased?: (tenantId: string, counts: Counts) => void;
}

export const iso = (ms: number) => new Date(ms).toISOString();
export const SUBJECT_KINDS: IdentifierKind[] = ["userId", "email", "anonymousId"];
/** At most this many rows of the events table are left for the erasure's last job to read (in the writer). */
const TAIL_ROWS = 500;
/** Times the events table is read again because the person grew during its deletion. */
const MAX_ROUNDS = 3;
/**
 * Events deleted per statement. One statement per row costs about three times as much in all;
 * but a job checks its time only between statements, and with cold pages (each row zeroed in
 * four indexes by secure_delete) 32 rows once took over 20 ms under load: 8 keep a job near its time.
 */
const DELETE_BATCH = 8;

export class PrivacyService {
  private readonly scanRows: number;
  private readonly stepMs: number;
  /** Deletions run one after another. */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly store: PrivacyStore,
    private readonly suppressions: SuppressionList | null,
    private readonly options: PrivacyOptions = {},
  ) {
    this.scanRows = options.scanRows ?? 20_000;
    this.stepMs = options.stepMs ?? store.stepMs ?? STEP_MS;
  }

  /** Erases the person (and suppresses it first when asked); answers the receipt. */
  delete(tenantId: string, subject: Subject, options: { suppress?: boolean; by: Requester }): Promise<DeletionReceipt> {
    const run = this.queue.then(() => this.deleteNow(tenantId, cleanSubject(subject), options));
    this.queue = run.catch(() => {});
    return run;
  }

  private async deleteNow(tenantId: string, subject: Subject, options: { suppress?: boolean; by: Requester }): Promise<DeletionReceipt> {
    const requestedAt = Date.now();
    const salt = await this.salt(tenantId);
    const person = this.resolve(tenantId, subject);
    // Suppressed before anything is deleted: what the person sends meanwhile is not stored.
    const suppressionId = options.suppress ? await this.suppressPerson(tenantId, subject, person, salt, options.by) : null;
    const deleted: Counts = { events: 0, sessions: 0, visitors: 0, leads: 0 };
    const { sqlite } = this.store;
    // The person's events in a rowid range. The unary + keeps SQLite on the rowid range, off the
    // tenant's indexes (which span all its events).
    const scan = sqlite.query<{ id: number; visitorId: string; sessionId: string }, [number, number, string, string, string, string]>(
      `SELECT id, visitor_id AS visitorId, session_id AS sessionId FROM events WHERE id > ?1 AND id <= ?2 AND +tenant_id = ?3 AND (
         +lead_id IN (SELECT value FROM json_each(?4)) OR user_id IN (SELECT value FROM json_each(?5))
         OR (+lead_id IS NULL AND session_id IN (SELECT value FROM json_each(?6))))`,
    );
    // An event found by its userId alone (no lead: e.g. track calls that were never identified)
    // names a visitor and session of the person too.
    const collect = (rows: { id: number; visitorId: string; sessionId: string }[], into: number[]) => {
      for (const row of rows) {
        into.push(row.id);
        person.visitors.add(row.visitorId);
        person.sessions.add(row.sessionId);
      }
    };
    const removeEvents = sqlite.query<never, [string]>("DELETE FROM events WHERE id IN (SELECT value FROM json_each(?))");
    const step = new StepRows(500, this.scanRows, this.stepMs);
    for (let round = 0; ; round++) {
      // Read the table in rowid ranges up to its end, deleting what each range holds.
      let cursor = 0;
      const found: number[] = [];
      const flush = async () => {
        while (found.length > 0) {
          const [done, changes] = await this.store.write(() => {
            let changes = 0;
            const done = forAWhile(
              found,
              this.stepMs,
              (ids) => {
                changes += removeEvents.run(JSON.stringify(ids)).changes;
              },
              DELETE_BATCH,
            );
            return [done, changes] as const;
          });
          found.splice(0, done);
          deleted.events += changes;
        }
      };
      const lists = () => [jsonList(person.leads), jsonList(person.userIds), jsonList(person.sessions)] as const;
      let [leadList, userList, sessionList] = lists();
      for (;;) {
        const last = (sqlite.query("SELECT max(id) AS id FROM events").get() as { id: number | null }).id ?? 0;
        // The last few rows are read by the last job, inside the writer: few enough to keep it short
        // (a step's size, up to scanRows, once held it 46 ms).
        if (last - cursor <= Math.min(step.value, TAIL_ROWS)) break;
        while (cursor < last) {
          cursor = step.time((rows) => {
            const upper = Math.min(cursor + rows, last);
            collect(scan.all(cursor, upper, tenantId, leadList, userList, sessionList), found);
            return upper;
          });
          await flush();
          await nextTurn();
        }
      }
      await flush();
      // The last job: what arrived since the scan passed, then the person's other rows.
      const outcome = await this.store.write(() => {
        const again = this.resolve(tenantId, subject, person);
        // (After a few rounds, what is known now is deleted: the person must not keep it going.)
        if (again.grew && round < MAX_ROUNDS) return { grew: true as const };
        [leadList, userList, sessionList] = lists();
        const tail: number[] = [];
        collect(scan.all(cursor, Number.MAX_SAFE_INTEGER, tenantId, leadList, userList, sessionList), tail);
        if (tail.length > 0) deleted.events += removeEvents.run(JSON.stringify(tail)).changes;
        [leadList, userList, sessionList] = lists();
        const visitorList = jsonList(person.visitors);
        // A visitor or session another person has now (a shared device) is theirs: kept.
        const goneSessions = sqlite
          .query(
            "DELETE FROM sessions WHERE id IN (SELECT value FROM json_each(?1)) AND (lead_id IS NULL OR lead_id IN (SELECT value FROM json_each(?2))) RETURNING id, visitor_id AS visitorId",
          )
          .all(sessionList, leadList) as { id: string; visitorId: string }[];
        deleted.sessions += goneSessions.length;
        const gone = sqlite
          .query(
            "DELETE FROM visitors WHERE id IN (SELECT value FROM json_each(?1)) AND (lead_id IS NULL OR lead_id IN (SELECT value FROM json_each(?2))) RETURNING id, key",
          )
          .all(visitorList, leadList) as { id: string; key: string }[];
        deleted.visitors += gone.length;
        // One statement per index (see deleteMergesOf).
        sqlite.run("DELETE FROM identity_links WHERE tenant_id = ? AND visitor_id IN (SELECT value FROM json_each(?))", [
          tenantId,
          jsonList(gone.map((v) => v.id)),
        ]);
        sqlite.run("DELETE FROM identity_links WHERE tenant_id = ? AND lead_id IN (SELECT value FROM json_each(?))", [tenantId, leadList]);
        deleteMergesOf(sqlite, tenantId, leadList);
        deleted.leads += sqlite.run("DELETE FROM leads WHERE id IN (SELECT value FROM json_each(?))", [leadList]).changes;
        this.store.forget(tenantId, { visitorKeys: gone.map((v) => v.key), sessions: new Map(goneSessions.map((r) => [r.id, r.visitorId])) });
        return { grew: false as const };
      });
      if (!outcome.grew) break;
      // A visitor or lead joined the person meanwhile: read the table again with the larger sets.
    }
    const walTruncated = await this.store.truncateWal();
    const finishedAt = Date.now();
    const deletionId = Bun.randomUUIDv7();
    await this.store.write(() =>
      this.store.db
        .insert(privacyDeletions)
        .values({
          id: deletionId,
          tenantId,
          subjectHash: subjectHash(salt, subject),
          subjectKinds: subjectKinds(subject),
          keyId: options.by?.keyId ?? null,
          keyPrefix: options.by?.keyPrefix ?? null,
          suppressionId,
          ...deleted,
          walTruncated,
          requestedAt,
          finishedAt,
        })
        .run(),
    );
    this.options.onErased?.(tenantId, deleted);
    logger.info("privacy deletion", { tenantId, deletionId, ...deleted, ms: finishedAt - requestedAt, walTruncated });
    return this.receipt(tenantId, deletionId)!;
  }

  /** The requester for an admin key id (its prefix read once here, for the audit). */
  requester(keyId: string): Requester {
    const row = this.store.db.select({ prefix: apiKeys.prefix }).from(apiKeys).where(eq(apiKeys.id, keyId)).get();
    return { keyId, keyPrefix: row?.prefix ?? null };
  }

  /** A deletion's receipt, read back (null: no such deletion in this tenant). */
  receipt(tenantId: string, deletionId: string): DeletionReceipt | null {
    const row = this.store.db
      .select()
      .from(privacyDeletions)
      .where(and(eq(privacyDeletions.tenantId, tenantId), eq(privacyDeletions.id, deletionId)))
      .get();
    return row ? toReceipt(row) : null;
  }

  /** The audit: every deletion of the tenant, newest first (hashes and counts, never subjects). */
  deletions(tenantId: string) {
    return this.store.db
      .select()
      .from(privacyDeletions)
      .where(eq(privacyDeletions.tenantId, tenantId))
      .orderBy(desc(privacyDeletions.requestedAt))
      .all()
      .map((row) => ({ ...toReceipt(row), subjectHash: row.subjectHash, subjectKinds: row.subjectKinds }));
  }

  /** Suppresses the person without deleting anything; answers the suppression. */
  async suppress(tenantId: string, subject: Subject, by: Requester): Promise<SuppressionView> {
    const clean = cleanSubject(subject);
    const salt = await this.salt(tenantId);
    const id = await this.suppressPerson(tenantId, clean, this.resolve(tenantId, clean), salt, by);
    return this.suppressionsOf(tenantId).find((s) => s.suppressionId === id)!;
  }

  suppressionsOf(tenantId: string): SuppressionView[] {
    return this.store.db
      .select()
      .from(privacySuppressions)
      .where(eq(privacySuppressions.tenantId, tenantId))
      .orderBy(desc(privacySuppressions.createdAt))
      .all()
      .map((row) => ({
        suppressionId: row.id,
        tenantId: row.tenantId,
        subjectHash: row.subjectHash,
        subjectKinds: row.subjectKinds,
        identifiers: (JSON.parse(row.identifiers) as string[]).length,
        createdAt: iso(row.createdAt),
        requestedBy: { keyId: row.keyId, keyPrefix: row.keyPrefix },
      }));
  }

  /** Lifts a suppression: the person's later events are stored again. False when there was none. */
  async lift(tenantId: string, suppressionId: string): Promise<boolean> {
    return this.store.write(() => {
      const { changes } = this.store.db
        .delete(privacySuppressions)
        .where(and(eq(privacySuppressions.tenantId, tenantId), eq(privacySuppressions.id, suppressionId)))
        .run() as unknown as { changes: number };
      if (changes > 0) this.suppressions?.remove(tenantId, suppressionId);
      return changes > 0;
    });
  }

  /**
   * Applies the tenant's IP policy (anonymize or drop) to the events already stored, in chunks.
   * Answers how many events were changed.
   */
  async applyIpPolicy(tenantId: string): Promise<{ policy: string; events: number }> {
    const row = this.store.db.select({ settings: tenants.settings }).from(tenants).where(eq(tenants.id, tenantId)).get();
    if (!row) throw new Error(`No tenant with id ${tenantId}.`);
    const policy = parseSettings(row.settings).ipPolicy;
    if (policy === "full") return { policy, events: 0 };
    const { sqlite } = this.store;
    const read = sqlite.query<{ id: number; ip: unknown }, [number, number, string]>(
      "SELECT id, json_extract(context, '$.ip') AS ip FROM events WHERE id > ? AND id <= ? AND +tenant_id = ? AND json_extract(context, '$.ip') IS NOT NULL",
    );
    const setIp = sqlite.query<never, [string, number]>("UPDATE events SET context = json_set(context, '$.ip', ?) WHERE id = ?");
    const dropIp = sqlite.query<never, [number]>("UPDATE events SET context = json_remove(context, '$.ip') WHERE id = ?");
    const last = (sqlite.query("SELECT max(id) AS id FROM events").get() as { id: number | null }).id ?? 0;
    let changed = 0;
    const step = new StepRows(500, this.scanRows, this.stepMs);
    for (let cursor = 0; cursor < last; ) {
      const rows = step.time((size) => {
        const upper = Math.min(cursor + size, last);
        const found = read.all(cursor, upper, tenantId);
        cursor = upper;
        return found;
      });
      const updates = ipChanges(policy, rows);
      while (updates.length > 0) {
        const done = await this.store.write(() =>
          forAWhile(updates, this.stepMs, ([{ id, ip }]) => {
            if (ip === undefined) dropIp.run(id);
            else setIp.run(ip, id);
          }),
        );
        updates.splice(0, done);
        changed += done;
      }
      await nextTurn();
    }
    await this.store.truncateWal();
    return { policy, events: changed };
  }

  /** Stores the person's identifiers (hashed) as one suppression and puts it in the cache. */
  private async suppressPerson(tenantId: string, subject: Subject, person: Person, salt: string, by: Requester): Promise<string> {
    const hashes = personHashes(salt, subject, person);
    const hash = subjectHash(salt, subject);
    return this.store.write(() => {
      const { db } = this.store;
      // The same subject suppressed again: one suppression, holding every identifier known.
      const existing = db
        .select()
        .from(privacySuppressions)
        .where(and(eq(privacySuppressions.tenantId, tenantId), eq(privacySuppressions.subjectHash, hash)))
        .get();
      const id = existing?.id ?? Bun.randomUUIDv7();
      if (existing) {
        for (const known of JSON.parse(existing.identifiers) as string[]) hashes.add(known);
        db.update(privacySuppressions)
          .set({ identifiers: JSON.stringify([...hashes]) })
          .where(eq(privacySuppressions.id, id))
          .run();
      } else {
        db.insert(privacySuppressions)
          .values({
            id,
            tenantId,
            subjectHash: hash,
            subjectKinds: subjectKinds(subject),
            identifiers: JSON.stringify([...hashes]),
            keyId: by?.keyId ?? null,
            keyPrefix: by?.keyPrefix ?? null,
            createdAt: Date.now(),
          })
          .run();
      }
      // In the same transaction: the events of the next jobs are already checked against it.
      this.suppressions?.add(tenantId, salt, id, [...hashes]);
      return id;
    });
  }

  /** The tenant's salt, made on first use. */
  private async salt(tenantId: string): Promise<string> {
    const known = storedSalt(this.store.db, tenantId);
    if (known === undefined) throw new NoSuchTenant(tenantId);
    if (known) return known;
    const made = Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString("hex");
    return this.store.write(() => {
      // Another deletion may have made one meanwhile: keep the first.
      this.store.db
        .update(tenants)
        .set({ privacySalt: made })
        .where(and(eq(tenants.id, tenantId), isNull(tenants.privacySalt)))
        .run();
      return storedSalt(this.store.db, tenantId)!;
    });
  }

  /**
   * The person the subject names, added to `into` when given; `grew` says whether that added
   * anything (read at the start of a deletion and again in its last job).
   */
  private resolve(tenantId: string, subject: Subject, into?: Person): Person & { grew: boolean } {
    const { sqlite } = this.store;
    const person: Person = into ?? {
      leads: new Set(),
      visitors: new Set(),
      sessions: new Set(),
      userIds: new Set(),
      emails: new Set(),
      anonymousIds: new Set(),
    };
    const size = () => person.leads.size + person.visitors.size + person.sessions.size + person.userIds.size;
    const before = size();
    const seeds = new Set<string>();
    const leadOf = (id: string | null | undefined) => {
      // Follow merged_into to the lead that stands for the person now.
      for (let hops = 0; id && hops < MAX_MERGE_HOPS; hops++) {
        const row = sqlite.query("SELECT id, merged_into AS target FROM leads WHERE id = ?").get(id) as { id: string; target: string | null } | null;
        if (!row) return;
        if (!row.target) return void seeds.add(row.id);
        id = row.target;
      }
    };
    if (subject.userId) {
      person.userIds.add(subject.userId);
      leadOf((sqlite.query("SELECT id FROM leads WHERE tenant_id = ? AND user_id = ?").get(tenantId, subject.userId) as { id: string } | null)?.id);
    }
    const email = normalizeEmail(subject.email);
    if (email) {
      person.emails.add(email);
      for (const row of sqlite.query("SELECT id FROM leads WHERE tenant_id = ? AND email = ?").all(tenantId, email) as { id: string }[]) leadOf(row.id);
    }
    const visitorKeys = new Set<string>();
    if (subject.anonymousId) {
      person.anonymousIds.add(subject.anonymousId);
      const visitor = sqlite.query("SELECT id, lead_id AS lead FROM visitors WHERE tenant_id = ? AND key = ?").get(tenantId, subject.anonymousId) as {
        id: string;
        lead: string | null;
      } | null;
      if (visitor) {
        visitorKeys.add(subject.anonymousId);
        leadOf(visitor.lead);
      }
    }
    // The live leads and every lead merged into them, at any depth. CROSS JOIN keeps the family as
    // the outer loop: otherwise SQLite read every merge and every lead of the tenant.
    const family = sqlite
      .query(
        `WITH RECURSIVE family(id) AS (
           SELECT value FROM json_each(?1)
           UNION SELECT m.from_lead_id FROM family f CROSS JOIN lead_merges m ON m.tenant_id = ?2 AND m.into_lead_id = f.id)
         SELECT l.id, l.user_id AS userId, l.email FROM family f CROSS JOIN leads l ON l.id = f.id AND l.tenant_id = ?2`,
      )
      .all(jsonList([...seeds, ...person.leads]), tenantId) as { id: string; userId: string | null; email: string | null }[];
    for (const lead of family) {
      person.leads.add(lead.id);
      if (lead.userId !== null) person.userIds.add(lead.userId);
      if (lead.email !== null) person.emails.add(lead.email);
    }
    const leadList = jsonList(person.leads);
    for (const userId of person.userIds) visitorKeys.add(`user:${userId}`);
    // Visitors now linked to one of the leads (a visitor re-linked to someone else is theirs now),
    // and those the subject or the person's userIds name.
    const visitors = sqlite
      .query(
        `SELECT v.id, v.anonymous_id AS anonymousId FROM identity_links il JOIN visitors v ON v.id = il.visitor_id
           WHERE il.tenant_id = ?1 AND il.lead_id IN (SELECT value FROM json_each(?2)) AND v.lead_id IN (SELECT value FROM json_each(?2))
         UNION
         SELECT id, anonymous_id FROM visitors WHERE tenant_id = ?1 AND key IN (SELECT value FROM json_each(?3))
           AND (lead_id IS NULL OR lead_id IN (SELECT value FROM json_each(?2)))`,
      )
      .all(tenantId, leadList, jsonList(visitorKeys)) as { id: string; anonymousId: string | null }[];
    for (const visitor of visitors) {
      person.visitors.add(visitor.id);
      if (visitor.anonymousId !== null) person.anonymousIds.add(visitor.anonymousId);
    }
    // Their sessions: the leads' (anonymous history included), and the visitors' own that are
    // nobody else's.
    const sessions = sqlite
      .query(
        `SELECT id FROM sessions WHERE tenant_id = ?1 AND lead_id IN (SELECT value FROM json_each(?2))
         UNION
         SELECT id FROM sessions WHERE tenant_id = ?1 AND visitor_id IN (SELECT value FROM json_each(?3))
           AND (lead_id IS NULL OR lead_id IN (SELECT value FROM json_each(?2)))`,
      )
      .all(tenantId, leadList, jsonList(person.visitors)) as { id: string }[];
    for (const session of sessions) person.sessions.add(session.id);
    return Object.assign(person, { grew: into !== undefined && size() > before });
  }
}

export class NoSuchTenant extends Error {
  constructor(tenantId: string) {
    super(`No tenant with id ${tenantId}.`);
  }
}

export function toReceipt(row: typeof privacyDeletions.$inferSelect): DeletionReceipt {
  const deleted = { events: row.events, sessions: row.sessions, visitors: row.visitors, leads: row.leads };
  return {
    deletionId: row.id,
    tenantId: row.tenantId,
    status: "completed",
    deleted,
    nothingLeft: Object.values(deleted).every((n) => n === 0),
    suppressionId: row.suppressionId,
    walTruncated: row.walTruncated,
    requestedAt: iso(row.requestedAt),
    finishedAt: iso(row.finishedAt),
    requestedBy: { keyId: row.keyId, keyPrefix: row.keyPrefix },
  };
}

/** The hashes a suppression of the person holds: the subject's identifiers and every one the person is known by. */
export function personHashes(salt: string, subject: Subject, person: Pick<Person, "userIds" | "emails" | "anonymousIds">): Set<string> {
  const hashes = new Set<string>();
  for (const kind of SUBJECT_KINDS) if (subject[kind]) hashes.add(identifierHash(salt, kind, subject[kind]!));
  for (const userId of person.userIds) hashes.add(identifierHash(salt, "userId", userId));
  for (const email of person.emails) hashes.add(identifierHash(salt, "email", email));
  for (const anonymousId of person.anonymousIds) hashes.add(identifierHash(salt, "anonymousId", anonymousId));
  return hashes;
}

/** What the IP policy changes in these events' `context.ip`: anonymized, or removed (undefined). */
export function ipChanges(policy: "anonymize" | "drop", rows: { id: number; ip: unknown }[]): { id: number; ip: string | undefined }[] {
  return rows.flatMap(({ id, ip }) => {
    if (policy === "drop" || typeof ip !== "string") return [{ id, ip: undefined }];
    const anonymized = anonymizeIp(ip);
    return anonymized === ip ? [] : [{ id, ip: anonymized }];
  });
}

/** Identifiers trimmed; empty ones dropped. */
export function cleanSubject(subject: Subject): Subject {
  const clean: Subject = {};
  for (const kind of SUBJECT_KINDS) {
    const value = subject[kind];
    if (typeof value === "string" && value.trim() !== "") clean[kind] = kind === "email" ? normalizeEmail(value)! : value;
  }
  if (Object.keys(clean).length === 0) throw new Error("The subject needs a userId, an email or an anonymousId.");
  return clean;
}

export function subjectKinds(subject: Subject): string {
  return SUBJECT_KINDS.filter((kind) => subject[kind]).join(",");
}

/** The salted hash the audit keeps of a subject (all its identifiers, in a fixed order). */
export function subjectHash(salt: string, subject: Subject): string {
  return new Bun.CryptoHasher("sha256", salt).update(JSON.stringify(SUBJECT_KINDS.map((kind) => subject[kind] ?? null))).digest("hex");
}
