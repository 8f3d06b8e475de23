/**
 * The identity rules that do not depend on a store: how merge chains are followed, what time an
 * identity change is dated by, and which of two leads survives a merge. The store's identity
 * resolver (src/db/sqlite/identity.ts) applies them; src/modules/leads reads leads through them.
 */
import type { CanonicalEvent } from "./model";

/**
 * How many merged_into pointers a lookup follows. A merge points the absorbed lead at the
 * survivor, so a chain grows by one each time a survivor is itself absorbed; a person merged more
 * often than this is beyond any real history, and the bound stops a damaged (cyclic) chain.
 */
export const MAX_MERGE_HOPS = 16;

/** Follows merged_into from `lead` to the lead that stands for the person now. */
export function followMerges<Lead extends { mergedInto: string | null }>(lead: Lead | undefined, byId: (id: string) => Lead | undefined): Lead | undefined {
  let current = lead;
  for (let hops = 0; current?.mergedInto && hops < MAX_MERGE_HOPS; hops++) current = byId(current.mergedInto);
  return current;
}

/**
 * The time an identity change is dated by: the event's time, but never after Inlet received it
 * (a client may send a timestamp up to a day ahead; it must not win every later update).
 */
export function identityTime(event: Pick<CanonicalEvent, "timestamp" | "receivedAt">): number {
  return Math.min(event.timestamp, event.receivedAt);
}

/**
 * Of two leads known to be one person, the one that survives: a lead with a userId absorbs one
 * without (it keeps resolving that userId, and an email-only lead never takes in an identified
 * person's history); otherwise the one created first.
 */
export function mergeOrder<Lead extends { userId: string | null; createdAt: number }>(a: Lead, b: Lead): { survivor: Lead; absorbed: Lead } {
  if ((a.userId === null) !== (b.userId === null)) return a.userId !== null ? { survivor: a, absorbed: b } : { survivor: b, absorbed: a };
  return b.createdAt < a.createdAt ? { survivor: b, absorbed: a } : { survivor: a, absorbed: b };
}
