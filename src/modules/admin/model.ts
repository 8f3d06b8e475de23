/**
 * The `t` schemas of the admin API. Field names and times are the CLI's (`inlet tenant create`,
 * `key create`, `key list` print the same objects): `key` for a new key, ISO 8601 times.
 */
import { t } from "elysia";
import { TenantSettings } from "../tenants/settings";
import { KEY_KINDS } from "../tenants/service";

const Time = t.String({ format: "date-time", examples: ["2026-11-27T10:00:00.000Z"] });
const KeyKind = t.UnionEnum(KEY_KINDS, { description: "write keys ingest (public, they ship in pages); admin keys read and manage the tenant (secret)" });

export const CreateTenantBody = t.Object(
  { name: t.String({ minLength: 1, maxLength: 200, examples: ["Acme"] }) },
  { additionalProperties: false, example: { name: "Acme" } },
);
export const CreateKeyBody = t.Object({ kind: t.Optional(KeyKind) }, { additionalProperties: false, example: { kind: "admin" } });
export const TenantParams = t.Object({ tenantId: t.String({ minLength: 1, maxLength: 64 }) });
export const KeyParams = t.Object({
  keyIdOrPrefix: t.String({ minLength: 3, maxLength: 64, description: "The key id, or a prefix naming one live key (wk_Vb3k9QxZ)" }),
});

const newKeyFields = {
  tenantId: t.String(),
  keyId: t.String(),
  key: t.String({ description: "The key itself: shown only in this answer" }),
  prefix: t.String({ description: "Its first characters, shown in listings" }),
  kind: KeyKind,
  createdAt: Time,
};
const newKeyExample = {
  tenantId: "01936f8e-1a2b-7c3d-8e4f-5a6b7c8d9e0f",
  keyId: "01936f8e-1a2c-7d4e-9f50-6b7c8d9e0f1a",
  key: "wk_Vb3k9QxZ2mT8rLp4NcY7dHs1Jw6Ke5Ua",
  prefix: "wk_Vb3k9QxZ",
  kind: "write",
  createdAt: "2026-11-27T10:00:00.000Z",
};

export const NewKey = t.Object(newKeyFields, { description: "A new key (the only time it is shown)", examples: [newKeyExample] });
export const NewTenant = t.Object(
  { ...newKeyFields, name: t.String() },
  { description: "A new tenant and its first write key (shown only now)", examples: [{ ...newKeyExample, name: "Acme" }] },
);

export const Tenant = t.Object(
  { tenantId: t.String(), name: t.String(), createdAt: Time, settings: TenantSettings },
  {
    examples: [
      {
        tenantId: "01936f8e-1a2b-7c3d-8e4f-5a6b7c8d9e0f",
        name: "Acme",
        createdAt: "2026-11-27T10:00:00.000Z",
        settings: { ipPolicy: "anonymize", bots: "flag", corsOrigins: ["https://shop.example"], rateLimitRps: 200 },
      },
    ],
  },
);

const { rateLimitRps, rateLimitEps, ipPolicy, bots, corsOrigins } = TenantSettings.properties;
export const SettingsPatch = t.Object(
  {
    ipPolicy: t.Optional(ipPolicy),
    bots: t.Optional(bots),
    corsOrigins: t.Optional(corsOrigins),
    rateLimitRps: t.Optional(t.Union([rateLimitRps, t.Null()], { description: "Requests per second (0: no limit; null: the server's RATE_LIMIT_RPS)" })),
    rateLimitEps: t.Optional(t.Union([rateLimitEps, t.Null()], { description: "Events per second (0: no limit; null: the server's RATE_LIMIT_EPS)" })),
  },
  {
    additionalProperties: false,
    description: "The settings to change (the others keep their value), as `inlet tenant set` takes them",
    example: { ipPolicy: "anonymize", corsOrigins: ["https://shop.example"], rateLimitRps: null },
  },
);

export const TenantSettingsAnswer = t.Object({ tenantId: t.String(), settings: TenantSettings });

export const KeyInfo = t.Object(
  { keyId: t.String(), prefix: t.String(), kind: KeyKind, createdAt: Time, revokedAt: t.Union([Time, t.Null()]) },
  {
    examples: [{ keyId: "01936f8e-1a2c-7d4e-9f50-6b7c8d9e0f1a", prefix: "wk_Vb3k9QxZ", kind: "write", createdAt: "2026-11-27T10:00:00.000Z", revokedAt: null }],
  },
);

export const Revoked = t.Object({
  revoked: t.Object({ tenantId: t.String(), keyId: t.String(), prefix: t.String(), revokedAt: Time }),
});
