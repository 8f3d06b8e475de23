/**
 * Identity resolution: which lead (a tenant's known person) an event belongs to, and how
 * identify, alias and group calls change leads. Runs inside the writer's transaction, so
 * concurrent identifies of one user are processed one after another and make one lead.
 *
 * Rules (docs/identity.md):
 * - A lead is keyed by userId, or by email (case-insensitive) where there is no userId.
 * - identify creates the lead when unknown and merges traits into it: per trait, the value from
 *   the identify with the newest time wins (a replayed older identify does not overwrite newer
 *   traits); `null` removes a trait. That time is the event's, but never later than when Inlet
 *   received it: a future timestamp cannot freeze a trait.
 * - The event's visitor is linked to the lead (an identity_links row: when, by which message).
 *   Its earlier anonymous events become the lead's: its sessions without a lead get it
 *   (sessions.lead_id), and an event's lead is its own lead_id, else its session's.
 * - Shared device: a visitor already linked to another lead is re-linked from now on; the old
 *   link is closed (unlinkedAt) and the events before keep their lead.
 * - One person, two leads (the same email under another lead, or an alias call): the lead
 *   without a userId is absorbed by the one with a userId; of two leads with a userId, the newer
 *   is merged into the one created first (alias: into the userId's lead), with a lead_merges
 *   record, traits merged by time, and visitors, links and events re-pointed.
 * - Trust: anyone holding a write key (public, in web pages) can send any call, so a call from a
 *   client-side key never merges two leads that each have their own userId, nor writes to a lead
 *   with a userId by naming its email alone. Such a call is kept apart and its outcome carries an
 *   IdentityConflict; only a server key's call (CallTrust.serverSide) may merge them.
 * - The answer names the lead of the identity the call claims (its userId, else its email), never
 *   a lead it was kept apart from.
 * - Other calls carry their visitor's lead; a call with a userId whose visitor is not linked is
 *   attributed to that userId's lead when it exists (without linking).
 *
 * The rules are written over plain lookups and updates (by id, userId, email, visitor key), so
 * another store can run them unchanged.
 */
import { and, eq, isNull, sql } from "drizzle-orm";
import { normalizeEmail } from "../../lib/email";
import { followMerges, identityTime, mergeOrder } from "../../pipeline/identity-rules";
import type { CanonicalEvent, IdentityConflict } from "../../pipeline/model";
import type { CallTrust, IdentityOutcome, IdentityStep, VisitorRef } from "../../pipeline/ports";
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

const placeholder = (name: string) => sql.placeholder(name);
/** A placeholder where drizzle's types want an SQL value (update sets). */
const value = (name: string) => sql`${sql.placeholder(name)}`;

export class IdentityResolver implements IdentityStep {
  private readonly queries;

