/**
 * The identity rules' lookups and updates on SQLite (the rules: src/pipeline/identity.ts), as
 * prepared statements, run synchronously in the writer's transaction.
 */
import { and, eq, isNull, sql } from "drizzle-orm";
import type { IdentityRows, LeadRow, VisitorRef } from "../../pipeline/ports";
import type { Db } from "../client";
import { events, identityLinks, leadMerges, leads, sessions, visitors } from "../schema";
import { positional } from "./statement";

const placeholder = (name: string) => sql.placeholder(name);
/** A placeholder where drizzle's types want an SQL value (update sets). */
const value = (name: string) => sql`${sql.placeholder(name)}`;

/** A lead as its row holds it, under the columns' names. */
interface StoredLead {
  id: string;
  user_id: string | null;
  email: string | null;
  traits: string;
  trait_times: string;
  group_id: string | null;
  created_at: number;
  merged_into: string | null;
}

function parsed(row: StoredLead | null | undefined): LeadRow | undefined {
  return row
    ? {
        id: row.id,
        userId: row.user_id,
        email: row.email,
        traits: JSON.parse(row.traits),
        traitTimes: JSON.parse(row.trait_times),
        groupId: row.group_id,
        createdAt: row.created_at,
        mergedInto: row.merged_into,
      }
    : undefined;
}

export class SqliteIdentityRows implements IdentityRows {
  private readonly q;

  constructor(private readonly db: Db) {
    const leadColumns = {
      id: leads.id,
      userId: leads.userId,
      email: leads.email,
      traits: leads.traits,
      traitTimes: leads.traitTimes,
      groupId: leads.groupId,
      createdAt: leads.createdAt,
      mergedInto: leads.mergedInto,
    };
    const byTenant = (tenantId = placeholder("tenantId")) => eq(leads.tenantId, tenantId);
    this.q = {
      byId: positional<StoredLead>(
        db,
        db
          .select(leadColumns)
          .from(leads)
          .where(and(byTenant(), eq(leads.id, placeholder("id")))),
        ["tenantId", "id"],
      ),
      byUserId: positional<StoredLead>(
        db,
        db
          .select(leadColumns)
          .from(leads)
          .where(and(byTenant(), eq(leads.userId, placeholder("userId")))),
        ["tenantId", "userId"],
      ),
      // No ORDER BY created_at LIMIT 1: no index yields that order, so SQLite would build a temporary
      // B-tree for each lookup (about 23 against 5 µs); there is one live lead per email, rarely more.
      byEmail: positional<StoredLead>(
        db,
        db
          .select(leadColumns)
          .from(leads)
          .where(and(byTenant(), eq(leads.email, placeholder("email")), isNull(leads.mergedInto))),
        ["tenantId", "email"],
      ),
      insertLead: positional(
        db,
        db.insert(leads).values({
          id: placeholder("id"),
          tenantId: placeholder("tenantId"),
          userId: placeholder("userId"),
          email: placeholder("email"),
          traits: placeholder("traits"),
          traitTimes: placeholder("traitTimes"),
          createdAt: placeholder("createdAt"),
          updatedAt: placeholder("updatedAt"),
        }),
        ["id", "tenantId", "userId", "email", "traits", "traitTimes", "createdAt", "updatedAt"],
      ),
      // Two statements: SQLite rewrites an index entry whenever its column is SET, changed or not,
      // and most identifies leave the email as it was.
      saveLead: positional(
        db,
        db
          .update(leads)
          .set({ traits: value("traits"), traitTimes: value("traitTimes"), updatedAt: value("at") })
          .where(eq(leads.id, placeholder("id"))),
        ["traits", "traitTimes", "at", "id"],
      ),
      saveLeadAndEmail: positional(
        db,
        db
          .update(leads)
          .set({ traits: value("traits"), traitTimes: value("traitTimes"), email: value("email"), updatedAt: value("at") })
          .where(eq(leads.id, placeholder("id"))),
        ["email", "traits", "traitTimes", "at", "id"],
      ),
      setGroup: positional(
        db,
        db
          .update(leads)
          .set({ groupId: value("groupId"), updatedAt: value("at") })
          .where(eq(leads.id, placeholder("id"))),
        ["groupId", "at", "id"],
      ),
      visitorByKey: positional<{ id: string; lead_id: string | null }>(
        db,
        db
          .select({ id: visitors.id, leadId: visitors.leadId })
          .from(visitors)
          .where(and(eq(visitors.tenantId, placeholder("tenantId")), eq(visitors.key, placeholder("key")))),
        ["tenantId", "key"],
      ),
      setVisitorLead: positional(
        db,
        db
          .update(visitors)
          .set({ leadId: value("leadId") })
          .where(eq(visitors.id, placeholder("visitorId"))),
        ["leadId", "visitorId"],
      ),
      closeLinks: positional(
        db,
        db
          .update(identityLinks)
          .set({ unlinkedAt: value("at") })
          .where(
            and(eq(identityLinks.tenantId, placeholder("tenantId")), eq(identityLinks.visitorId, placeholder("visitorId")), isNull(identityLinks.unlinkedAt)),
          ),
        ["at", "tenantId", "visitorId"],
      ),
      insertLink: positional(
        db,
        db.insert(identityLinks).values({
          tenantId: placeholder("tenantId"),
          visitorId: placeholder("visitorId"),
          leadId: placeholder("leadId"),
          messageId: placeholder("messageId"),
          linkedAt: placeholder("at"),
        }),
        ["tenantId", "visitorId", "leadId", "messageId", "at"],
      ),
      // The visitor's anonymous history: through its sessions, not event by event (see schema.ts).
      attributeSessions: positional(
        db,
        db
          .update(sessions)
          .set({ leadId: value("leadId") })
          .where(and(eq(sessions.tenantId, placeholder("tenantId")), eq(sessions.visitorId, placeholder("visitorId")), isNull(sessions.leadId))),
        ["leadId", "tenantId", "visitorId"],
      ),
    };
  }

