/**
 * Payload schema versions. A client names the version its payloads follow in the `Inlet-Version`
 * request header (a date, like Stripe's API versions); without it the current version applies,
 * which is the Segment spec — so Segment and RudderStack clients, which send no such header,
 * need nothing. Each version is a set of `t` schemas plus an upgrade function to the next
 * version; a payload is validated against its own version's schema and upgraded step by step,
 * so the pipeline only ever sees the current canonical call. See docs/schema-versions.md.
 */
import { t, type TSchema } from "elysia";
import { ApiError, type ErrorDetail } from "../../http/errors";
import { callSchemas, schemaErrors, type CallType } from "./model";
import { jsonObject } from "../../lib/json-object";

export const VERSION_HEADER = "inlet-version";

type Json = Record<string, unknown>;

export interface SchemaVersion {
  id: string;
  summary: string;
  /** The calls this version has, and their schemas. */
  schemas: Partial<Record<CallType, TSchema>>;
  /** To the next version's shape (the call already valid in this version). */
  upgrade?: (call: Json, type: CallType) => Json;
  deprecation?: { since: string; sunset: string };
}

const Id = t.String({ minLength: 1, maxLength: 255 });
/** Read like the current version's timestamps (see normalize.ts readIsoTime). */
const IsoTime = t.String({ maxLength: 64 });
const JsonObject = jsonObject();

/** The first design's field names: visitorId, eventName, props. Only track and identify existed. */
const legacyCommon = {
  visitorId: t.Optional(Id),
  userId: t.Optional(Id),
  messageId: t.Optional(Id),
  context: t.Optional(JsonObject),
  timestamp: t.Optional(IsoTime),
  sentAt: t.Optional(IsoTime),
  writeKey: t.Optional(t.String({ maxLength: 256 })),
};
const LegacyTrack = t.Object(
  {
    type: t.Optional(t.Literal("track")),
    eventName: t.String({ minLength: 1, maxLength: 200, description: "The event's name (became `event`)" }),
    props: t.Optional(jsonObject({ description: "Became `properties`" })),
    ...legacyCommon,
  },
  { additionalProperties: true, description: "A track call in version 2025-06-01 (deprecated)" },
);
const LegacyIdentify = t.Object(
  { type: t.Optional(t.Literal("identify")), traits: t.Optional(JsonObject), ...legacyCommon },
  { additionalProperties: true, description: "An identify call in version 2025-06-01 (deprecated)" },
);

function renameLegacy(call: Json): Json {
  const { visitorId, eventName, props, ...rest } = call;
  const next: Json = { ...rest };
  if (visitorId !== undefined) next.anonymousId = visitorId;
  if (eventName !== undefined) next.event = eventName;
  if (props !== undefined) next.properties = props;
  return next;
}

/** Oldest first; the last is current. */
export const schemaVersions: SchemaVersion[] = [
  {
    id: "2025-06-01",
    summary: "The first design: visitorId, eventName and props; track and identify only.",
    schemas: { track: LegacyTrack, identify: LegacyIdentify },
    upgrade: renameLegacy,
    deprecation: { since: "2026-11-01", sunset: "2027-06-01" },
  },
  {
    id: "2026-11-01",
    summary: "The Segment spec: anonymousId, event, properties; track, identify, page, screen, group and alias.",
    schemas: callSchemas,
  },
];

export const CURRENT_VERSION = schemaVersions[schemaVersions.length - 1]!;
export const supportedVersions = schemaVersions.map((v) => v.id);

/** The version a request names, or the default; an unknown one is a 400 listing the supported. */
export function resolveVersion(header: string | null | undefined): SchemaVersion {
  if (header === null || header === undefined || header.trim() === "") return CURRENT_VERSION;
  const version = schemaVersions.find((v) => v.id === header.trim());
  if (!version) {
    throw new ApiError(
      400,
      "unsupported_version",
      `Inlet-Version ${JSON.stringify(header.slice(0, 64))} is not supported; supported versions: ${supportedVersions.join(", ")}.`,
      [{ path: "header:Inlet-Version", message: `Expected one of ${supportedVersions.join(", ")}` }],
    );
  }
  return version;
}

/** Response headers and a body warning for a deprecated version (RFC 9745 Deprecation, RFC 8594 Sunset). */
export function deprecationNotice(version: SchemaVersion): { headers: Record<string, string>; warning: string } | null {
  if (!version.deprecation) return null;
  const { since, sunset } = version.deprecation;
  return {
    headers: {
      deprecation: `@${Math.floor(Date.parse(since) / 1000)}`,
      sunset: new Date(sunset).toUTCString(),
    },
    warning: `Inlet-Version ${version.id} is deprecated since ${since} and stops working on ${sunset}; move to ${CURRENT_VERSION.id} (see docs/schema-versions.md).`,
  };
}

/**
 * Validates a call against `from`'s schema for its type and upgrades it through every later
 * version to the current shape. The current version's own validation is left to the caller
 * (the route's `t` schema, or validateCall for batch items).
 */
export function upgradeToCurrent(value: unknown, type: CallType, from: SchemaVersion): { value: Json } | { errors: ErrorDetail[] } {
  if (from === CURRENT_VERSION) return { value: value as Json };
  let current = value as Json;
  for (let i = schemaVersions.indexOf(from); i < schemaVersions.length - 1; i++) {
    const version = schemaVersions[i]!;
    const schema = version.schemas[type];
    if (!schema)
      return { errors: [{ path: "/type", message: `Version ${version.id} has no ${type} call; it has ${Object.keys(version.schemas).join(", ")}` }] };
    const errors = schemaErrors(schema, current);
    if (errors.length > 0) return { errors };
    current = version.upgrade!(current, type);
  }
  return { value: current };
}

/** Every version's schemas, named for the OpenAPI document's components. */
export function versionModels(): Record<string, TSchema> {
  const models: Record<string, TSchema> = {};
  for (const version of schemaVersions) {
    for (const [type, schema] of Object.entries(version.schemas)) {
      models[`${type}@${version.id}`] = schema as TSchema;
    }
  }
  return models;
}
