/**
 * The Segment-spec calls Inlet accepts, as `t` schemas: they validate requests, give the
 * TypeScript types, and make the OpenAPI document. Field names follow the Segment spec.
 */
import { t, type Static, type TSchema } from "elysia";
import { TypeCompiler, type TypeCheck } from "@sinclair/typebox/compiler";
import type { ErrorDetail } from "../../pipeline/model";
import { humanErrors } from "../../schema-errors";
import { jsonObject } from "../../lib/json-object";

/** Segment's per-event limit; a larger event is rejected. */
export const MAX_EVENT_BYTES = 32 * 1024;
/** Segment's per-request limit for batches. */
export const MAX_BATCH_BYTES = 500 * 1024;
/** Segment silently drops events past this count; Inlet answers 400 instead. */
export const MAX_BATCH_EVENTS = 2500;

const Id = t.String({ minLength: 1, maxLength: 255 });
/**
 * An id that may be absent: Segment and RudderStack clients send `null` (analytics-next, classic
 * analytics.js, analytics-python, Analytics.NET) or `""` (rudder-sdk-js) for the id they do not
 * have; both mean absent. Numbers are kept as strings.
 */
const OptionalId = (description: string) =>
  t.Optional(t.Union([t.String({ maxLength: 255 }), t.Number(), t.Null()], { description: `${description}; null or "" mean absent` }));
/**
 * An ISO 8601 date and time in any form client libraries emit (no offset means UTC, non-padded
 * fields, 0 to 9 fractional digits). One that cannot be read does not reject the event: it is
 * stored at the server's time with a warning (see docs/api.md).
 */
const IsoTime = t.Optional(t.Union([t.String({ maxLength: 64 }), t.Null()], { example: "2026-11-27T10:00:00.000Z" }));
const JsonObject = jsonObject();
/** An optional object; null means absent. */
const OptionalObject = (description?: string) => t.Optional(t.Union([JsonObject, t.Null()], description ? { description } : {}));
/** An optional name; null means absent. */
const OptionalName = t.Optional(t.Union([t.String({ maxLength: 200 }), t.Null()]));

/** Fields every call has. `null` in any of them means absent. */
const common = {
  userId: OptionalId("The user's id in your database"),
  anonymousId: OptionalId("A pseudo-unique id of the browser or device"),
  messageId: OptionalId("Unique per event; a repeat is acknowledged and not stored twice"),
  context: OptionalObject(),
  integrations: OptionalObject(),
  timestamp: IsoTime,
  originalTimestamp: IsoTime,
  sentAt: IsoTime,
  /** For sendBeacon and Segment's browser library, which cannot set headers. */
  writeKey: t.Optional(t.Union([t.String({ maxLength: 256 }), t.Null()])),
};

export const TrackCall = t.Object(
  {
    type: t.Optional(t.Literal("track")),
    event: t.String({ minLength: 1, maxLength: 200, description: "The action the user performed", example: "Order Completed" }),
    properties: OptionalObject(),
    ...common,
  },
  {
    description: "A Segment track call",
    // Segment clients send more top-level fields (channel, version, _metadata...): allowed, not stored.
    additionalProperties: true,
    example: {
      event: "Order Completed",
      anonymousId: "0b7d3f2c-5a1e-4b8e-9c39-0f8f2a6a3b11",
      properties: { orderId: "A-1001", revenue: 42.5, currency: "EUR" },
      context: { page: { url: "https://shop.example/checkout?utm_source=newsletter&utm_medium=email" } },
      timestamp: "2026-11-27T10:00:00.000Z",
    },
  },
);

/**
 * Free-form traits; `email`, when present, must be an email address (or null to remove it).
 * `traits: null` means absent, like every top-level null (the events service removes them first).
 */
const Traits = t.Object(
  { email: t.Optional(t.Union([t.String({ format: "email", maxLength: 320 }), t.Null()])) },
  { additionalProperties: true, description: "Free-form; null removes a trait" },
);

export const IdentifyCall = t.Object(
  { type: t.Optional(t.Literal("identify")), traits: t.Optional(Traits), ...common },
  {
    description: "A Segment identify call",
    additionalProperties: true,
    example: {
      userId: "user-4711",
      anonymousId: "0b7d3f2c-5a1e-4b8e-9c39-0f8f2a6a3b11",
      traits: { email: "grace@example.com", name: "Grace Hopper", plan: "pro" },
    },
  },
);

/** Page and screen calls have the same fields. */
const viewFields = (type: "page" | "screen") => ({
  type: t.Optional(t.Literal(type)),
  name: OptionalName,
  category: OptionalName,
  properties: OptionalObject(),
  ...common,
});

export const PageCall = t.Object(viewFields("page"), {
  description: "A Segment page call",
  additionalProperties: true,
  example: {
    anonymousId: "0b7d3f2c-5a1e-4b8e-9c39-0f8f2a6a3b11",
    name: "Pricing",
    properties: { url: "https://shop.example/pricing", path: "/pricing", title: "Pricing" },
  },
});

export const ScreenCall = t.Object(viewFields("screen"), {
  description: "A Segment screen call",
  additionalProperties: true,
  example: { anonymousId: "0b7d3f2c-5a1e-4b8e-9c39-0f8f2a6a3b11", name: "Checkout", category: "Shop" },
});

export const GroupCall = t.Object(
  { type: t.Optional(t.Literal("group")), groupId: t.Union([Id, t.Number()]), traits: OptionalObject(), ...common },
  {
    description: "A Segment group call",
    additionalProperties: true,
    example: { userId: "user-4711", groupId: "acme", traits: { name: "Acme Inc.", employees: 120 } },
  },
);

