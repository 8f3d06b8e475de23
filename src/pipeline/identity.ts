/**
 * Identity resolution: which lead (a tenant's known person) an event belongs to, and how
 * identify, alias and group calls change leads. Written once, over the store's plain lookups and
 * updates (IdentityRows, src/pipeline/ports.ts): each rule is a generator that yields the store's
 * answers, so SQLite runs it synchronously inside its transaction and PostgreSQL awaits each
 * answer inside its own (under the commit's locks), with the same decisions.
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
 */
import { normalizeEmail } from "../lib/email";
import { identityTime, MAX_MERGE_HOPS, mergeOrder } from "./identity-rules";
import type { CanonicalEvent, IdentityConflict } from "./model";
import type { CallTrust, IdentityOutcome, IdentityRows, IdentityStep, LeadRow, VisitorRef } from "./ports";

type Json = Record<string, unknown>;
/** A rule: yields the store's answers (values, or promises of them) and gets them back. */
type Rule<T> = Generator<unknown, T, unknown>;

/** One store call inside a rule: `yield* ask(rows.leadById(id))`. */
function* ask<T>(answer: T | Promise<T>): Rule<T> {
  return (yield answer) as T;
}

/** Runs a rule against a synchronous store (SQLite). */
export function runSync<T>(rule: Rule<T>): T {
  let step = rule.next();
  while (!step.done) step = rule.next(step.value);
  return step.value;
}

/** Runs a rule against an asynchronous store (PostgreSQL), one store call after another. */
export async function runAsync<T>(rule: Rule<T>): Promise<T> {
  let step = rule.next();
  while (!step.done) step = rule.next(await step.value);
  return step.value;
}

export class IdentityResolver implements IdentityStep {
  /**
   * `visitorsChanged` is told when visitors other than the event's own were re-linked (alias of
   * an anonymous id, merges), so that cached visitors are dropped. The event's own visitor object
   * is updated in place.
   */
  constructor(
    private readonly rows: IdentityRows,
    private readonly visitorsChanged: () => void = () => {},
  ) {}

  /** For a synchronous store: the IdentityStep the serial pipeline runs. */
  resolve(tenantId: string, event: CanonicalEvent, visitor: VisitorRef, trust: CallTrust): IdentityOutcome {
    return runSync(this.rule(tenantId, event, visitor, trust));
  }

  /** For an asynchronous store. */
  resolveAsync(tenantId: string, event: CanonicalEvent, visitor: VisitorRef, trust: CallTrust): Promise<IdentityOutcome> {
    return runAsync(this.rule(tenantId, event, visitor, trust));
  }

  /** Whether resolving this event may write (identify, alias, group); other calls only read. */
  static writes(event: CanonicalEvent): boolean {
    return event.type === "identify" || event.type === "alias" || event.type === "group";
  }

  *rule(tenantId: string, event: CanonicalEvent, visitor: VisitorRef, trust: CallTrust): Rule<IdentityOutcome> {
    switch (event.type) {
      case "identify":
        return event.userId !== undefined
          ? yield* this.identifyUser(tenantId, event, event.userId, visitor, trust)
          : yield* this.identifyByEmail(tenantId, event, visitor, trust);
      case "alias":
        return yield* this.alias(tenantId, event, visitor, trust);
      case "group": {
        const leadId = yield* this.attributed(tenantId, event, visitor);
        if (leadId) yield* ask(this.rows.setGroup(tenantId, leadId, String(event.extra?.groupId), event.timestamp));
        return { leadId };
      }
      default:
        return { leadId: yield* this.attributed(tenantId, event, visitor) };
    }
  }

  private *attributed(tenantId: string, event: CanonicalEvent, visitor: VisitorRef): Rule<string | null> {
    if (visitor.leadId) return visitor.leadId;
    if (event.userId === undefined) return null;
    return (yield* this.leadOfUser(tenantId, event.userId))?.id ?? null;
  }

