/**
 * Identity resolution: which lead (a tenant's known person) an event belongs to, and how
 * identify, alias and group calls change leads. Runs inside the writer's transaction, so
 * concurrent identifies of one user are processed one after another and make one lead.
 *
 * Rules (docs/identity.md):
 * - A lead is keyed by userId, or by email (case-insensitive) where there is no userId.
 * - identify creates the lead when unknown and merges traits into it: per trait, the value from
 *   the identify with the newest timestamp wins (a replayed older identify does not overwrite
 *   newer traits); `null` removes a trait.
 * - The event's visitor is linked to the lead (an identity_links row: when, by which message).
 *   Its earlier anonymous events become the lead's: its sessions without a lead get it
 *   (sessions.lead_id), and an event's lead is its own lead_id, else its session's.
 * - Shared device: a visitor already linked to another lead is re-linked from now on; the old
 *   link is closed (unlinkedAt) and the events before keep their lead.
 * - One person, two leads (the same email under another lead, or an alias call): the newer lead
 *   is merged into the one created first (alias: into the userId's lead), with a lead_merges
 *   record, traits merged by timestamp, and visitors, links and events re-pointed.
 * - Other calls carry their visitor's lead; a call with a userId whose visitor is not linked is
 *   attributed to that userId's lead when it exists (without linking).
 */
import { and, eq, isNull, sql } from "drizzle-orm";
import { normalizeEmail } from "../../lib/email";
import type { CanonicalEvent } from "../../pipeline/model";
import type { IdentityOutcome, IdentityStep } from "../../pipeline/ports";
import type { Db } from "../client";
import { events, identityLinks, leadMerges, leads, sessions, visitors } from "../schema";

type Json = Record<string, unknown>;

interface LeadRow {
  id: string;
  userId: string | null;
  email: string | null;
  traits: string;
  traitTimes: string;
  groupId: string | null;
  createdAt: number;
  mergedInto: string | null;
}

const p = (name: string) => sql.placeholder(name);
/** A placeholder where drizzle's types want an SQL value (update sets). */
const v = (name: string) => sql`${sql.placeholder(name)}`;

export class IdentityResolver implements IdentityStep {
  private readonly q;

  /**
   * `visitorsChanged` is told when visitors other than the event's own were re-linked (alias of
   * an anonymous id, merges), so that cached visitors (src/db/sqlite/visitors.ts) are dropped.
   * The event's own visitor object is updated in place.
   */
  constructor(
    private readonly db: Db,
    private readonly visitorsChanged: () => void = () => {},
  ) {
    const lead = { id: leads.id, userId: leads.userId, email: leads.email, traits: leads.traits, traitTimes: leads.traitTimes, groupId: leads.groupId, createdAt: leads.createdAt, mergedInto: leads.mergedInto };
    this.q = {
      byId: db.select(lead).from(leads).where(eq(leads.id, p("id"))).prepare(),
      byUserId: db.select(lead).from(leads).where(and(eq(leads.tenantId, p("tenantId")), eq(leads.userId, p("userId")))).prepare(),
      byEmail: db
        .select(lead)
        .from(leads)
        .where(and(eq(leads.tenantId, p("tenantId")), eq(leads.email, p("email")), isNull(leads.mergedInto)))
        .orderBy(leads.createdAt)
        .limit(1)
        .prepare(),
      insertLead: db
        .insert(leads)
        .values({ id: p("id"), tenantId: p("tenantId"), userId: p("userId"), email: p("email"), traits: "{}", traitTimes: "{}", createdAt: p("at"), updatedAt: p("at") })
        .prepare(),
      // Two statements: SQLite rewrites an index entry whenever its column is SET, changed or not,
      // and most identifies leave the email as it was.
      saveLead: db.update(leads).set({ traits: v("traits"), traitTimes: v("traitTimes"), updatedAt: v("at") }).where(eq(leads.id, p("id"))).prepare(),
      saveLeadAndEmail: db
        .update(leads)
        .set({ traits: v("traits"), traitTimes: v("traitTimes"), email: v("email"), updatedAt: v("at") })
        .where(eq(leads.id, p("id")))
        .prepare(),
      setGroup: db.update(leads).set({ groupId: v("groupId"), updatedAt: v("at") }).where(eq(leads.id, p("id"))).prepare(),
      visitorByKey: db
        .select({ id: visitors.id, leadId: visitors.leadId })
        .from(visitors)
        .where(and(eq(visitors.tenantId, p("tenantId")), eq(visitors.key, p("key"))))
        .prepare(),
      setVisitorLead: db.update(visitors).set({ leadId: v("leadId") }).where(eq(visitors.id, p("visitorId"))).prepare(),
      closeLinks: db
        .update(identityLinks)
        .set({ unlinkedAt: v("at") })
        .where(and(eq(identityLinks.tenantId, p("tenantId")), eq(identityLinks.visitorId, p("visitorId")), isNull(identityLinks.unlinkedAt)))
        .prepare(),
      insertLink: db
        .insert(identityLinks)
        .values({ tenantId: p("tenantId"), visitorId: p("visitorId"), leadId: p("leadId"), messageId: p("messageId"), linkedAt: p("at") })
        .prepare(),
      // The visitor's anonymous history: through its sessions, not event by event (see schema.ts).
      attributeSessions: db
        .update(sessions)
        .set({ leadId: v("leadId") })
        .where(and(eq(sessions.tenantId, p("tenantId")), eq(sessions.visitorId, p("visitorId")), isNull(sessions.leadId)))
        .prepare(),
    };
  }

