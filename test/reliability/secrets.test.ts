/**
 * Secrets: write keys only ingest (they are public, shipped in browsers); admin routes take only
 * `ak_` admin keys through the key-auth plugin's `{ adminKey: true }`, over real HTTP and a real database.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Elysia } from "elysia";
import { keyAuth } from "../../src/http/auth";
import { errorHandler } from "../../src/http/error-handler";
import { requestContext } from "../../src/http/request-context";
import { logger } from "../../src/logger";
import { KeyCache } from "../../src/modules/tenants/key-cache";
import type { TenantService } from "../../src/modules/tenants/service";
import { startTestServer, type TestServer } from "../helpers/server";

describe("admin keys ({ adminKey: true })", () => {
  // The tenants and keys of a test server's store (SQLite, or PostgreSQL with INLET_TEST_STORE=postgres).
  let store: TestServer;
  let tenants: TenantService;
  let app: { server: { port?: number } | null; stop(): Promise<void> };
  let url: string;

  beforeAll(async () => {
    store = await startTestServer();
    logger.setLevel("silent");
    tenants = store.running.services.tenants;
    const keys = new KeyCache(tenants, { max: 100, ttlSeconds: 0 });
    const admin = new Elysia({ prefix: "/v1/admin" })
      .use(keyAuth(keys))
      .get("/whoami", ({ admin }) => admin, { adminKey: true })
      .post("/whoami", ({ admin }) => admin, { adminKey: true });
    const started = new Elysia().use(requestContext).use(errorHandler).use(admin).listen({ port: 0, hostname: "127.0.0.1" });
    app = started as unknown as typeof app;
    url = `http://127.0.0.1:${started.server!.port}`;
  });
  afterAll(async () => {
    await app.stop();
    await store.stop();
  });

  const whoami = (headers: Record<string, string>) => fetch(`${url}/v1/admin/whoami`, { headers });

  test("an admin key is accepted (Bearer, Basic, X-API-Key) and names its tenant", async () => {
    const tenant = await tenants.createTenant("admin-tenant");
    const admin = await tenants.createKey(tenant.tenantId, "admin");
    expect(admin.key.startsWith("ak_")).toBe(true);
    const ways: Record<string, string>[] = [
      { authorization: `Bearer ${admin.key}` },
      { authorization: `Basic ${btoa(`${admin.key}:`)}` },
      { "x-api-key": admin.key },
    ];
    for (const headers of ways) {
      const response = await whoami(headers);
      expect(response.status).toBe(200);
      expect(await response.json()).toEqual({ tenantId: tenant.tenantId, keyId: admin.keyId });
    }
  });

  test("no key, an unknown or a revoked admin key get 401, a write key 403, in the error format", async () => {
    const tenant = await tenants.createTenant("t");
    const admin = await tenants.createKey(tenant.tenantId, "admin");
    await tenants.revokeKey(admin.keyId);
    const written = await whoami({ authorization: `Bearer ${tenant.key}` });
    expect(written.status).toBe(403);
    expect((await written.json()).error.code).toBe("forbidden");
    const refused: Record<string, string>[] = [{}, { authorization: "Bearer ak_notakeyatallnotakeyatallnotake" }, { authorization: `Bearer ${admin.key}` }];
    for (const headers of refused) {
      const response = await whoami(headers);
      const body = await response.json();
      expect(response.status).toBe(401);
      expect(body.error.code).toBe("unauthorized");
      expect(body.error.message).toContain("admin key");
      expect(typeof body.requestId).toBe("string");
    }
  });

  test("an admin key in the body is not looked at (admin keys are secrets, not for sendBeacon)", async () => {
    const tenant = await tenants.createTenant("t2");
    const admin = await tenants.createKey(tenant.tenantId, "admin");
    const response = await fetch(`${url}/v1/admin/whoami`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ writeKey: admin.key }),
    });
    expect(response.status).toBe(401);
    const withHeader = await fetch(`${url}/v1/admin/whoami`, {
      method: "POST",
      headers: { "x-api-key": admin.key, "content-type": "application/json" },
      body: "{}",
    });
    expect(withHeader.status).toBe(200);
  });
});

describe("write keys only ingest", () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(() => server.stop());

  test("an admin key cannot ingest, anywhere a key is accepted", async () => {
    const admin = (await server.running.services.tenants.createKey(server.tenantId, "admin")).key;
    const event = { event: "E", anonymousId: "a" };
    expect((await server.track(event, { key: admin })).status).toBe(401);
    expect((await server.post("/v1/events/track", { ...event, writeKey: admin }, { headers: { authorization: "" } })).status).toBe(401);
    expect((await server.post("/v1/events/batch", { batch: [{ type: "track", ...event }] }, { key: admin })).status).toBe(401);
    expect((await server.track(event)).status).toBe(200);
  });
});