  /** An identify with a userId: that user's lead, created or updated; an email may join another lead to it. */
  private *identifyUser(tenantId: string, event: CanonicalEvent, userId: string, visitor: VisitorRef, trust: CallTrust): Rule<IdentityOutcome> {
    const traits = event.traits ?? {};
    const email = normalizeEmail(traits.email);
    const at = identityTime(event);
    let lead = yield* this.leadOfUser(tenantId, userId);
    // The live lead known by this email, looked up only when it is not this lead's email already
    // (there is one live lead per email: a lead kept apart does not take the email).
    let emailLead = email && lead?.email !== email ? yield* ask(this.rows.leadByEmail(tenantId, email)) : undefined;
    if (!lead && emailLead && emailLead.userId === null) {
      // A lead known by email only (identified without a userId before) becomes this user's.
      yield* ask(this.rows.setLeadUserId(tenantId, emailLead.id, userId));
      lead = { ...emailLead, userId };
      emailLead = undefined;
    }
    const other = emailLead && emailLead.id !== lead?.id ? emailLead : undefined;
    // Both leads have a userId here (this one is keyed by it): two people unless a server says otherwise.
    const conflict: IdentityConflict | undefined =
      other && other.userId !== null && !trust.serverSide ? { reason: "same_email", otherLeadId: other.id } : undefined;
    let created = false;
    if (!lead) {
      lead = yield* this.createLead(tenantId, userId, conflict ? null : email, event.timestamp, { traits, at, keepEmail: conflict !== undefined });
      created = true;
    } else yield* this.mergeTraits(tenantId, lead, traits, at, undefined, conflict !== undefined);
    if (other && !conflict) {
      const { survivor, absorbed } = mergeOrder(other, lead);
      yield* this.merge(tenantId, absorbed, survivor, "same_email", event, visitor);
      lead = (yield* this.leadById(tenantId, survivor.id))!;
    }
    yield* this.link(tenantId, visitor, lead.id, event);
    return conflict ? { leadId: lead.id, created, conflict } : { leadId: lead.id, created };
  }

  /**
   * An identify without a userId: with an email, the lead known by it (created when unknown);
   * without, the traits stay on the event and the visitor keeps its lead, if any.
   */
  private *identifyByEmail(tenantId: string, event: CanonicalEvent, visitor: VisitorRef, trust: CallTrust): Rule<IdentityOutcome> {
    const traits = event.traits ?? {};
    const email = normalizeEmail(traits.email);
    if (!email) return { leadId: visitor.leadId };
    let lead = yield* ask(this.rows.leadByEmail(tenantId, email));
    // Naming an identified person's email proves nothing from a client; their own visitor may.
    if (lead && lead.userId !== null && lead.id !== visitor.leadId && !trust.serverSide) {
      return { leadId: visitor.leadId, conflict: { reason: "email_only", otherLeadId: lead.id } };
    }
    let created = false;
    if (!lead) {
      lead = yield* this.createLead(tenantId, null, email, event.timestamp, { traits, at: identityTime(event) });
      created = true;
    } else yield* this.mergeTraits(tenantId, lead, traits, identityTime(event));
    yield* this.link(tenantId, visitor, lead.id, event);
    return { leadId: lead.id, created };
  }

  /** alias: `previousId` (an earlier userId, or an anonymous visitor) is the user `userId`. */
  private *alias(tenantId: string, event: CanonicalEvent, visitor: VisitorRef, trust: CallTrust): Rule<IdentityOutcome> {
    const previousId = String(event.extra?.previousId);
    const userId = event.userId!;
    let created = false;
    let lead = yield* this.leadOfUser(tenantId, userId);
    if (!lead) {
      lead = yield* this.createLead(tenantId, userId, null, event.timestamp);
      created = true;
    }
    let conflict: IdentityConflict | undefined;
    const previousLead = yield* this.leadOfUser(tenantId, previousId);
    if (previousLead && previousLead.id !== lead.id) {
      if (previousLead.userId !== null && !trust.serverSide) conflict = { reason: "alias", otherLeadId: previousLead.id };
      else yield* this.merge(tenantId, previousLead, lead, "alias", event, visitor);
    } else if (!previousLead) {
      // previousId names an anonymous visitor: link it to the user's lead, unless it is another
      // identified person's (re-linking their device would hand their next events to this user).
      const previousVisitor = yield* ask(this.rows.visitorByKey(tenantId, previousId));
      const linkedTo = previousVisitor?.leadId && previousVisitor.leadId !== lead.id ? yield* this.leadById(tenantId, previousVisitor.leadId) : undefined;
      if (linkedTo && linkedTo.userId !== null && !trust.serverSide) {
        conflict = { reason: "alias", otherLeadId: linkedTo.id };
      } else if (previousVisitor) {
        yield* this.link(tenantId, previousVisitor, lead.id, event);
        this.visitorsChanged();
      }
    }
    yield* this.link(tenantId, visitor, lead.id, event);
    return conflict ? { leadId: lead.id, created, conflict } : { leadId: lead.id, created };
  }

  /** Follows merged_into to the lead that stands for the person now (identity-rules.ts followMerges, one store call per hop). */
  private *followMerges(tenantId: string, lead: LeadRow | undefined): Rule<LeadRow | undefined> {
    let current = lead;
    for (let hops = 0; current?.mergedInto && hops < MAX_MERGE_HOPS; hops++) current = yield* ask(this.rows.leadById(tenantId, current.mergedInto));
    return current;
  }

