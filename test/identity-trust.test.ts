/**
 * What a write key (public: it ships in every web page) can and cannot do to identity, through a
 * real server: it never merges two leads that each have their own userId, never writes to an
 * identified lead by naming its email, never freezes a trait with a future timestamp, and the
 * identify answer never names another person's lead. A server key (secret) can merge them.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { cli, startTestServer, TEST_STORE, tempDir, type TestServer, storeEnv } from "./helpers/server";
import { createTestDatabase } from "./helpers/postgres";
import { storeRows } from "./helpers/store-rows";
import { spawnServer } from "./helpers/process";
import { join } from "node:path";

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(() => server.stop());

const HOUR = 3_600_000;
const identify = (key: string, body: Record<string, unknown>) => server.post("/v1/events/identify", body, { key }).then((r) => r.json());
const alias = (key: string, body: Record<string, unknown>) => server.post("/v1/events/alias", body, { key }).then((r) => r.json());
const serverKey = async (tenantId: string) => (await server.running.services.tenants.createKey(tenantId, "server")).key;
const leadShow = async (tenantId: string, who: string) => {
  const result = await cli(["lead", "show", "--tenant", tenantId, who], storeEnv(server.dbPath));
  return result.code === 0 ? JSON.parse(result.stdout) : null;
};
const leadRow = async (id: string) => (await storeRows(server.dbPath, "SELECT user_id, email, merged_into FROM leads WHERE id = ?", id))[0]!;
/** inlet_identity_conflicts_total for a tenant and reason, from a real scrape of /metrics. */
async function conflicts(tenantId: string, reason: string): Promise<number> {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  const line = text
    .split("\n")
    .find((l) => l.startsWith("inlet_identity_conflicts_total{") && l.includes(`tenant="${tenantId}"`) && l.includes(`reason="${reason}"`));
  return line ? Number(line.slice(line.lastIndexOf(" ") + 1)) : 0;
}
/** The anonymousIds of a lead's linked visitors (a call with a userId only has a visitor without one). */
const anonymousIds = (lead: { visitors: { anonymousId: string | null }[] }) =>
  lead.visitors
    .map((v) => v.anonymousId)
    .filter((id) => id !== null)
    .sort();

