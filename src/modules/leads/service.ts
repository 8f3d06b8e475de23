/** Reading a lead back: its merged traits, linked visitors, merges, and event and session counts. */
import { and, desc, eq, isNull, sql } from "drizzle-orm";
import type { Db } from "../../db/client";
import { identityLinks, leadMerges, leads, sessions, visitors } from "../../db/schema";
import { normalizeEmail } from "../../lib/email";
import { isoTime as iso } from "../../lib/time";
import { followMerges } from "../../pipeline/identity-rules";

export function findLead(db: Db, tenantId: string, userIdOrEmail: string) {
  let lead = db
    .select()
    .from(leads)
    .where(and(eq(leads.tenantId, tenantId), eq(leads.userId, userIdOrEmail)))
    .get();
  const email = normalizeEmail(userIdOrEmail);
  if (!lead && email) {
    lead = db
      .select()
      .from(leads)
      .where(and(eq(leads.tenantId, tenantId), eq(leads.email, email), isNull(leads.mergedInto)))
      .get();
  }
  // A merged lead answers with the lead it was merged into.
  return followMerges(lead, (id) => db.select().from(leads).where(eq(leads.id, id)).get()) ?? null;
}

export function showLead(db: Db, tenantId: string, userIdOrEmail: string) {
  const lead = findLead(db, tenantId, userIdOrEmail);
  return lead ? describeLead(db, tenantId, lead) : null;
}

/** What `inlet lead show` prints of a lead. */
function describeLead(db: Db, tenantId: string, lead: typeof leads.$inferSelect) {
  const links = db
    .select({
      visitorId: identityLinks.visitorId,
      anonymousId: visitors.anonymousId,
      linkedAt: identityLinks.linkedAt,
      unlinkedAt: identityLinks.unlinkedAt,
      messageId: identityLinks.messageId,
    })
    .from(identityLinks)
    .innerJoin(visitors, eq(visitors.id, identityLinks.visitorId))
    .where(and(eq(identityLinks.tenantId, tenantId), eq(identityLinks.leadId, lead.id)))
    .orderBy(identityLinks.linkedAt)
    .all();
  const merges = db
    .select({ fromLeadId: leadMerges.fromLeadId, reason: leadMerges.reason, messageId: leadMerges.messageId, mergedAt: leadMerges.mergedAt })
    .from(leadMerges)
    .where(and(eq(leadMerges.tenantId, tenantId), eq(leadMerges.intoLeadId, lead.id)))
    .all();
  // The lead's events: those stored with its id, and the anonymous ones of sessions it owns.
  const [counts] = db.all<{ events: number; sessions: number }>(sql`
    SELECT
      (SELECT count(*) FROM events WHERE tenant_id = ${tenantId} AND lead_id = ${lead.id})
        + (SELECT coalesce(sum(anonymous_events), 0) FROM sessions WHERE tenant_id = ${tenantId} AND lead_id = ${lead.id}) AS events,
      (SELECT count(*) FROM (
        SELECT session_id FROM events WHERE tenant_id = ${tenantId} AND lead_id = ${lead.id}
        UNION
        SELECT id FROM sessions WHERE tenant_id = ${tenantId} AND lead_id = ${lead.id} AND anonymous_events > 0)) AS sessions`);
  return {
    leadId: lead.id,
    userId: lead.userId,
    email: lead.email,
    traits: JSON.parse(lead.traits),
    groupId: lead.groupId,
    createdAt: iso(lead.createdAt),
    updatedAt: iso(lead.updatedAt),
    visitors: links.map((l) => ({ ...l, linkedAt: iso(l.linkedAt), unlinkedAt: iso(l.unlinkedAt) })),
    mergedFrom: merges.map((m) => ({ ...m, mergedAt: iso(m.mergedAt) })),
    eventCount: counts!.events,
    sessionCount: counts!.sessions,
  };
}

/** Sessions of a visitor shown, newest first. */
export const VISITOR_SESSIONS = 100;

/** A visitor by anonymousId: first and last seen, its sessions (newest first), and the lead it is linked to. */
export function showVisitor(db: Db, tenantId: string, anonymousId: string) {
  const visitor = db
    .select()
    .from(visitors)
    .where(and(eq(visitors.tenantId, tenantId), eq(visitors.key, anonymousId)))
    .get();
  if (!visitor || visitor.anonymousId === null) return null;
  const rows = db
    .select()
    .from(sessions)
    .where(and(eq(sessions.tenantId, tenantId), eq(sessions.visitorId, visitor.id)))
    .orderBy(desc(sessions.startedAt))
    .limit(VISITOR_SESSIONS)
    .all();
  let lead = visitor.leadId
    ? db
        .select()
        .from(leads)
        .where(and(eq(leads.tenantId, tenantId), eq(leads.id, visitor.leadId)))
        .get()
    : undefined;
  for (let hops = 0; lead?.mergedInto && hops < 16; hops++) lead = db.select().from(leads).where(eq(leads.id, lead.mergedInto)).get();
  return {
    visitorId: visitor.id,
    anonymousId: visitor.anonymousId,
    userId: visitor.userId,
    firstSeenAt: iso(visitor.firstSeenAt),
    lastSeenAt: iso(visitor.lastSeenAt),
    sessions: rows.map((s) => ({
      sessionId: s.id,
      startedAt: iso(s.startedAt),
      lastEventAt: iso(s.lastEventAt),
      eventCount: s.eventCount,
      landingPage: s.landingPage,
      referrer: s.referrer,
      channel: s.channel,
      campaign: s.campaign === null ? null : JSON.parse(s.campaign),
      leadId: s.leadId,
    })),
    lead: lead ? describeLead(db, tenantId, lead) : null,
  };
}