  private *leadById(tenantId: string, id: string): Rule<LeadRow | undefined> {
    return yield* this.followMerges(tenantId, yield* ask(this.rows.leadById(tenantId, id)));
  }

  private *leadOfUser(tenantId: string, userId: string): Rule<LeadRow | undefined> {
    return yield* this.followMerges(tenantId, yield* ask(this.rows.leadByUserId(tenantId, userId)));
  }

  /**
   * A new lead, with the call's traits merged in before its row is written: one insert, where
   * an insert and then the update of mergeTraits would write the same row twice.
   */
  private *createLead(
    tenantId: string,
    userId: string | null,
    email: string | null,
    at: number,
    incoming?: { traits: Json; at: number; keepEmail?: boolean },
  ): Rule<LeadRow> {
    const lead: LeadRow = { id: Bun.randomUUIDv7(), userId, email, traits: {}, traitTimes: {}, groupId: null, createdAt: at, mergedInto: null };
    const change = incoming && mergedTraits(lead, incoming.traits, incoming.at, undefined, incoming.keepEmail);
    if (change) Object.assign(lead, { traits: change.traits, traitTimes: change.traitTimes, email: change.email });
    // updated_at as after mergeTraits' update: when the traits were merged, else the creation.
    yield* ask(this.rows.insertLead(tenantId, lead, change ? Date.now() : at));
    return lead;
  }

  private *mergeTraits(tenantId: string, lead: LeadRow, incoming: Json, at: number, incomingTimes?: Record<string, number>, keepEmail = false): Rule<void> {
    const change = mergedTraits(lead, incoming, at, incomingTimes, keepEmail);
    if (!change) return;
    const { traits, traitTimes, email } = change;
    lead.traits = traits;
    lead.traitTimes = traitTimes;
    yield* ask(this.rows.saveLead(tenantId, lead.id, { traits, traitTimes, email: email === lead.email ? undefined : email, at: Date.now() }));
    lead.email = email;
  }

  /** Merges `absorbed` into `survivor`; `visitor` (the event's, held in memory) is re-pointed too. */
  private *merge(
    tenantId: string,
    absorbed: LeadRow,
    survivor: LeadRow,
    reason: string,
    event: CanonicalEvent,
    visitor: { leadId: string | null },
  ): Rule<void> {
    yield* this.mergeTraits(tenantId, survivor, absorbed.traits, 0, absorbed.traitTimes);
    const now = Date.now();
    yield* ask(this.rows.markMerged(tenantId, absorbed.id, survivor.id, now));
    if (!survivor.groupId && absorbed.groupId) yield* ask(this.rows.setGroup(tenantId, survivor.id, absorbed.groupId, now));
    yield* ask(
      this.rows.insertMerge({ tenantId, fromLeadId: absorbed.id, intoLeadId: survivor.id, reason, messageId: event.messageId, mergedAt: event.receivedAt }),
    );
    yield* ask(this.rows.repointLead(tenantId, absorbed.id, survivor.id));
    if (visitor.leadId === absorbed.id) visitor.leadId = survivor.id;
    this.visitorsChanged();
  }

  /** Links the visitor to the lead from this event on; its anonymous sessions become the lead's. */
  private *link(tenantId: string, visitor: VisitorRef, leadId: string, event: CanonicalEvent): Rule<void> {
    if (visitor.leadId === leadId) return;
    yield* ask(
      this.rows.link({ tenantId, visitorId: visitor.id, leadId, previousLeadId: visitor.leadId, messageId: event.messageId, at: identityTime(event) }),
    );
    visitor.leadId = leadId;
  }
}

/**
 * A lead's traits with `incoming` merged in, or undefined when nothing changes. Newer values win
 * per trait, by time; null removes a trait. The lead's email (what it is known by) follows its
 * email trait, except under `keepEmail`: a lead kept apart from the lead that has that email
 * holds it as a trait only.
 */
function mergedTraits(
  lead: LeadRow,
  incoming: Json,
  at: number,
  incomingTimes?: Record<string, number>,
  keepEmail = false,
): { traits: Json; traitTimes: Record<string, number>; email: string | null } | undefined {
  const traits = { ...lead.traits };
  const times = { ...lead.traitTimes };
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
  if (!changed) return undefined;
  const email = emailChanged && !keepEmail ? (normalizeEmail(traits.email) ?? (lead.userId === null ? lead.email : null)) : lead.email;
  return { traits, traitTimes: times, email };
}
