/**
 * Identity resolution on its own (no HTTP): the resolver over a real SQLite database in memory,
 * fed canonical events the way the pipeline feeds them. Fast checks of the rules that the
 * end-to-end tests (identity.test.ts, identity-trust.test.ts) exercise through a server.
 */
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { SqliteLeadReads } from "../src/db/sqlite/lead-reads";
import { LeadService } from "../src/modules/leads/service";
import { SqliteIdentityRows } from "../src/db/sqlite/identity";
import { IdentityResolver } from "../src/pipeline/identity";
import { followMerges, identityTime, MAX_MERGE_HOPS, mergeOrder } from "../src/pipeline/identity-rules";
import type { CanonicalEvent } from "../src/pipeline/model";
import type { CallTrust } from "../src/pipeline/ports";
import { memoryStore, T0, type MemoryStore } from "./helpers/memory-store";

const CLIENT: CallTrust = { serverSide: false };
const SERVER: CallTrust = { serverSide: true };

let store: MemoryStore;
let resolver: IdentityResolver;
let sequence = 0;

beforeEach(async () => {
  store = await memoryStore();
  resolver = new IdentityResolver(new SqliteIdentityRows(store.database.db), () => store.visitors.clear());
});
afterEach(() => store.database.close());

/** Runs one call through the visitor and identity steps, as the pipeline's writer does. */
function send(fields: Partial<CanonicalEvent> & Pick<CanonicalEvent, "type">, trust: CallTrust = CLIENT) {
  sequence++;
  const event: CanonicalEvent = { messageId: `m-${sequence}`, context: {}, timestamp: T0 + sequence * 1000, receivedAt: T0 + sequence * 1000, ...fields };
  const { visitor } = store.visitors.touch(store.tenantId, event);
  return resolver.resolve(store.tenantId, event, visitor, trust);
}
const identify = (userId: string | undefined, traits: Record<string, unknown> = {}, extra: Partial<CanonicalEvent> = {}, trust = CLIENT) =>
  send({ type: "identify", userId, anonymousId: extra.anonymousId ?? `device-of-${userId}`, traits, ...extra }, trust);
const alias = (previousId: string, userId: string, trust = CLIENT) =>
  send({ type: "alias", userId, anonymousId: `device-of-${userId}`, extra: { previousId } }, trust);
const lead = (userIdOrEmail: string) => new LeadService(new SqliteLeadReads(store.database.db)).findLead(store.tenantId, userIdOrEmail);

describe("merge chains", () => {
  test("a userId is followed to its person's lead through several merges", async () => {
    const ids = ["a", "b", "c", "d"].map((user) => identify(user, { [`from_${user}`]: true }).leadId!);
    // a into b, b into c, c into d: a's lead points at b, which points at c, which points at d.
    alias("a", "b", SERVER);
    alias("b", "c", SERVER);
    alias("c", "d", SERVER);
    expect((await lead("a"))!.id).toBe(ids[3]!);
    expect((await lead("a"))!.traits).toEqual({ from_a: true, from_b: true, from_c: true, from_d: true });
    // A track of user a from a new device is attributed to d's lead.
    expect(send({ type: "track", userId: "a", anonymousId: "new-device", event: "E" }).leadId).toBe(ids[3]!);
    // So is a further identify of user a: no new lead for a merged user.
    expect(identify("a", { again: true }, { anonymousId: "new-device" })).toEqual({ leadId: ids[3]!, created: false });
  });

  test("followMerges walks the chain, and stops after MAX_MERGE_HOPS on a damaged (cyclic) one", () => {
    const rows = new Map([
      ["1", { id: "1", mergedInto: "2" }],
      ["2", { id: "2", mergedInto: "3" }],
      ["3", { id: "3", mergedInto: null }],
      ["x", { id: "x", mergedInto: "y" }],
      ["y", { id: "y", mergedInto: "x" }],
    ]);
    let loads = 0;
    const byId = (id: string) => (loads++, rows.get(id));
    expect(followMerges(rows.get("1"), byId)?.id).toBe("3");
    expect(followMerges(undefined, byId)).toBeUndefined();
    loads = 0;
    followMerges(rows.get("x"), byId);
    expect(loads).toBe(MAX_MERGE_HOPS);
  });
});

