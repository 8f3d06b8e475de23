import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { cli, exportEvents, startTestServer, type TestServer, storeEnv } from "./helpers/server";
import { storeRows } from "./helpers/store-rows";

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(() => server.stop());

const identify = (key: string, body: Record<string, unknown>) => server.post("/v1/events/identify", body, { key });
const leadShow = async (tenantId: string, who: string) => {
  const result = await cli(["lead", "show", "--tenant", tenantId, who], storeEnv(server.dbPath));
  return result.code === 0 ? JSON.parse(result.stdout) : null;
};
const query = (sql: string, ...params: string[]) => storeRows(server.dbPath, sql, ...params);
const ts = (iso: string) => new Date(iso).toISOString();
/** A server key (secret, for backends) of the tenant: the only client-side way to merge two identified leads. */
const serverKey = async (tenantId: string) => (await server.running.services.tenants.createKey(tenantId, "server")).key;

describe("identify", () => {
  test("creates the lead, then updates it; the answer says which", async () => {
    const t = await server.tenant("i1");
    const first = await identify(t.writeKey, { userId: "u-1", anonymousId: "anon-1", traits: { email: "Ada@Example.com", name: "Ada" } });
    expect(first.status).toBe(200);
    const a = await first.json();
    expect(a).toMatchObject({ success: true, status: "accepted", created: true });
    expect(typeof a.leadId).toBe("string");
    const second = await (await identify(t.writeKey, { userId: "u-1", traits: { plan: "pro" } })).json();
    expect(second).toMatchObject({ leadId: a.leadId, created: false });
    const lead = await leadShow(t.tenantId, "u-1");
    expect(lead.traits).toEqual({ email: "Ada@Example.com", name: "Ada", plan: "pro" });
    expect(lead.email).toBe("ada@example.com");
    // Every identify is kept as an event.
    const stored = await exportEvents(server.dbPath, t.tenantId, ["--type", "identify"]);
    expect(stored).toHaveLength(2);
    expect(stored.every((e) => e.leadId === a.leadId)).toBe(true);
    // The lead is found by email too.
    expect((await leadShow(t.tenantId, "ada@example.com")).leadId).toBe(a.leadId);
  });

  test("an invalid email trait is a 400; null removes a trait", async () => {
    const t = await server.tenant("i2");
    const bad = await identify(t.writeKey, { userId: "u", traits: { email: "nope" } });
    expect(bad.status).toBe(400);
    expect((await bad.json()).error.details[0].path).toBe("/traits/email");
    await identify(t.writeKey, { userId: "u", traits: { email: "u@example.com", phone: "123" }, timestamp: ts("2026-01-01") });
    await identify(t.writeKey, { userId: "u", traits: { phone: null }, timestamp: ts("2026-01-02") });
    expect((await leadShow(t.tenantId, "u")).traits).toEqual({ email: "u@example.com" });
  });

  test("newer traits win by event timestamp: a replayed older identify does not overwrite them", async () => {
    const t = await server.tenant("i3");
    await identify(t.writeKey, { userId: "u", traits: { plan: "enterprise", name: "New" }, timestamp: ts("2026-06-01") });
    await identify(t.writeKey, { userId: "u", traits: { plan: "free", name: "Old", company: "Acme" }, timestamp: ts("2026-01-01") });
    expect((await leadShow(t.tenantId, "u")).traits).toEqual({ plan: "enterprise", name: "New", company: "Acme" });
  });

  test("the visitor's earlier anonymous events are attributed to the lead after identify", async () => {
    const t = await server.tenant("i4");
    for (const i of [1, 2, 3]) await server.track({ event: `Anon ${i}`, anonymousId: "visitor-x" }, { key: t.writeKey });
    const before = await exportEvents(server.dbPath, t.tenantId);
    expect(before.every((e) => e.leadId === undefined)).toBe(true);
    const { leadId } = await (await identify(t.writeKey, { userId: "buyer", anonymousId: "visitor-x" })).json();
    await server.track({ event: "After", anonymousId: "visitor-x" }, { key: t.writeKey });
    const after = await exportEvents(server.dbPath, t.tenantId);
    expect(after).toHaveLength(5);
    expect(after.every((e) => e.leadId === leadId)).toBe(true);
    const lead = await leadShow(t.tenantId, "buyer");
    expect(lead.visitors).toHaveLength(1);
    expect(lead.visitors[0]).toMatchObject({ anonymousId: "visitor-x", unlinkedAt: null });
    expect(lead.eventCount).toBe(5);
    expect(lead.sessionCount).toBe(1);
  });

  test("a shared device: a visitor linked to another lead is re-linked from then on, history kept", async () => {
    const t = await server.tenant("i5");
    const alice = (await (await identify(t.writeKey, { userId: "alice", anonymousId: "family-pc" })).json()).leadId;
    await server.track({ event: "Alice browses", anonymousId: "family-pc" }, { key: t.writeKey });
    const bob = (await (await identify(t.writeKey, { userId: "bob", anonymousId: "family-pc" })).json()).leadId;
    await server.track({ event: "Bob browses", anonymousId: "family-pc" }, { key: t.writeKey });
    expect(bob).not.toBe(alice);
    const stored = await exportEvents(server.dbPath, t.tenantId, ["--type", "track"]);
    expect(stored.find((e) => e.event === "Alice browses")!.leadId).toBe(alice);
    expect(stored.find((e) => e.event === "Bob browses")!.leadId).toBe(bob);
    const aliceLead = await leadShow(t.tenantId, "alice");
    expect(aliceLead.visitors[0].unlinkedAt).not.toBeNull();
    const bobLead = await leadShow(t.tenantId, "bob");
    expect(bobLead.visitors[0].unlinkedAt).toBeNull();
  });

  test("with a server key, two leads with the same email are merged into the first, with a record, links and events re-pointed", async () => {
    const t = await server.tenant("i6");
    const backend = await serverKey(t.tenantId);
    const first = (await (await identify(t.writeKey, { userId: "crm-1", anonymousId: "laptop", traits: { email: "sam@example.com", role: "cto" } })).json())
      .leadId;
    await server.track({ event: "On laptop", anonymousId: "laptop" }, { key: t.writeKey });
    const second = (await (await identify(t.writeKey, { userId: "app-9", anonymousId: "phone", traits: { name: "Sam" } })).json()).leadId;
    await server.track({ event: "On phone", anonymousId: "phone" }, { key: t.writeKey });
    expect(second).not.toBe(first);
    // The app user turns out to have the same email: one person.
    const merged = await (await identify(backend, { userId: "app-9", anonymousId: "phone", traits: { email: "SAM@example.com" } })).json();
    expect(merged.leadId).toBe(first);
    const lead = await leadShow(t.tenantId, "app-9");
    expect(lead.leadId).toBe(first);
    expect(lead.traits).toMatchObject({ role: "cto", name: "Sam" });
    expect(lead.mergedFrom).toHaveLength(1);
    expect(lead.mergedFrom[0]).toMatchObject({ fromLeadId: second, reason: "same_email" });
    expect(lead.visitors.map((v: { anonymousId: string }) => v.anonymousId).sort()).toEqual(["laptop", "phone"]);
    const stored = await exportEvents(server.dbPath, t.tenantId);
    expect(stored.every((e) => e.leadId === first)).toBe(true);
    const merges = await query("SELECT * FROM lead_merges WHERE tenant_id = ?", t.tenantId);
    expect(merges).toHaveLength(1);
  });

  test("a changed email moves the lead: found by the new one, not the old; only the new one merges (server key)", async () => {
    const t = await server.tenant("i6b");
    const lee = (await (await identify(t.writeKey, { userId: "lee", traits: { email: "lee@old.example", plan: "free" } })).json()).leadId;
    // Same email again (only another trait changes), then a new email.
    await identify(t.writeKey, { userId: "lee", traits: { email: "lee@old.example", plan: "pro" } });
    expect((await leadShow(t.tenantId, "lee@old.example"))?.leadId).toBe(lee);
    await identify(t.writeKey, { userId: "lee", traits: { email: "Lee@New.example" } });
    expect((await leadShow(t.tenantId, "lee@new.example"))?.leadId).toBe(lee);
    expect(await leadShow(t.tenantId, "lee@old.example")).toBeNull();
    const other = (await (await identify(t.writeKey, { userId: "someone", traits: { email: "lee@old.example" } })).json()).leadId;
    expect(other).not.toBe(lee);
    const again = (await (await identify(await serverKey(t.tenantId), { userId: "lee-2", traits: { email: "lee@new.example" } })).json()).leadId;
    expect(again).toBe(lee);
    // The merge took lee-2's newer email spelling (newer values win).
    expect((await leadShow(t.tenantId, "lee")).traits).toMatchObject({ email: "lee@new.example", plan: "pro" });
  });

  test("an identify with only an email keys the lead by email; a later userId with that email adopts it", async () => {
    const t = await server.tenant("i7");
    const byEmail = (await (await identify(t.writeKey, { anonymousId: "newsletter", traits: { email: "kim@example.com" } })).json()).leadId;
    const withUser = (await (await identify(t.writeKey, { userId: "kim", traits: { email: "kim@example.com" } })).json()).leadId;
    expect(withUser).toBe(byEmail);
    expect((await leadShow(t.tenantId, "kim")).userId).toBe("kim");
  });

  test("alias links an anonymous previousId, and (server key) merges a previous userId's lead", async () => {
    const t = await server.tenant("i8");
    await server.track({ event: "Before signup", anonymousId: "anon-z" }, { key: t.writeKey });
    const aliased = await (await server.post("/v1/events/alias", { previousId: "anon-z", userId: "zoe" }, { key: t.writeKey })).json();
    expect(aliased.status).toBe("accepted");
    const stored = await exportEvents(server.dbPath, t.tenantId, ["--type", "track"]);
    expect(stored[0]!.leadId).toBe(aliased.leadId);
    // The aliased visitor's later events carry the lead too (no stale cached visitor).
    await server.track({ event: "After alias", anonymousId: "anon-z" }, { key: t.writeKey });
    const later = await exportEvents(server.dbPath, t.tenantId, ["--type", "track"]);
    expect(later.find((e) => e.event === "After alias")!.leadId).toBe(aliased.leadId);

    const old = (await (await identify(t.writeKey, { userId: "zoe-old-id", traits: { legacy: true } })).json()).leadId;
    await server.post("/v1/events/alias", { previousId: "zoe-old-id", userId: "zoe" }, { key: await serverKey(t.tenantId) });
    const lead = await leadShow(t.tenantId, "zoe-old-id");
    expect(lead.leadId).toBe(aliased.leadId);
    expect(lead.traits).toMatchObject({ legacy: true });
    expect(lead.mergedFrom[0]).toMatchObject({ fromLeadId: old, reason: "alias" });
    expect((await query("SELECT merged_into FROM leads WHERE id = ?", old))[0]!.merged_into).toBe(aliased.leadId);
  });

  test("concurrent identifies of one user make one lead", async () => {
    const t = await server.tenant("i9");
    const answers = await Promise.all(
      Array.from({ length: 30 }, (_, i) => identify(t.writeKey, { userId: "racer", anonymousId: `device-${i % 5}`, traits: { n: i } }).then((r) => r.json())),
    );
    expect(new Set(answers.map((a) => a.leadId)).size).toBe(1);
    expect(answers.filter((a) => a.created)).toHaveLength(1);
    expect((await query("SELECT count(*) AS n FROM leads WHERE tenant_id = ?", t.tenantId))[0]!.n).toBe(1);
    expect((await leadShow(t.tenantId, "racer")).visitors).toHaveLength(5);
  });

  test("tenant isolation: tenant A's identify never touches tenant B's visitor with the same anonymousId", async () => {
    const a = await server.tenant("iso-a");
    const b = await server.tenant("iso-b");
    await server.track({ event: "B event", anonymousId: "shared-anon" }, { key: b.writeKey });
    await identify(a.writeKey, { userId: "same-user", anonymousId: "shared-anon", traits: { email: "x@example.com" } });
    const bEvents = await exportEvents(server.dbPath, b.tenantId);
    expect(bEvents[0]!.leadId).toBeUndefined();
    expect(await leadShow(b.tenantId, "same-user")).toBeNull();
    const bIdentify = await (await identify(b.writeKey, { userId: "same-user", anonymousId: "shared-anon" })).json();
    expect(bIdentify.created).toBe(true);
    expect(bIdentify.leadId).not.toBe((await leadShow(a.tenantId, "same-user")).leadId);
  });

  test("a track with a userId of a known lead is attributed to it", async () => {
    const t = await server.tenant("i10");
    const { leadId } = await (await identify(t.writeKey, { userId: "server-user" })).json();
    await server.track({ event: "Server side", userId: "server-user" }, { key: t.writeKey });
    const [stored] = await exportEvents(server.dbPath, t.tenantId, ["--type", "track"]);
    expect(stored!.leadId).toBe(leadId);
  });
});