describe("a write key cannot take over a person's lead", () => {
  test("an email with a future timestamp neither merges another user into Alice's lead nor freezes her traits", async () => {
    const t = await server.tenant("takeover-email");
    const alice = await identify(t.writeKey, { userId: "alice", anonymousId: "alice-browser", traits: { email: "alice@corp.example", plan: "pro" } });
    const mallory = await identify(t.writeKey, {
      userId: "mallory",
      anonymousId: "mallory-browser",
      timestamp: new Date(Date.now() + 23 * HOUR).toISOString(),
      traits: { email: "alice@corp.example", plan: "free", phone: "+1-555-MALLORY" },
    });
    const update = await identify(t.writeKey, { userId: "alice", anonymousId: "alice-browser", traits: { plan: "enterprise-renewed" } });

    expect(mallory.status).toBe("accepted");
    expect(mallory.leadId).not.toBe(alice.leadId);
    expect(mallory.created).toBe(true);
    expect(update.leadId).toBe(alice.leadId);
    const aliceLead = await leadShow(t.tenantId, "alice");
    expect(aliceLead.leadId).toBe(alice.leadId);
    expect(aliceLead.traits).toEqual({ email: "alice@corp.example", plan: "enterprise-renewed" });
    expect(anonymousIds(aliceLead)).toEqual(["alice-browser"]);
    expect(aliceLead.mergedFrom).toEqual([]);
    // Mallory keeps her own lead, with what she claimed as traits; Alice's email still finds Alice.
    const malloryLead = await leadShow(t.tenantId, "mallory");
    expect(malloryLead.leadId).toBe(mallory.leadId);
    expect(malloryLead.traits).toMatchObject({ plan: "free", phone: "+1-555-MALLORY" });
    expect(anonymousIds(malloryLead)).toEqual(["mallory-browser"]);
    expect((await leadShow(t.tenantId, "alice@corp.example")).leadId).toBe(alice.leadId);
    expect((await leadRow(mallory.leadId)).merged_into).toBeNull();
    expect(await conflicts(t.tenantId, "same_email")).toBe(1);
  });

  test("a future timestamp cannot freeze a person's own trait either", async () => {
    const t = await server.tenant("future-trait");
    await identify(t.writeKey, { userId: "u", traits: { plan: "free" }, timestamp: new Date(Date.now() + 23 * HOUR).toISOString() });
    await identify(t.writeKey, { userId: "u", traits: { plan: "pro" } });
    expect((await leadShow(t.tenantId, "u")).traits).toEqual({ plan: "pro" });
  });

  test("alias with previousId = the victim's userId, or the victim's linked anonymousId, merges and re-links nothing", async () => {
    const t = await server.tenant("takeover-alias");
    const alice = await identify(t.writeKey, { userId: "alice", anonymousId: "alice-browser", traits: { email: "alice@corp.example", plan: "pro" } });
    const byUserId = await alias(t.writeKey, { previousId: "alice", userId: "mallory", anonymousId: "mallory-browser" });
    const byDevice = await alias(t.writeKey, { previousId: "alice-browser", userId: "mallory", anonymousId: "mallory-browser" });

    expect(byUserId.status).toBe("accepted");
    expect(byUserId.leadId).not.toBe(alice.leadId);
    expect(byUserId.created).toBe(true);
    expect(byDevice).toMatchObject({ leadId: byUserId.leadId, created: false });
    expect((await leadRow(alice.leadId)).merged_into).toBeNull();
    const aliceLead = await leadShow(t.tenantId, "alice");
    expect(aliceLead.leadId).toBe(alice.leadId);
    expect(aliceLead.traits).toEqual({ email: "alice@corp.example", plan: "pro" });
    expect(aliceLead.visitors).toHaveLength(1);
    expect(aliceLead.visitors[0]).toMatchObject({ anonymousId: "alice-browser", unlinkedAt: null });
    expect((await leadShow(t.tenantId, "mallory")).mergedFrom).toEqual([]);
    expect(await conflicts(t.tenantId, "alias")).toBe(2);
    // Alice's next event from her browser is still hers.
    await server.track({ event: "Still Alice", anonymousId: "alice-browser" }, { key: t.writeKey });
    expect((await leadShow(t.tenantId, "alice")).eventCount).toBe(2);
  });

  test("a probe with someone's email learns no lead id, and `created` tells the truth", async () => {
    const t = await server.tenant("probe");
    const alice = await identify(t.writeKey, { userId: "alice", anonymousId: "alice-browser", traits: { email: "alice@corp.example", plan: "pro" } });
    const probe = await identify(t.writeKey, { userId: "probe-1", traits: { email: "alice@corp.example" } });
    expect(probe.leadId).not.toBe(alice.leadId);
    expect(probe.created).toBe(true);
    expect((await leadShow(t.tenantId, "probe-1")).leadId).toBe(probe.leadId);
    // Without a userId, naming Alice's email reaches nothing of hers.
    const emailOnly = await identify(t.writeKey, { anonymousId: "probe-browser", traits: { email: "alice@corp.example", plan: "free" } });
    expect(emailOnly).toMatchObject({ status: "accepted", leadId: null, created: false });
    const aliceLead = await leadShow(t.tenantId, "alice");
    expect(aliceLead.traits).toEqual({ email: "alice@corp.example", plan: "pro" });
    expect(anonymousIds(aliceLead)).toEqual(["alice-browser"]);
    expect(await conflicts(t.tenantId, "same_email")).toBe(1);
    expect(await conflicts(t.tenantId, "email_only")).toBe(1);
  });

  test("an email-only lead (no userId) is still absorbed by an identified one, with a write key", async () => {
    const t = await server.tenant("absorb");
    const newsletter = await identify(t.writeKey, { anonymousId: "newsletter-form", traits: { email: "kai@example.com", topic: "news" } });
    const kai = await identify(t.writeKey, { userId: "kai", anonymousId: "kai-laptop" });
    const merged = await identify(t.writeKey, { userId: "kai", anonymousId: "kai-laptop", traits: { email: "kai@example.com" } });
    expect(merged).toMatchObject({ leadId: kai.leadId, created: false });
    const lead = await leadShow(t.tenantId, "kai@example.com");
    expect(lead.leadId).toBe(kai.leadId);
    expect(lead.userId).toBe("kai");
    expect(lead.traits).toEqual({ email: "kai@example.com", topic: "news" });
    expect(lead.mergedFrom).toEqual([expect.objectContaining({ fromLeadId: newsletter.leadId, reason: "same_email" })]);
    expect(anonymousIds(lead)).toEqual(["kai-laptop", "newsletter-form"]);
    expect(await conflicts(t.tenantId, "same_email")).toBe(0);
  });
});

