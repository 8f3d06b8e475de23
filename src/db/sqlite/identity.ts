/**
 * The identity rules' lookups and updates on SQLite (the rules: src/pipeline/identity.ts), as
 * prepared statements, run synchronously in the writer's transaction.
 */
import { and, eq, isNull, sql } from "drizzle-orm";
import type { IdentityRows, LeadRow, VisitorRef } from "../../pipeline/ports";
import type { Db } from "../client";
import { events, identityLinks, leadMerges, leads, sessions, visitors } from "../schema";

const placeholder = (name: string) => sql.placeholder(name);
/** A placeholder where drizzle's types want an SQL value (update sets). */
const value = (name: string) => sql`${sql.placeholder(name)}`;

interface StoredLead extends Omit<LeadRow, "traits" | "traitTimes"> {
  traits: string;
  traitTimes: string;
}

function parsed(row: StoredLead | undefined): LeadRow | undefined {
  return row && { ...row, traits: JSON.parse(row.traits), traitTimes: JSON.parse(row.traitTimes) };
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
      byId: db
        .select(leadColumns)
        .from(leads)
        .where(and(byTenant(), eq(leads.id, placeholder("id"))))
        .prepare(),
      byUserId: db
        .select(leadColumns)
        .from(leads)
        .where(and(byTenant(), eq(leads.userId, placeholder("userId"))))
        .prepare(),
      // No ORDER BY created_at LIMIT 1: no index yields that order, so SQLite would build a temporary
      // B-tree for each lookup (about 23 against 5 µs); there is one live lead per email, rarely more.
      byEmail: db
        .select(leadColumns)
        .from(leads)
        .where(and(byTenant(), eq(leads.email, placeholder("email")), isNull(leads.mergedInto)))
        .prepare(),
      insertLead: db
        .insert(leads)
        .values({
          id: placeholder("id"),
          tenantId: placeholder("tenantId"),
          userId: placeholder("userId"),
          email: placeholder("email"),
          traits: placeholder("traits"),
          traitTimes: placeholder("traitTimes"),
          createdAt: placeholder("createdAt"),
          updatedAt: placeholder("updatedAt"),
        })
        .prepare(),
      // Two statements: SQLite rewrites an index entry whenever its column is SET, changed or not,
      // and most identifies leave the email as it was.
      saveLead: db
        .update(leads)
        .set({ traits: value("traits"), traitTimes: value("traitTimes"), updatedAt: value("at") })
        .where(eq(leads.id, placeholder("id")))
        .prepare(),
      saveLeadAndEmail: db
        .update(leads)
        .set({ traits: value("traits"), traitTimes: value("traitTimes"), email: value("email"), updatedAt: value("at") })
        .where(eq(leads.id, placeholder("id")))
        .prepare(),
      setGroup: db
        .update(leads)
        .set({ groupId: value("groupId"), updatedAt: value("at") })
        .where(eq(leads.id, placeholder("id")))
        .prepare(),
      visitorByKey: db
        .select({ id: visitors.id, leadId: visitors.leadId })
        .from(visitors)
        .where(and(eq(visitors.tenantId, placeholder("tenantId")), eq(visitors.key, placeholder("key"))))
        .prepare(),
      setVisitorLead: db
        .update(visitors)
        .set({ leadId: value("leadId") })
        .where(eq(visitors.id, placeholder("visitorId")))
        .prepare(),
      closeLinks: db
        .update(identityLinks)
        .set({ unlinkedAt: value("at") })
        .where(
          and(eq(identityLinks.tenantId, placeholder("tenantId")), eq(identityLinks.visitorId, placeholder("visitorId")), isNull(identityLinks.unlinkedAt)),
        )
        .prepare(),
      insertLink: db
        .insert(identityLinks)
        .values({
          tenantId: placeholder("tenantId"),
          visitorId: placeholder("visitorId"),
          leadId: placeholder("leadId"),
          messageId: placeholder("messageId"),
          linkedAt: placeholder("at"),
        })
        .prepare(),
      // The visitor's anonymous history: through its sessions, not event by event (see schema.ts).
      attributeSessions: db
        .update(sessions)
        .set({ leadId: value("leadId") })
        .where(and(eq(sessions.tenantId, placeholder("tenantId")), eq(sessions.visitorId, placeholder("visitorId")), isNull(sessions.leadId)))
        .prepare(),
    };
  }

  leadById(tenantId: string, id: string): LeadRow | undefined {
    return parsed(this.q.byId.get({ tenantId, id }) as StoredLead | undefined);
  }

  leadByUserId(tenantId: string, userId: string): LeadRow | undefined {
    return parsed(this.q.byUserId.get({ tenantId, userId }) as StoredLead | undefined);
  }

  leadByEmail(tenantId: string, email: string): LeadRow | undefined {
    const rows = this.q.byEmail.all({ tenantId, email }) as StoredLead[];
    // The oldest; of equal ages the first in index order, as the sort by created_at would answer.
    let oldest = rows[0];
    for (const row of rows) if (row.createdAt < oldest!.createdAt) oldest = row;
    return parsed(oldest);
  }

  insertLead(tenantId: string, lead: LeadRow, updatedAt: number): void {
    this.q.insertLead.run({
      id: lead.id,
      tenantId,
      userId: lead.userId,
      email: lead.email,
      traits: JSON.stringify(lead.traits),
      traitTimes: JSON.stringify(lead.traitTimes),
      createdAt: lead.createdAt,
      updatedAt,
    });
  }

  saveLead(
    _tenantId: string,
    id: string,
    change: { traits: Record<string, unknown>; traitTimes: Record<string, number>; email: string | null | undefined; at: number },
  ): void {
    const saved = { id, traits: JSON.stringify(change.traits), traitTimes: JSON.stringify(change.traitTimes), at: change.at };
    if (change.email === undefined) this.q.saveLead.run(saved);
    else this.q.saveLeadAndEmail.run({ ...saved, email: change.email });
  }

  setLeadUserId(_tenantId: string, id: string, userId: string): void {
    this.db.update(leads).set({ userId }).where(eq(leads.id, id)).run();
  }

  setGroup(_tenantId: string, id: string, groupId: string, at: number): void {
    this.q.setGroup.run({ id, groupId, at });
  }

  visitorByKey(tenantId: string, key: string): VisitorRef | undefined {
    return this.q.visitorByKey.get({ tenantId, key }) as VisitorRef | undefined;
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
    if (previousLeadId !== null) this.q.closeLinks.run({ tenantId, visitorId, at });
    this.q.insertLink.run({ tenantId, visitorId, leadId, messageId, at });
    this.q.setVisitorLead.run({ visitorId, leadId });
    this.q.attributeSessions.run({ tenantId, visitorId, leadId });
  }
}
