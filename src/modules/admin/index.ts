/**
 * The admin API: what the CLI does for tenants and keys, over HTTP, so that Inlet runs without a
 * shell. Two controllers:
 * - `/v1/admin/*` for the operator, with the token of INLET_OPERATOR_TOKEN (unset: every route is
 *   a 404): tenants (create, list, change settings) and any tenant's keys;
 * - `/v1/keys` for a tenant's own admin key: that tenant's keys only.
 * A key revoked here stops working on this server at once (its cached entry is dropped); other
 * servers on the same database see it within KEY_CACHE_TTL_SECONDS.
 */
import { timingSafeEqual } from "node:crypto";
import { Elysia, t } from "elysia";
import { keyFromRequest, type AuthGuard, type keyAuth } from "../../http/auth";
import { ADMIN_BODY_BYTES, jsonBody } from "../../http/body";
import { ApiError, errorResponses } from "../../http/errors";
import type { KeyCache } from "../tenants/key-cache";
import { AmbiguousKeyError, hashKey, NotFoundError, type KeyKind, type TenantService } from "../tenants/service";
import type { TenantSettings } from "../tenants/settings";
import {
  CreateKeyBody,
  CreateTenantBody,
  KeyInfo,
  KeyParams,
  NewKey,
  NewTenant,
  Revoked,
  SettingsPatch,
  Tenant,
  TenantParams,
  TenantSettingsAnswer,
} from "./model";

export interface AdminDeps {
  tenants: TenantService;
  keys: KeyCache;
  /** INLET_OPERATOR_TOKEN; empty: the operator routes do not exist. */
  operatorToken: string;
  /** The failed-authentication limit per client address (a wrong token counts). */
  guard?: AuthGuard;
}

const operatorSecurity: Record<string, string[]>[] = [{ operator: [] }];
const keySecurity: Record<string, string[]>[] = [{ bearer: [] }, { basic: [] }, { apiKey: [] }];
const errors = errorResponses(400, 401, 403, 404, 409);

/** The service's errors as API errors: an unknown tenant or key is a 404, an ambiguous prefix a 409. */
async function answer<T>(run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    if (error instanceof NotFoundError) throw new ApiError(404, "not_found", error.message);
    if (error instanceof AmbiguousKeyError) throw new ApiError(409, "ambiguous_key", error.message);
    throw error;
  }
}

/** The operator token, compared in constant time (as hashes, so lengths do not show either). */
function operatorAuth(token: string, guard?: AuthGuard) {
  const expected = token ? Buffer.from(hashKey(token), "hex") : null;
  return new Elysia().derive({ as: "scoped" }, ({ headers, request }) => {
    if (!expected) throw new ApiError(404, "not_found", `No route for ${request.method} ${new URL(request.url).pathname}.`);
    const given = keyFromRequest(headers, undefined);
    if (!given || !timingSafeEqual(Buffer.from(hashKey(given), "hex"), expected)) {
      const refused = new ApiError(401, "unauthorized", "The operator token is required: Authorization: Bearer <INLET_OPERATOR_TOKEN>.");
      throw guard ? guard.failures.failed(guard.address(request), refused) : refused;
    }
    return { operator: true as const };
  });
}

/** Settings from the API's patch: null rates go back to the server's default. */
function settingsPatch(body: typeof SettingsPatch.static): Partial<TenantSettings> {
  const patch: Partial<TenantSettings> = {};
  for (const [name, value] of Object.entries(body)) (patch as Record<string, unknown>)[name] = value === null ? undefined : value;
  return patch;
}