describe("group", () => {
  test("sets the lead's account, which survives a merge into a lead without one", async () => {
    const buyer = identify("buyer").leadId!;
    expect(send({ type: "group", userId: "buyer", anonymousId: "device-of-buyer", extra: { groupId: "acme" } }).leadId).toBe(buyer);
    expect((await lead("buyer"))!.groupId).toBe("acme");
    const other = identify("buyer-2").leadId!;
    alias("buyer", "buyer-2", SERVER);
    expect((await lead("buyer"))!.id).toBe(other);
    expect((await lead("buyer-2"))!.groupId).toBe("acme");
  });

  test("a survivor keeps its own account", async () => {
    identify("p");
    send({ type: "group", userId: "p", anonymousId: "device-of-p", extra: { groupId: "old-co" } });
    identify("q");
    send({ type: "group", userId: "q", anonymousId: "device-of-q", extra: { groupId: "new-co" } });
    alias("p", "q", SERVER);
    expect((await lead("p"))!.groupId).toBe("new-co");
  });
});

describe("trust", () => {
  test("a client-side alias between two identified leads is a conflict naming the other lead; a server-side one merges", async () => {
    const victim = identify("victim").leadId!;
    const attacker = identify("attacker").leadId!;
    expect(alias("victim", "attacker")).toEqual({ leadId: attacker, created: false, conflict: { reason: "alias", otherLeadId: victim } });
    expect((await lead("victim"))!.id).toBe(victim);
    expect(alias("victim", "attacker", SERVER)).toEqual({ leadId: attacker, created: false });
    expect((await lead("victim"))!.id).toBe(attacker);
  });

  test("a client-side identify sharing an identified lead's email keeps the email on that lead only", async () => {
    const first = identify("first", { email: "Same@Example.com" }).leadId!;
    const second = identify("second", { email: "same@example.com" });
    expect(second).toMatchObject({ created: true, conflict: { reason: "same_email", otherLeadId: first } });
    expect(second.leadId).not.toBe(first);
    expect((await lead("same@example.com"))!.id).toBe(first);
    expect((await lead("second"))!.email).toBeNull();
    // Its own later identifies keep it apart, and its other traits still update.
    expect(identify("second", { plan: "pro" })).toEqual({ leadId: second.leadId, created: false });
    expect((await lead("second"))!.email).toBeNull();
    expect((await lead("second"))!.traits).toEqual({ email: "same@example.com", plan: "pro" });
  });

  test("an email-only identify reaches an identified lead only from a visitor linked to it, or server-side", async () => {
    const owner = identify("owner", { email: "owner@example.com" }, { anonymousId: "owner-phone" }).leadId!;
    expect(identify(undefined, { email: "owner@example.com", x: 1 }, { anonymousId: "stranger" })).toEqual({
      leadId: null,
      conflict: { reason: "email_only", otherLeadId: owner },
    });
    expect(identify(undefined, { email: "owner@example.com", y: 2 }, { anonymousId: "owner-phone" })).toEqual({ leadId: owner, created: false });
    expect(identify(undefined, { email: "owner@example.com", z: 3 }, { anonymousId: "crm-import" }, SERVER)).toEqual({ leadId: owner, created: false });
    expect((await lead("owner"))!.traits).toEqual({ email: "owner@example.com", y: 2, z: 3 });
  });
});

describe("time and order", () => {
  test("identityTime is the event time, never after its receipt", () => {
    expect(identityTime({ timestamp: T0 - 5, receivedAt: T0 })).toBe(T0 - 5);
    expect(identityTime({ timestamp: T0 + 23 * 3_600_000, receivedAt: T0 })).toBe(T0);
  });

  test("mergeOrder: a lead with a userId survives one without, whatever their ages; else the first created", () => {
    type Lead = { id: string; userId: string | null; createdAt: number };
    const old: Lead = { id: "old", userId: null, createdAt: 1 };
    const identified: Lead = { id: "new", userId: "u", createdAt: 2 };
    expect(mergeOrder(old, identified)).toEqual({ survivor: identified, absorbed: old });
    expect(mergeOrder(identified, old)).toEqual({ survivor: identified, absorbed: old });
    const older: Lead = { id: "older", userId: "a", createdAt: 1 };
    expect(mergeOrder(identified, older)).toEqual({ survivor: older, absorbed: identified });
    const twin: Lead = { id: "twin", userId: "b", createdAt: 2 };
    expect(mergeOrder(twin, identified)).toEqual({ survivor: twin, absorbed: identified });
  });
});
