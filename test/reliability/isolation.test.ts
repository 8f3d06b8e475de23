/**
 * Tenant isolation: ten tenants send the very same ids at the same time (anonymousIds, userIds,
 * emails, messageIds); each must see exactly its own events, leads and sessions through
 * `inlet export` and `inlet lead show`, and dedupe must be per tenant.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { cli, exportEvents, startTestServer, type TestServer, storeEnv } from "../helpers/server";
import { storeRows } from "../helpers/store-rows";

const TENANTS = 10;
let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(() => server.stop());

/** The same calls for every tenant; only the `tenant` marker in properties and traits differs. */
function calls(marker: number) {
  const identify = { userId: "user-1", anonymousId: "anon-0", messageId: "identify-1", traits: { email: "same@example.com", tenant: marker } };
  const tracks = Array.from({ length: 20 }, (_, k) => ({
    event: "Viewed",
    anonymousId: `anon-${k % 3}`,
    ...(k % 5 === 0 ? { userId: "user-1" } : {}),
    messageId: `m-${k}`,
    properties: { tenant: marker, k },
  }));
  const batch = [
    ...Array.from({ length: 7 }, (_, k) => ({
      type: "track",
      event: "Batched",
      anonymousId: `anon-${k % 2}`,
      messageId: `b-${k}`,
      properties: { tenant: marker },
    })),
    // A second lead with the same email (merged into user-1's, within this tenant only: the batch is
    // sent with a server key, which may merge two identified leads) and an alias.
    { type: "identify", userId: "user-2", anonymousId: "anon-9", messageId: "b-identify", traits: { email: "same@example.com", tenant: marker } },
    { type: "alias", previousId: "anon-2", userId: "user-1", messageId: "b-alias" },
    { type: "page", anonymousId: "anon-1", messageId: "b-page", name: "Home", properties: { tenant: marker } },
  ];
  return { identify, tracks, batch };
}

test(`${TENANTS} tenants with overlapping ids, concurrently: each sees exactly its own events, leads and sessions`, { timeout: 120_000 }, async () => {
  const tenants = await Promise.all(
    Array.from({ length: TENANTS }, async (_, i) => {
      const tenant = await server.tenant(`isolated-${i}`);
      return { marker: i, ...tenant, serverKey: (await server.running.services.tenants.createKey(tenant.tenantId, "server")).key };
    }),
  );

  // user-1's identify first in each tenant (all tenants at once): concurrent requests are stored
  // in no set order, and the batch's user-2 is merged into user-1's lead only if user-1 has it
  // (stored after, user-2 would keep the email and user-1 get a lead of its own, with a write key).
  // Then everything else at once, interleaved across tenants.
  const requests: Promise<Response>[] = [];
  for (const t of tenants) requests.push(server.post("/v1/events/identify", calls(t.marker).identify, { key: t.writeKey }));
  await Promise.all(requests);
  for (const t of tenants) {
    const { tracks, batch } = calls(t.marker);
    for (const track of tracks) requests.push(server.track(track, { key: t.writeKey }));
    requests.push(server.post("/v1/events/batch", { batch }, { key: t.serverKey }));
  }
  const answers = await Promise.all(
    requests.map(async (pending) => {
      const r = await pending;
      return { status: r.status, body: (await r.json()) as any };
    }),
  );
  for (const { status, body } of answers) {
    expect(status).toBe(200);
    // The same messageIds in ten tenants: every one is new in its own tenant.
    if (body.results) for (const result of body.results) expect(result.status).toBe("accepted");
    else expect(body.status).toBe("accepted");
  }

  const expectedIds = ["identify-1", ...Array.from({ length: 20 }, (_, k) => `m-${k}`), ...calls(0).batch.map((c) => c.messageId)].sort();
  const exports = await Promise.all(tenants.map((t) => exportEvents(server.dbPath, t.tenantId)));
  const owners = { visitorId: new Map<string, number>(), sessionId: new Map<string, number>(), leadId: new Map<string, number>() };
  for (const t of tenants) {
    const events = exports[t.marker]!;
    expect(events.map((e) => e.messageId).sort()).toEqual(expectedIds);
    for (const e of events) {
      const marker = e.properties?.tenant ?? e.traits?.tenant;
      if (marker !== undefined) expect(marker).toBe(t.marker);
      for (const key of ["visitorId", "sessionId", "leadId"] as const) {
        if (e[key] === undefined) continue;
        const owner = owners[key].get(e[key]);
        if (owner !== undefined) expect({ [key]: e[key], owner }).toEqual({ [key]: e[key], owner: t.marker });
        owners[key].set(e[key], t.marker);
      }
    }
  }

  // Leads: user-1 in each tenant has that tenant's traits, its own visitors and its own event count.
  const leads = await Promise.all(tenants.map((t) => cli(["lead", "show", "--tenant", t.tenantId, "user-1"], storeEnv(server.dbPath))));
  for (const t of tenants) {
    const result = leads[t.marker]!;
    expect(result.code).toBe(0);
    const lead = JSON.parse(result.stdout);
    expect(lead.traits).toEqual({ email: "same@example.com", tenant: t.marker });
    expect(owners.leadId.get(lead.leadId)).toBe(t.marker);
    for (const visitor of lead.visitors) expect(owners.visitorId.get(visitor.visitorId)).toBe(t.marker);
    expect(lead.mergedFrom.length).toBe(1); // user-2, merged by the shared email within this tenant only
    const own = exports[t.marker]!.filter((e) => e.leadId === lead.leadId);
    expect(lead.eventCount).toBe(own.length);
    expect(lead.sessionCount).toBe(new Set(own.map((e) => e.sessionId)).size);
  }

  // Sessions: each session row belongs to the tenant whose events point at it, and counts only them.
  expect(await server.sessionsWritten()).toBe(true);
  const rows = await storeRows(server.dbPath, 'SELECT id, tenant_id AS "tenantId", event_count AS "eventCount" FROM sessions');
  const byId = new Map(rows.map((r) => [r.id, r]));
  for (const t of tenants) {
    const perSession = new Map<string, number>();
    for (const e of exports[t.marker]!) perSession.set(e.sessionId, (perSession.get(e.sessionId) ?? 0) + 1);
    for (const [sessionId, count] of perSession) {
      expect(byId.get(sessionId)).toEqual({ id: sessionId, tenantId: t.tenantId, eventCount: count });
    }
  }

  // Dedupe is per tenant: a resend is a duplicate in its own tenant only.
  const resend = await server.track(calls(0).tracks[0], { key: tenants[0]!.writeKey });
  expect((await resend.json()).status).toBe("duplicate");
  const fresh = await server.tenant("late");
  const elsewhere = await server.track(calls(0).tracks[0], { key: fresh.writeKey });
  expect((await elsewhere.json()).status).toBe("accepted");
});