  leadById(tenantId: string, id: string): LeadRow | undefined {
    return parsed(this.q.byId.get(tenantId, id));
  }

  leadByUserId(tenantId: string, userId: string): LeadRow | undefined {
    return parsed(this.q.byUserId.get(tenantId, userId));
  }

  leadByEmail(tenantId: string, email: string): LeadRow | undefined {
    const rows = this.q.byEmail.all(tenantId, email);
    // The oldest; of equal ages the first in index order, as the sort by created_at would answer.
    let oldest = rows[0];
    for (const row of rows) if (row.created_at < oldest!.created_at) oldest = row;
    return parsed(oldest);
  }

  insertLead(tenantId: string, lead: LeadRow, updatedAt: number): void {
    this.q.insertLead.run(lead.id, tenantId, lead.userId, lead.email, JSON.stringify(lead.traits), JSON.stringify(lead.traitTimes), lead.createdAt, updatedAt);
  }

  saveLead(
    _tenantId: string,
    id: string,
    change: { traits: Record<string, unknown>; traitTimes: Record<string, number>; email: string | null | undefined; at: number },
  ): void {
    const traits = JSON.stringify(change.traits);
    const traitTimes = JSON.stringify(change.traitTimes);
    if (change.email === undefined) this.q.saveLead.run(traits, traitTimes, change.at, id);
    else this.q.saveLeadAndEmail.run(change.email, traits, traitTimes, change.at, id);
  }

  setLeadUserId(_tenantId: string, id: string, userId: string): void {
    this.db.update(leads).set({ userId }).where(eq(leads.id, id)).run();
  }

  setGroup(_tenantId: string, id: string, groupId: string, at: number): void {
    this.q.setGroup.run(groupId, at, id);
  }

  visitorByKey(tenantId: string, key: string): VisitorRef | undefined {
    const row = this.q.visitorByKey.get(tenantId, key);
    return row ? { id: row.id, leadId: row.lead_id } : undefined;
  }

  markMerged(_tenantId: string, absorbedId: string, survivorId: string, at: number): void {
    this.db.update(leads).set({ mergedInto: survivorId, updatedAt: at }).where(eq(leads.id, absorbedId)).run();
  }

  insertMerge(merge: { tenantId: string; fromLeadId: string; intoLeadId: string; reason: string; messageId: string; mergedAt: number }): void {
    this.db.insert(leadMerges).values(merge).run();
  }

  repointLead(tenantId: string, fromLeadId: string, toLeadId: string): void {
    for (const table of [identityLinks, visitors, events, sessions]) {
      this.db
        .update(table)
        .set({ leadId: toLeadId })
        .where(and(eq(table.tenantId, tenantId), eq(table.leadId, fromLeadId)))
        .run();
    }
  }

  link({
    tenantId,
    visitorId,
    leadId,
    previousLeadId,
    messageId,
    at,
  }: {
    tenantId: string;
    visitorId: string;
    leadId: string;
    previousLeadId: string | null;
    messageId: string;
    at: number;
  }): void {
    if (previousLeadId !== null) this.q.closeLinks.run(at, tenantId, visitorId);
    this.q.insertLink.run(tenantId, visitorId, leadId, messageId, at);
    this.q.setVisitorLead.run(leadId, visitorId);
    this.q.attributeSessions.run(leadId, tenantId, visitorId);
  }
}