  /**
   * `visitorsChanged` is told when visitors other than the event's own were re-linked (alias of
   * an anonymous id, merges), so that cached visitors (src/db/sqlite/visitors.ts) are dropped.
   * The event's own visitor object is updated in place.
   */
  constructor(
    private readonly db: Db,
    private readonly visitorsChanged: () => void = () => {},
  ) {
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
    this.queries = {
      byId: db
        .select(leadColumns)
        .from(leads)
        .where(eq(leads.id, placeholder("id")))
        .prepare(),
      byUserId: db
        .select(leadColumns)
        .from(leads)
        .where(and(eq(leads.tenantId, placeholder("tenantId")), eq(leads.userId, placeholder("userId"))))
        .prepare(),
      byEmail: db
        .select(leadColumns)
        .from(leads)
        .where(and(eq(leads.tenantId, placeholder("tenantId")), eq(leads.email, placeholder("email")), isNull(leads.mergedInto)))
        .orderBy(leads.createdAt)
        .limit(1)
        .prepare(),
      insertLead: db
        .insert(leads)
        .values({
          id: placeholder("id"),
          tenantId: placeholder("tenantId"),
          userId: placeholder("userId"),
          email: placeholder("email"),
          traits: "{}",
          traitTimes: "{}",
          createdAt: placeholder("at"),
          updatedAt: placeholder("at"),
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

  resolve(tenantId: string, event: CanonicalEvent, visitor: VisitorRef, trust: CallTrust): IdentityOutcome {
    switch (event.type) {
      case "identify":
        return event.userId !== undefined
          ? this.identifyUser(tenantId, event, event.userId, visitor, trust)
          : this.identifyByEmail(tenantId, event, visitor, trust);
      case "alias":
        return this.alias(tenantId, event, visitor, trust);
      case "group": {
        const leadId = this.attributed(tenantId, event, visitor);
        if (leadId) this.queries.setGroup.run({ id: leadId, groupId: String(event.extra?.groupId), at: event.timestamp });
        return { leadId };
      }
      default:
        return { leadId: this.attributed(tenantId, event, visitor) };
    }
  }

  private attributed(tenantId: string, event: CanonicalEvent, visitor: VisitorRef): string | null {
    if (visitor.leadId) return visitor.leadId;
    if (event.userId === undefined) return null;
    return this.leadOfUser(tenantId, event.userId)?.id ?? null;
  }

  /** An identify with a userId: that user's lead, created or updated; an email may join another lead to it. */
  private identifyUser(tenantId: string, event: CanonicalEvent, userId: string, visitor: VisitorRef, trust: CallTrust): IdentityOutcome {
    const traits = event.traits ?? {};
    const email = normalizeEmail(traits.email);
    const at = identityTime(event);
    let lead = this.leadOfUser(tenantId, userId);
    // The live lead known by this email, looked up only when it is not this lead's email already
    // (there is one live lead per email: a lead kept apart does not take the email).
    let emailLead = email && lead?.email !== email ? this.leadOfEmail(tenantId, email) : undefined;
    if (!lead && emailLead && emailLead.userId === null) {
      // A lead known by email only (identified without a userId before) becomes this user's.
      this.db.update(leads).set({ userId }).where(eq(leads.id, emailLead.id)).run();
      lead = { ...emailLead, userId };
      emailLead = undefined;
    }
    const other = emailLead && emailLead.id !== lead?.id ? emailLead : undefined;
    // Both leads have a userId here (this one is keyed by it): two people unless a server says otherwise.
    const conflict: IdentityConflict | undefined =
      other && other.userId !== null && !trust.serverSide ? { reason: "same_email", otherLeadId: other.id } : undefined;
    let created = false;
    if (!lead) {
      lead = this.createLead(tenantId, userId, conflict ? null : email, event.timestamp);
      created = true;
    }
    this.mergeTraits(lead, traits, at, undefined, conflict !== undefined);
    if (other && !conflict) {
      const { survivor, absorbed } = mergeOrder(other, lead);
      this.merge(tenantId, absorbed, survivor, "same_email", event, visitor);
      lead = this.leadById(survivor.id)!;
    }
    this.link(tenantId, visitor, lead.id, event);
    return conflict ? { leadId: lead.id, created, conflict } : { leadId: lead.id, created };
  }

  /**
   * An identify without a userId: with an email, the lead known by it (created when unknown);
   * without, the traits stay on the event and the visitor keeps its lead, if any.
   */
  private identifyByEmail(tenantId: string, event: CanonicalEvent, visitor: VisitorRef, trust: CallTrust): IdentityOutcome {
    const traits = event.traits ?? {};
    const email = normalizeEmail(traits.email);
    if (!email) return { leadId: visitor.leadId };
    let lead = this.leadOfEmail(tenantId, email);
    // Naming an identified person's email proves nothing from a client; their own visitor may.
    if (lead && lead.userId !== null && lead.id !== visitor.leadId && !trust.serverSide) {
      return { leadId: visitor.leadId, conflict: { reason: "email_only", otherLeadId: lead.id } };
    }
    let created = false;
    if (!lead) {
      lead = this.createLead(tenantId, null, email, event.timestamp);
      created = true;
    }
    this.mergeTraits(lead, traits, identityTime(event));
    this.link(tenantId, visitor, lead.id, event);
    return { leadId: lead.id, created };
  }

  /** alias: `previousId` (an earlier userId, or an anonymous visitor) is the user `userId`. */
  private alias(tenantId: string, event: CanonicalEvent, visitor: VisitorRef, trust: CallTrust): IdentityOutcome {
    const previousId = String(event.extra?.previousId);
    const userId = event.userId!;
    let created = false;
    let lead = this.leadOfUser(tenantId, userId);
    if (!lead) {
      lead = this.createLead(tenantId, userId, null, event.timestamp);
      created = true;
    }
    let conflict: IdentityConflict | undefined;
    const previousLead = this.leadOfUser(tenantId, previousId);
    if (previousLead && previousLead.id !== lead.id) {
      if (previousLead.userId !== null && !trust.serverSide) conflict = { reason: "alias", otherLeadId: previousLead.id };
      else this.merge(tenantId, previousLead, lead, "alias", event, visitor);
    } else if (!previousLead) {
      // previousId names an anonymous visitor: link it to the user's lead, unless it is another
      // identified person's (re-linking their device would hand their next events to this user).
      const previousVisitor = this.queries.visitorByKey.get({ tenantId, key: previousId }) as VisitorRef | undefined;
      const linkedTo = previousVisitor?.leadId && previousVisitor.leadId !== lead.id ? this.leadById(previousVisitor.leadId) : undefined;
      if (linkedTo && linkedTo.userId !== null && !trust.serverSide) {
        conflict = { reason: "alias", otherLeadId: linkedTo.id };
      } else if (previousVisitor) {
        this.link(tenantId, previousVisitor, lead.id, event);
        this.visitorsChanged();
      }
    }
    this.link(tenantId, visitor, lead.id, event);
    return conflict ? { leadId: lead.id, created, conflict } : { leadId: lead.id, created };
  }

  private leadById(id: string): LeadRow | undefined {
    return followMerges(this.queries.byId.get({ id }) as LeadRow | undefined, this.loadLead);
  }

  private leadOfUser(tenantId: string, userId: string): LeadRow | undefined {
    return followMerges(this.queries.byUserId.get({ tenantId, userId }) as LeadRow | undefined, this.loadLead);
  }

  /** The live lead known by this email (merges and conflicts keep it to one). */
  private leadOfEmail(tenantId: string, email: string): LeadRow | undefined {
    return this.queries.byEmail.get({ tenantId, email }) as LeadRow | undefined;
  }

  private readonly loadLead = (id: string) => this.queries.byId.get({ id }) as LeadRow | undefined;

  private createLead(tenantId: string, userId: string | null, email: string | null, at: number): LeadRow {
    const id = Bun.randomUUIDv7();
    this.queries.insertLead.run({ id, tenantId, userId, email, at });
    return { id, userId, email, traits: "{}", traitTimes: "{}", groupId: null, createdAt: at, mergedInto: null };
  }

  /**
   * Newer values win per trait, by time; null removes a trait. The lead's email (what it is known
   * by) follows its email trait, except under `keepEmail`: a lead kept apart from the lead that
   * has that email holds it as a trait only.
   */
  private mergeTraits(lead: LeadRow, incoming: Json, at: number, incomingTimes?: Record<string, number>, keepEmail = false): void {
    const traits = JSON.parse(lead.traits) as Json;
    const times = JSON.parse(lead.traitTimes) as Record<string, number>;
    let changed = false;
    let emailChanged = false;
    for (const [key, traitValue] of Object.entries(incoming)) {
      const when = incomingTimes?.[key] ?? at;
      if (times[key] !== undefined && times[key]! > when) continue;
      times[key] = when;
      if (traitValue === null) delete traits[key];
      else traits[key] = traitValue;
      changed = true;
      if (key === "email") emailChanged = true;
    }
    if (!changed) return;
    const email = emailChanged && !keepEmail ? (normalizeEmail(traits.email) ?? (lead.userId === null ? lead.email : null)) : lead.email;
    lead.traits = JSON.stringify(traits);
    lead.traitTimes = JSON.stringify(times);
    const saved = { id: lead.id, traits: lead.traits, traitTimes: lead.traitTimes, at: Date.now() };
    if (email === lead.email) this.queries.saveLead.run(saved);
    else this.queries.saveLeadAndEmail.run({ ...saved, email });
    lead.email = email;
  }

  /** Merges `absorbed` into `survivor`; `visitor` (the event's, held in memory) is re-pointed too. */
  private merge(tenantId: string, absorbed: LeadRow, survivor: LeadRow, reason: string, event: CanonicalEvent, visitor: { leadId: string | null }): void {
    this.mergeTraits(survivor, JSON.parse(absorbed.traits), 0, JSON.parse(absorbed.traitTimes));
    const now = Date.now();
    this.db.update(leads).set({ mergedInto: survivor.id, updatedAt: now }).where(eq(leads.id, absorbed.id)).run();
    if (!survivor.groupId && absorbed.groupId) this.queries.setGroup.run({ id: survivor.id, groupId: absorbed.groupId, at: now });
    this.db
      .insert(leadMerges)
      .values({ tenantId, fromLeadId: absorbed.id, intoLeadId: survivor.id, reason, messageId: event.messageId, mergedAt: event.receivedAt })
      .run();
    this.db
      .update(identityLinks)
      .set({ leadId: survivor.id })
      .where(and(eq(identityLinks.tenantId, tenantId), eq(identityLinks.leadId, absorbed.id)))
      .run();
    this.db
      .update(visitors)
      .set({ leadId: survivor.id })
      .where(and(eq(visitors.tenantId, tenantId), eq(visitors.leadId, absorbed.id)))
      .run();
    this.db
      .update(events)
      .set({ leadId: survivor.id })
      .where(and(eq(events.tenantId, tenantId), eq(events.leadId, absorbed.id)))
      .run();
    this.db
      .update(sessions)
      .set({ leadId: survivor.id })
      .where(and(eq(sessions.tenantId, tenantId), eq(sessions.leadId, absorbed.id)))
      .run();
    if (visitor.leadId === absorbed.id) visitor.leadId = survivor.id;
    this.visitorsChanged();
  }

  /** Links the visitor to the lead from this event on; its anonymous sessions become the lead's. */
  private link(tenantId: string, visitor: VisitorRef, leadId: string, event: CanonicalEvent): void {
    if (visitor.leadId === leadId) return;
    const at = identityTime(event);
    if (visitor.leadId !== null) this.queries.closeLinks.run({ tenantId, visitorId: visitor.id, at });
    this.queries.insertLink.run({ tenantId, visitorId: visitor.id, leadId, messageId: event.messageId, at });
    this.queries.setVisitorLead.run({ visitorId: visitor.id, leadId });
    this.queries.attributeSessions.run({ tenantId, visitorId: visitor.id, leadId });
    visitor.leadId = leadId;
  }
}