export const AliasCall = t.Object(
  {
    type: t.Optional(t.Literal("alias")),
    previousId: t.Union([Id, t.Number()]),
    ...common,
    userId: t.Union([Id, t.Number()], { description: "The user's id in your database" }),
  },
  {
    description: "A Segment alias call",
    additionalProperties: true,
    example: { userId: "user-4711", previousId: "0b7d3f2c-5a1e-4b8e-9c39-0f8f2a6a3b11" },
  },
);

export type TrackCall = Static<typeof TrackCall>;
export type IdentifyCall = Static<typeof IdentifyCall>;
export type PageCall = Static<typeof PageCall>;
export type ScreenCall = Static<typeof ScreenCall>;
export type GroupCall = Static<typeof GroupCall>;
export type AliasCall = Static<typeof AliasCall>;

export const callSchemas = {
  track: TrackCall,
  identify: IdentifyCall,
  page: PageCall,
  screen: ScreenCall,
  group: GroupCall,
  alias: AliasCall,
} as const;
export type CallType = keyof typeof callSchemas;
export const callTypes = Object.keys(callSchemas) as CallType[];

/** A call after validation, with the type it was validated as. */
export type Call =
  | ({ type: "track" } & TrackCall)
  | ({ type: "identify" } & IdentifyCall)
  | ({ type: "page" } & PageCall)
  | ({ type: "screen" } & ScreenCall)
  | ({ type: "group" } & GroupCall)
  | ({ type: "alias" } & AliasCall);

export const BatchRequest = t.Object(
  {
    batch: t.Array(t.Unknown({ description: "A track, identify, page, screen, group or alias call with its `type`" }), {
      description: `At most ${MAX_BATCH_EVENTS} calls; each is validated on its own`,
    }),
    sentAt: IsoTime,
    context: OptionalObject("Merged under each call's own context"),
    integrations: OptionalObject(),
    writeKey: t.Optional(t.Union([t.String({ maxLength: 256 }), t.Null()])),
  },
  {
    description: "A Segment batch: calls of any type, each with a `type` field",
    additionalProperties: true,
    example: {
      batch: [
        { type: "page", anonymousId: "0b7d3f2c-5a1e-4b8e-9c39-0f8f2a6a3b11", name: "Pricing", properties: { path: "/pricing" } },
        { type: "track", anonymousId: "0b7d3f2c-5a1e-4b8e-9c39-0f8f2a6a3b11", event: "Plan Selected", properties: { plan: "pro" } },
      ],
    },
  },
);
export type BatchRequest = Static<typeof BatchRequest>;

export const EventStatus = t.Union([t.Literal("accepted"), t.Literal("duplicate"), t.Literal("rejected"), t.Literal("dropped"), t.Literal("suppressed")], {
  description:
    "accepted: stored; duplicate: this messageId was already stored; rejected: invalid (see errors); dropped: a bot, by the tenant's setting; suppressed: not stored, the person asked to be erased and suppressed",
});

/** Present when the request used a deprecated payload version, or a value was read with a fallback (an unreadable timestamp). */
const Warnings = t.Optional(
  t.Array(t.String(), { description: "Deprecation warnings, and values Inlet could not read and replaced (also stored in context.inlet.warnings)" }),
);

export const TrackResponse = t.Object({
  success: t.Boolean(),
  messageId: t.String(),
  status: EventStatus,
  warnings: Warnings,
});

export const IdentifyResponse = t.Object({
  success: t.Boolean(),
  messageId: t.String(),
  status: EventStatus,
  leadId: t.Union([t.String(), t.Null()], {
    description:
      "The lead (known person) of the identity the call claims (its userId, else its email); null when the call reached no lead (e.g. neither userId nor email)",
  }),
  created: t.Boolean({ description: "true when this call created the lead, false when it updated one" }),
  warnings: Warnings,
});

export const ItemResult = t.Object({
  messageId: t.Optional(t.String()),
  status: EventStatus,
  errors: t.Optional(t.Array(t.Object({ path: t.String(), message: t.String() }))),
  warnings: Warnings,
});
export type ItemResult = Static<typeof ItemResult>;

export const BatchResponse = t.Object({
  success: t.Boolean(),
  results: t.Array(ItemResult, { description: "One per input call, in input order" }),
  warnings: Warnings,
});

const compiled = new Map<TSchema, TypeCheck<TSchema>>();
function compiledCheck(schema: TSchema): TypeCheck<TSchema> {
  let check = compiled.get(schema);
  if (!check) compiled.set(schema, (check = TypeCompiler.Compile(schema)));
  return check;
}

/** Every failing path of `value` against `schema`, one human message each, with the schema compiled once. */
export function schemaErrors(schema: TSchema, value: unknown): ErrorDetail[] {
  const check = compiledCheck(schema);
  if (check.Check(value)) return [];
  return humanErrors(check.Errors(value));
}

/** Compiles the call schemas now (at start), so that the first requests do not wait for it. */
export function compileCallSchemas(): void {
  for (const schema of Object.values(callSchemas)) compiledCheck(schema);
}

const SHORT_PATH_TYPES: Record<string, CallType> = { t: "track", i: "identify", a: "alias", p: "page", s: "screen", g: "group" };

/** The call type an ingestion path takes (`/v1/track`, `/v1/events/page`, `/t`...), or "batch". */
export function callTypeOfPath(path: string): CallType | "batch" {
  const last = path.slice(path.lastIndexOf("/") + 1);
  if (last in callSchemas) return last as CallType;
  return SHORT_PATH_TYPES[last] ?? "batch";
}
