/** Reading a lead back: its merged traits, linked visitors, merges, and event and session counts. */
import type { LeadReadStore, LeadRecord } from "../../db/read-store";
import { normalizeEmail } from "../../lib/email";
import { isoTime as iso } from "../../lib/time";
import { MAX_MERGE_HOPS } from "../../pipeline/identity-rules";

/** Sessions of a visitor shown, newest first. */
export const VISITOR_SESSIONS = 100;

export class LeadService {
  constructor(private readonly store: LeadReadStore) {}

  /** The lead with this userId, else with this email; a merged lead answers with the lead it was merged into. */
  async findLead(tenantId: string, userIdOrEmail: string): Promise<LeadRecord | null> {
    let lead = await this.store.leadByUserId(tenantId, userIdOrEmail);
    const email = normalizeEmail(userIdOrEmail);
    if (!lead && email) lead = await this.store.unmergedLeadByEmail(tenantId, email);
    return (await this.followMerges(tenantId, lead)) ?? null;
  }

  /** What `inlet lead show` prints, or null. */
  async showLead(tenantId: string, userIdOrEmail: string) {
    const lead = await this.findLead(tenantId, userIdOrEmail);
    return lead ? this.describeLead(tenantId, lead) : null;
  }

  /** A visitor by anonymousId: first and last seen, its sessions (newest first), and the lead it is linked to. */
  async showVisitor(tenantId: string, anonymousId: string) {
    const visitor = await this.store.visitorByKey(tenantId, anonymousId);
    if (!visitor || visitor.anonymousId === null) return null;
    const [sessions, linked] = await Promise.all([
      this.store.sessionsOfVisitor(tenantId, visitor.id, VISITOR_SESSIONS),
      visitor.leadId ? this.store.leadById(tenantId, visitor.leadId) : undefined,
    ]);
    const lead = await this.followMerges(tenantId, linked);
    return {
      visitorId: visitor.id,
      anonymousId: visitor.anonymousId,
      userId: visitor.userId,
      firstSeenAt: iso(visitor.firstSeenAt),
      lastSeenAt: iso(visitor.lastSeenAt),
      sessions: sessions.map((s) => ({
        sessionId: s.id,
        startedAt: iso(s.startedAt),
        lastEventAt: iso(s.lastEventAt),
        eventCount: s.eventCount,
        landingPage: s.landingPage,
        referrer: s.referrer,
        channel: s.channel,
        campaign: s.campaign,
        leadId: s.leadId,
      })),
      lead: lead ? await this.describeLead(tenantId, lead) : null,
    };
  }

  /** What `inlet lead show` prints of a lead. */
  async describeLead(tenantId: string, lead: LeadRecord) {
    const [links, merges, counts] = await Promise.all([
      this.store.linksOfLead(tenantId, lead.id),
      this.store.mergesInto(tenantId, lead.id),
      this.store.leadCounts(tenantId, lead.id),
    ]);
    return {
      leadId: lead.id,
      userId: lead.userId,
      email: lead.email,
      traits: lead.traits,
      groupId: lead.groupId,
      createdAt: iso(lead.createdAt),
      updatedAt: iso(lead.updatedAt),
      visitors: links.map((l) => ({ ...l, linkedAt: iso(l.linkedAt), unlinkedAt: iso(l.unlinkedAt) })),
      mergedFrom: merges.map((m) => ({ ...m, mergedAt: iso(m.mergedAt) })),
      eventCount: counts.events,
      sessionCount: counts.sessions,
    };
  }

  /** Follows merged_into to the lead that stands for the person now (as followMerges in identity-rules, reading asynchronously). */
  private async followMerges(tenantId: string, lead: LeadRecord | undefined): Promise<LeadRecord | undefined> {
    let current = lead;
    for (let hops = 0; current?.mergedInto && hops < MAX_MERGE_HOPS; hops++) current = await this.store.leadById(tenantId, current.mergedInto);
    return current;
  }
}