  resolve(tenantId: string, event: CanonicalEvent, visitor: { id: string; leadId: string | null }): IdentityOutcome {
    switch (event.type) {
      case "identify":
        return this.identify(tenantId, event, visitor);
      case "alias":
        return this.alias(tenantId, event, visitor);
      case "group": {
        const leadId = this.attributed(tenantId, event, visitor);
        if (leadId) this.q.setGroup.run({ id: leadId, groupId: String(event.extra?.groupId), at: event.timestamp });
        return { leadId };
      }
      default:
        return { leadId: this.attributed(tenantId, event, visitor) };
    }
  }

  private attributed(tenantId: string, event: CanonicalEvent, visitor: { leadId: string | null }): string | null {
    if (visitor.leadId) return visitor.leadId;
    if (event.userId === undefined) return null;
    return this.live(this.q.byUserId.get({ tenantId, userId: event.userId }) as LeadRow | undefined)?.id ?? null;
  }

  private identify(tenantId: string, event: CanonicalEvent, visitor: { id: string; leadId: string | null }): IdentityOutcome {
    const traits = event.traits ?? {};
    const email = normalizeEmail(traits.email);
    let created = false;
    let lead: LeadRow | undefined;
    // The live lead that has this email, once looked up (merges keep it to one per email).
    let byEmail: LeadRow | undefined | null = null;
    if (event.userId !== undefined) {
      lead = this.live(this.q.byUserId.get({ tenantId, userId: event.userId }) as LeadRow | undefined);
      if (!lead) {
        // A lead known by email only (identified without a userId before) becomes this user's.
        byEmail = email ? (this.q.byEmail.get({ tenantId, email }) as LeadRow | undefined) : undefined;
        if (byEmail && byEmail.userId === null) {
          this.db.update(leads).set({ userId: event.userId }).where(eq(leads.id, byEmail.id)).run();
          lead = { ...byEmail, userId: event.userId };
        }
      }
    } else if (email) {
      lead = byEmail = this.q.byEmail.get({ tenantId, email }) as LeadRow | undefined;
    } else {
      // Anonymous identify: the traits stay on the event; the visitor's lead, if any, is kept.
      return { leadId: visitor.leadId };
    }
    if (!lead) {
      lead = this.createLead(tenantId, event.userId ?? null, email, event.timestamp);
      created = true;
    }
    const knownEmail = lead.email;

    this.mergeTraits(lead, traits, event.timestamp);

    // The same email on another lead: one person known twice. Keep the lead created first.
    // (No need to look when the lead already had this email: there is one live lead per email.)
    if (email && (knownEmail !== email || created)) {
      const other = byEmail !== null ? byEmail : (this.q.byEmail.get({ tenantId, email }) as LeadRow | undefined);
      if (other && other.id !== lead.id) {
        const [winner, loser] = other.createdAt <= lead.createdAt ? [other, lead] : [lead, other];
        this.merge(tenantId, loser, winner, "same_email", event, visitor);
        lead = this.live(this.q.byId.get({ id: winner.id }) as LeadRow)!;
      }
    }

    this.link(tenantId, visitor, lead.id, event);
    return { leadId: lead.id, created };
  }

  private alias(tenantId: string, event: CanonicalEvent, visitor: { id: string; leadId: string | null }): IdentityOutcome {
    const previousId = String(event.extra?.previousId);
    const userId = event.userId!;
    let created = false;
    let lead = this.live(this.q.byUserId.get({ tenantId, userId }) as LeadRow | undefined);
    if (!lead) {
      lead = this.createLead(tenantId, userId, null, event.timestamp);
      created = true;
    }
    const previousLead = this.live(this.q.byUserId.get({ tenantId, userId: previousId }) as LeadRow | undefined);
    if (previousLead && previousLead.id !== lead.id) {
      this.merge(tenantId, previousLead, lead, "alias", event, visitor);
    } else if (!previousLead) {
      // previousId names an anonymous visitor: link it to the user's lead.
      const previousVisitor = this.q.visitorByKey.get({ tenantId, key: previousId }) as { id: string; leadId: string | null } | undefined;
      if (previousVisitor) {
        this.link(tenantId, previousVisitor, lead.id, event);
        this.visitorsChanged();
      }
    }
    this.link(tenantId, visitor, lead.id, event);
    return { leadId: lead.id, created };
  }

