/** Leads, visitors and their sessions read back from SQLite (src/db/read-store.ts). */
import { and, asc, desc, eq, isNull, sql } from "drizzle-orm";
import type { Db } from "../client";
import type { LeadReadStore, LeadRecord, LinkRecord, MergeRecord, SessionRecord, VisitorRecord } from "../read-store";
import { identityLinks, leadMerges, leads, sessions, visitors } from "../schema";

type LeadRow = typeof leads.$inferSelect;

const toLead = (row: LeadRow | undefined): LeadRecord | undefined =>
  row && {
    id: row.id,
    userId: row.userId,
    email: row.email,
    traits: JSON.parse(row.traits),
    groupId: row.groupId,
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
    mergedInto: row.mergedInto,
  };

export class SqliteLeadReads implements LeadReadStore {
  constructor(private readonly db: Db) {}

  async leadByUserId(tenantId: string, userId: string): Promise<LeadRecord | undefined> {
    return toLead(
      this.db
        .select()
        .from(leads)
        .where(and(eq(leads.tenantId, tenantId), eq(leads.userId, userId)))
        .get(),
    );
  }

  async unmergedLeadByEmail(tenantId: string, email: string): Promise<LeadRecord | undefined> {
    return toLead(
      this.db
        .select()
        .from(leads)
        .where(and(eq(leads.tenantId, tenantId), eq(leads.email, email), isNull(leads.mergedInto)))
        .get(),
    );
  }

  async leadById(tenantId: string, leadId: string): Promise<LeadRecord | undefined> {
    return toLead(
      this.db
        .select()
        .from(leads)
        .where(and(eq(leads.tenantId, tenantId), eq(leads.id, leadId)))
        .get(),
    );
  }

  async linksOfLead(tenantId: string, leadId: string): Promise<LinkRecord[]> {
    return this.db
      .select({
        visitorId: identityLinks.visitorId,
        anonymousId: visitors.anonymousId,
        linkedAt: identityLinks.linkedAt,
        unlinkedAt: identityLinks.unlinkedAt,
        messageId: identityLinks.messageId,
      })
      .from(identityLinks)
      .innerJoin(visitors, eq(visitors.id, identityLinks.visitorId))
      .where(and(eq(identityLinks.tenantId, tenantId), eq(identityLinks.leadId, leadId)))
      .orderBy(asc(identityLinks.linkedAt), asc(identityLinks.id))
      .all();
  }

  async mergesInto(tenantId: string, leadId: string): Promise<MergeRecord[]> {
    return this.db
      .select({ fromLeadId: leadMerges.fromLeadId, reason: leadMerges.reason, messageId: leadMerges.messageId, mergedAt: leadMerges.mergedAt })
      .from(leadMerges)
      .where(and(eq(leadMerges.tenantId, tenantId), eq(leadMerges.intoLeadId, leadId)))
      .orderBy(asc(leadMerges.id))
      .all();
  }

  async leadCounts(tenantId: string, leadId: string): Promise<{ events: number; sessions: number }> {
    const [counts] = this.db.all<{ events: number; sessions: number }>(sql`
      SELECT
        (SELECT count(*) FROM events WHERE tenant_id = ${tenantId} AND lead_id = ${leadId})
          + (SELECT coalesce(sum(anonymous_events), 0) FROM sessions WHERE tenant_id = ${tenantId} AND lead_id = ${leadId}) AS events,
        (SELECT count(*) FROM (
          SELECT session_id FROM events WHERE tenant_id = ${tenantId} AND lead_id = ${leadId}
          UNION
          SELECT id FROM sessions WHERE tenant_id = ${tenantId} AND lead_id = ${leadId} AND anonymous_events > 0)) AS sessions`);
    return counts!;
  }

  async visitorByKey(tenantId: string, key: string): Promise<VisitorRecord | undefined> {
    return this.db
      .select({
        id: visitors.id,
        anonymousId: visitors.anonymousId,
        userId: visitors.userId,
        leadId: visitors.leadId,
        firstSeenAt: visitors.firstSeenAt,
        lastSeenAt: visitors.lastSeenAt,
      })
      .from(visitors)
      .where(and(eq(visitors.tenantId, tenantId), eq(visitors.key, key)))
      .get();
  }

  async sessionsOfVisitor(tenantId: string, visitorId: string, limit: number): Promise<SessionRecord[]> {
    const rows = this.db
      .select()
      .from(sessions)
      .where(and(eq(sessions.tenantId, tenantId), eq(sessions.visitorId, visitorId)))
      .orderBy(desc(sessions.startedAt), desc(sessions.id))
      .limit(limit)
      .all();
    return rows.map((s) => ({
      id: s.id,
      startedAt: s.startedAt,
      lastEventAt: s.lastEventAt,
      eventCount: s.eventCount,
      landingPage: s.landingPage,
      referrer: s.referrer,
      channel: s.channel,
      campaign: s.campaign === null ? null : JSON.parse(s.campaign),
      leadId: s.leadId,
    }));
  }
}
