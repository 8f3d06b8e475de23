/** Leads, visitors and their sessions read back from PostgreSQL (src/db/read-store.ts), with Bun's SQL client. */
import type { SQL } from "bun";
import type { LeadReadStore, LeadRecord, LinkRecord, MergeRecord, SessionRecord, VisitorRecord } from "../read-store";
import { ms, msOrNull } from "./values";

interface LeadRow {
  id: string;
  user_id: string | null;
  email: string | null;
  traits: Record<string, unknown>;
  group_id: string | null;
  created_at: Date;
  updated_at: Date;
  merged_into: string | null;
}

const toLead = (row: LeadRow | undefined): LeadRecord | undefined =>
  row && {
    id: row.id,
    userId: row.user_id,
    email: row.email,
    traits: row.traits,
    groupId: row.group_id,
    createdAt: ms(row.created_at),
    updatedAt: ms(row.updated_at),
    mergedInto: row.merged_into,
  };

export class PostgresLeadReads implements LeadReadStore {
  constructor(private readonly sql: SQL) {}

  async leadByUserId(tenantId: string, userId: string): Promise<LeadRecord | undefined> {
    const [row] = await this.sql`SELECT * FROM leads WHERE tenant_id = ${tenantId} AND user_id = ${userId}`;
    return toLead(row);
  }

  async unmergedLeadByEmail(tenantId: string, email: string): Promise<LeadRecord | undefined> {
    const [row] = await this.sql`SELECT * FROM leads WHERE tenant_id = ${tenantId} AND email = ${email} AND merged_into IS NULL LIMIT 1`;
    return toLead(row);
  }

  async leadById(tenantId: string, leadId: string): Promise<LeadRecord | undefined> {
    const [row] = await this.sql`SELECT * FROM leads WHERE tenant_id = ${tenantId} AND id = ${leadId}`;
    return toLead(row);
  }

  async linksOfLead(tenantId: string, leadId: string): Promise<LinkRecord[]> {
    const rows = await this.sql`
      SELECT l.visitor_id, v.anonymous_id, l.linked_at, l.unlinked_at, l.message_id
      FROM identity_links l JOIN visitors v ON v.tenant_id = l.tenant_id AND v.id = l.visitor_id
      WHERE l.tenant_id = ${tenantId} AND l.lead_id = ${leadId}
      ORDER BY l.linked_at, l.id`;
    return rows.map((row: { visitor_id: string; anonymous_id: string | null; linked_at: Date; unlinked_at: Date | null; message_id: string }) => ({
      visitorId: row.visitor_id,
      anonymousId: row.anonymous_id,
      linkedAt: ms(row.linked_at),
      unlinkedAt: msOrNull(row.unlinked_at),
      messageId: row.message_id,
    }));
  }

  async mergesInto(tenantId: string, leadId: string): Promise<MergeRecord[]> {
    const rows = await this.sql`
      SELECT from_lead_id, reason, message_id, merged_at FROM lead_merges
      WHERE tenant_id = ${tenantId} AND into_lead_id = ${leadId} ORDER BY id`;
    return rows.map((row: { from_lead_id: string; reason: string; message_id: string; merged_at: Date }) => ({
      fromLeadId: row.from_lead_id,
      reason: row.reason,
      messageId: row.message_id,
      mergedAt: ms(row.merged_at),
    }));
  }

  async leadCounts(tenantId: string, leadId: string): Promise<{ events: number; sessions: number }> {
    // The same counts as on SQLite (src/db/sqlite/lead-reads.ts): the lead's own events, the
    // anonymous events of the sessions it owns, and the sessions holding either.
    const [row] = await this.sql`
      SELECT
        ((SELECT count(*) FROM events WHERE tenant_id = ${tenantId} AND lead_id = ${leadId})
          + (SELECT coalesce(sum(anonymous_events), 0) FROM sessions WHERE tenant_id = ${tenantId} AND lead_id = ${leadId}))::bigint AS events,
        (SELECT count(*) FROM (
          SELECT session_id FROM events WHERE tenant_id = ${tenantId} AND lead_id = ${leadId}
          UNION
          SELECT id FROM sessions WHERE tenant_id = ${tenantId} AND lead_id = ${leadId} AND anonymous_events > 0) AS held) AS sessions`;
    // bigint comes back as a decimal string.
    return { events: Number(row.events), sessions: Number(row.sessions) };
  }

  async visitorByKey(tenantId: string, key: string): Promise<VisitorRecord | undefined> {
    const [row] = await this.sql`
      SELECT id, anonymous_id, user_id, lead_id, first_seen_at, last_seen_at FROM visitors WHERE tenant_id = ${tenantId} AND key = ${key}`;
    return (
      row && {
        id: row.id,
        anonymousId: row.anonymous_id,
        userId: row.user_id,
        leadId: row.lead_id,
        firstSeenAt: ms(row.first_seen_at),
        lastSeenAt: ms(row.last_seen_at),
      }
    );
  }

  async sessionsOfVisitor(tenantId: string, visitorId: string, limit: number): Promise<SessionRecord[]> {
    const rows = await this.sql`
      SELECT id, started_at, last_event_at, event_count, landing_page, referrer, channel, campaign, lead_id FROM sessions
      WHERE tenant_id = ${tenantId} AND visitor_id = ${visitorId}
      ORDER BY started_at DESC, id DESC LIMIT ${limit}`;
    return rows.map(
      (row: {
        id: string;
        started_at: Date;
        last_event_at: Date;
        event_count: number;
        landing_page: string | null;
        referrer: string | null;
        channel: string | null;
        campaign: Record<string, unknown> | null;
        lead_id: string | null;
      }) => ({
        id: row.id,
        startedAt: ms(row.started_at),
        lastEventAt: ms(row.last_event_at),
        eventCount: row.event_count,
        landingPage: row.landing_page,
        referrer: row.referrer,
        channel: row.channel,
        campaign: row.campaign,
        leadId: row.lead_id,
      }),
    );
  }
}