export function operatorController({ tenants, keys, operatorToken, guard }: AdminDeps) {
  const tenantKeys = "/tenants/:tenantId/keys";
  return new Elysia({ prefix: "/v1/admin", tags: ["Admin"] })
    .use(operatorAuth(operatorToken, guard))
    .post("/tenants", async ({ body, set }) => ((set.status = 201), await tenants.createTenant(body.name)), {
      parse: jsonBody(ADMIN_BODY_BYTES),
      body: CreateTenantBody,
      response: { 201: NewTenant, ...errors },
      detail: {
        summary: "Create a tenant",
        description: "A tenant and its first write key, as `inlet tenant create` prints them. Operator token.",
        security: operatorSecurity,
      },
    })
    .get("/tenants", async () => await tenants.listTenants(), {
      response: { 200: t.Array(Tenant), ...errors },
      detail: {
        summary: "List tenants",
        description: "Every tenant with its settings, as `inlet tenant list` prints them. Operator token.",
        security: operatorSecurity,
      },
    })
    .patch(
      "/tenants/:tenantId",
      async ({ params, body }) => {
        const settings = await answer(() => tenants.setSettings(params.tenantId, settingsPatch(body)));
        keys.forget({ tenantId: params.tenantId }); // settings travel with cached keys
        return { tenantId: params.tenantId, settings };
      },
      {
        params: TenantParams,
        parse: jsonBody(ADMIN_BODY_BYTES),
        body: SettingsPatch,
        response: { 200: TenantSettingsAnswer, ...errors },
        detail: {
          summary: "Change a tenant's settings",
          description:
            "The settings `inlet tenant set` changes: IP policy, bots, CORS origins, rate limits (null: the server's default). They apply on this server at once, on others sharing the database within KEY_CACHE_TTL_SECONDS. Operator token.",
          security: operatorSecurity,
        },
      },
    )
    .post(
      tenantKeys,
      async ({ params, body, set }) => ((set.status = 201), await answer(() => tenants.createKey(params.tenantId, (body?.kind ?? "write") as KeyKind))),
      {
        params: TenantParams,
        parse: jsonBody(ADMIN_BODY_BYTES, { optional: true }),
        body: t.Optional(CreateKeyBody),
        response: { 201: NewKey, ...errors },
        detail: {
          summary: "Create a key for a tenant",
          description: "A write key (default) or an admin key, as `inlet key create` prints it. Operator token.",
          security: operatorSecurity,
        },
      },
    )
    .get(
      tenantKeys,
      async ({ params }) => {
        if (!(await tenants.tenantExists(params.tenantId))) throw new ApiError(404, "not_found", `No tenant with id ${params.tenantId}.`);
        return await tenants.listKeys(params.tenantId);
      },
      {
        params: TenantParams,
        response: { 200: t.Array(KeyInfo), ...errors },
        detail: {
          summary: "List a tenant's keys",
          description: "By prefix, never the keys themselves, as `inlet key list` prints them. Operator token.",
          security: operatorSecurity,
        },
      },
    )
    .delete(`${tenantKeys}/:keyIdOrPrefix`, ({ params }) => revoke(tenants, keys, params.keyIdOrPrefix, params.tenantId), {
      params: t.Object({ ...TenantParams.properties, ...KeyParams.properties }),
      response: { 200: Revoked, ...errors },
      detail: { summary: "Revoke a tenant's key", description: revokeDescription("Operator token."), security: operatorSecurity },
    });
}

async function revoke(tenants: TenantService, keys: KeyCache, keyIdOrPrefix: string, tenantId: string) {
  const revoked = await answer(() => tenants.revokeKey(keyIdOrPrefix, tenantId));
  keys.forget({ keyId: revoked.keyId });
  return { revoked };
}

const revokeDescription = (who: string) =>
  `Revokes the key with this id or prefix (a prefix must name one live key; several: 409). It stops working on this server at once, and on other servers sharing the database within KEY_CACHE_TTL_SECONDS (30 s by default). ${who}`;

/** A tenant's own keys, with one of its admin keys. */
export function tenantKeysController({ tenants, keys, auth }: Omit<AdminDeps, "operatorToken" | "guard"> & { auth: ReturnType<typeof keyAuth> }) {
  return new Elysia({ prefix: "/v1/keys", tags: ["Admin"] })
    .use(auth)
    .post(
      "/",
      async ({ admin, body, set }) => ((set.status = 201), await answer(() => tenants.createKey(admin.tenantId, (body?.kind ?? "write") as KeyKind))),
      {
        parse: jsonBody(ADMIN_BODY_BYTES, { optional: true }),
        body: t.Optional(CreateKeyBody),
        adminKey: true,
        response: { 201: NewKey, ...errors },
        detail: {
          summary: "Create a key",
          description: "A write key (default) or an admin key for the admin key's tenant. Admin key; write keys get 403.",
          security: keySecurity,
        },
      },
    )
    .get("/", async ({ admin }) => await tenants.listKeys(admin.tenantId), {
      adminKey: true,
      response: { 200: t.Array(KeyInfo), ...errors },
      detail: { summary: "List keys", description: "The admin key's tenant's keys, by prefix. Admin key; write keys get 403.", security: keySecurity },
    })
    .delete("/:keyIdOrPrefix", ({ admin, params }) => revoke(tenants, keys, params.keyIdOrPrefix, admin.tenantId), {
      params: KeyParams,
      adminKey: true,
      response: { 200: Revoked, ...errors },
      detail: {
        summary: "Revoke a key",
        description: revokeDescription("Only the admin key's tenant's keys (another tenant's key is a 404). Admin key; write keys get 403."),
        security: keySecurity,
      },
    });
}