  /** Follows merged_into to the lead that stands for the person now. */
  private live(lead: LeadRow | undefined): LeadRow | undefined {
    let current = lead;
    for (let hops = 0; current?.mergedInto && hops < 16; hops++) current = this.q.byId.get({ id: current.mergedInto }) as LeadRow | undefined;
    return current;
  }

  private createLead(tenantId: string, userId: string | null, email: string | null, at: number): LeadRow {
    const id = Bun.randomUUIDv7();
    this.q.insertLead.run({ id, tenantId, userId, email, at });
    return { id, userId, email, traits: "{}", traitTimes: "{}", groupId: null, createdAt: at, mergedInto: null };
  }

  /** Newer values win per trait, by event timestamp; null removes a trait. */
  private mergeTraits(lead: LeadRow, incoming: Json, at: number, incomingTimes?: Record<string, number>): void {
    const traits = JSON.parse(lead.traits) as Json;
    const times = JSON.parse(lead.traitTimes) as Record<string, number>;
    let changed = false;
    for (const [key, value] of Object.entries(incoming)) {
      const when = incomingTimes?.[key] ?? at;
      if (times[key] !== undefined && times[key]! > when) continue;
      times[key] = when;
      if (value === null) delete traits[key];
      else traits[key] = value;
      changed = true;
    }
    if (!changed) return;
    const email = normalizeEmail(traits.email) ?? (lead.userId === null ? lead.email : null);
    lead.traits = JSON.stringify(traits);
    lead.traitTimes = JSON.stringify(times);
    const saved = { id: lead.id, traits: lead.traits, traitTimes: lead.traitTimes, at: Date.now() };
    if (email === lead.email) this.q.saveLead.run(saved);
    else this.q.saveLeadAndEmail.run({ ...saved, email });
    lead.email = email;
  }

  /** Merges `loser` into `winner`; `visitor` (the event's, held in memory) is re-pointed too. */
  private merge(tenantId: string, loser: LeadRow, winner: LeadRow, reason: string, event: CanonicalEvent, visitor: { leadId: string | null }): void {
    this.mergeTraits(winner, JSON.parse(loser.traits), 0, JSON.parse(loser.traitTimes));
    this.db.update(leads).set({ mergedInto: winner.id, updatedAt: Date.now() }).where(eq(leads.id, loser.id)).run();
    if (!winner.groupId && loser.groupId) this.q.setGroup.run({ id: winner.id, groupId: loser.groupId, at: Date.now() });
    this.db.insert(leadMerges).values({ tenantId, fromLeadId: loser.id, intoLeadId: winner.id, reason, messageId: event.messageId, mergedAt: event.receivedAt }).run();
    this.db.update(identityLinks).set({ leadId: winner.id }).where(and(eq(identityLinks.tenantId, tenantId), eq(identityLinks.leadId, loser.id))).run();
    this.db.update(visitors).set({ leadId: winner.id }).where(and(eq(visitors.tenantId, tenantId), eq(visitors.leadId, loser.id))).run();
    this.db.update(events).set({ leadId: winner.id }).where(and(eq(events.tenantId, tenantId), eq(events.leadId, loser.id))).run();
    this.db.update(sessions).set({ leadId: winner.id }).where(and(eq(sessions.tenantId, tenantId), eq(sessions.leadId, loser.id))).run();
    if (visitor.leadId === loser.id) visitor.leadId = winner.id;
    this.visitorsChanged();
  }

  /** Links the visitor to the lead from this event on; its anonymous sessions become the lead's. */
  private link(tenantId: string, visitor: { id: string; leadId: string | null }, leadId: string, event: CanonicalEvent): void {
    if (visitor.leadId === leadId) return;
    const at = event.timestamp;
    if (visitor.leadId !== null) this.q.closeLinks.run({ tenantId, visitorId: visitor.id, at });
    this.q.insertLink.run({ tenantId, visitorId: visitor.id, leadId, messageId: event.messageId, at });
    this.q.setVisitorLead.run({ visitorId: visitor.id, leadId });
    this.q.attributeSessions.run({ tenantId, visitorId: visitor.id, leadId });
    visitor.leadId = leadId;
  }
}