describe("a server key", () => {
  test("can merge two identified leads, by email and by alias", async () => {
    const t = await server.tenant("server-merge");
    const backend = await serverKey(t.tenantId);
    expect(backend).toMatch(/^sk_/);
    const crm = await identify(t.writeKey, { userId: "crm-7", anonymousId: "laptop", traits: { email: "ann@example.com", role: "cfo" } });
    const app = await identify(t.writeKey, { userId: "app-7", anonymousId: "phone", traits: { name: "Ann" } });
    const merged = await identify(backend, { userId: "app-7", traits: { email: "ann@example.com" } });
    expect(merged).toMatchObject({ status: "accepted", leadId: crm.leadId, created: false });
    expect((await leadRow(app.leadId)).merged_into).toBe(crm.leadId);

    const legacy = await identify(t.writeKey, { userId: "ann-legacy", traits: { legacy: true } });
    const aliased = await alias(backend, { previousId: "ann-legacy", userId: "crm-7" });
    expect(aliased.leadId).toBe(crm.leadId);
    const lead = await leadShow(t.tenantId, "ann-legacy");
    expect(lead.leadId).toBe(crm.leadId);
    expect(lead.traits).toMatchObject({ role: "cfo", name: "Ann", legacy: true });
    expect(lead.mergedFrom.map((m: { fromLeadId: string; reason: string }) => [m.fromLeadId, m.reason]).sort()).toEqual(
      [
        [app.leadId, "same_email"],
        [legacy.leadId, "alias"],
      ].sort(),
    );
    expect(anonymousIds(lead)).toEqual(["laptop", "phone"]);
    expect(await conflicts(t.tenantId, "same_email")).toBe(0);
  });

  test("is refused from a browser (any Origin), on reading routes and for the browser library's settings", async () => {
    const t = await server.tenant("server-browser");
    const backend = await serverKey(t.tenantId);
    const fromBrowser = await server.post("/v1/events/track", { event: "E", anonymousId: "a" }, { key: backend, headers: { origin: "https://shop.example" } });
    expect(fromBrowser.status).toBe(403);
    expect((await fromBrowser.json()).error.code).toBe("origin_not_allowed");
    // A valid key of the wrong kind on a reading route: 403 (it only ingests).
    expect((await fetch(`${server.url}/v1/stats?window=1h`, { headers: { authorization: `Bearer ${backend}` } })).status).toBe(403);
    expect((await fetch(`${server.url}/v1/projects/${backend}/settings`)).status).toBe(401);
    // From a backend (no Origin) it ingests like a write key.
    expect((await server.post("/v1/events/track", { event: "E", anonymousId: "a" }, { key: backend })).status).toBe(200);
  });
});

test("inlet key create --server makes an sk_ key; a conflict is logged with ids, never the email or userIds", async () => {
  const database = TEST_STORE === "postgres" ? await createTestDatabase("trust") : null;
  const env = { ...storeEnv(database?.url ?? join(tempDir(), "inlet.db")), INLET_DEMO: "false" };
  const tenant = JSON.parse((await cli(["tenant", "create", "Logs"], env)).stdout);
  const created = await cli(["key", "create", "--tenant", tenant.tenantId, "--server"], env);
  expect(created.code).toBe(0);
  const key = JSON.parse(created.stdout);
  expect(key).toMatchObject({ kind: "server", prefix: key.key.slice(0, 11) });
  expect(key.key).toMatch(/^sk_[\w-]{32}$/);
  expect((await cli(["key", "create", "--tenant", tenant.tenantId, "--server", "--admin"], env)).code).not.toBe(0);

  const child = await spawnServer({ ...env, LOG_LEVEL: "info" });
  try {
    const send = (body: object) =>
      fetch(`${child.url}/v1/events/identify`, { method: "POST", headers: { authorization: `Bearer ${tenant.key}` }, body: JSON.stringify(body) });
    expect((await send({ userId: "victim-user", traits: { email: "victim@secret.example" } })).status).toBe(200);
    const attack = await send({ userId: "attacker-user", messageId: "attack-1", traits: { email: "victim@secret.example" } });
    expect(attack.status).toBe(200);
    const deadline = Date.now() + 5_000;
    while (!child.output().includes("identity conflict") && Date.now() < deadline) await Bun.sleep(20);
    const line = child
      .output()
      .split("\n")
      .find((l) => l.includes("identity conflict"));
    expect(line).toBeDefined();
    expect(JSON.parse(line!)).toMatchObject({ level: "warn", tenantId: tenant.tenantId, messageId: "attack-1", reason: "same_email" });
    expect(child.output()).not.toContain("victim@secret.example");
    expect(child.output()).not.toContain("victim-user");
    expect(child.output()).not.toContain("attacker-user");
  } finally {
    child.proc.kill("SIGTERM");
    await child.proc.exited;
    await database?.drop();
  }
});
