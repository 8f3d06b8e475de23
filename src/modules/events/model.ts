/**
 * The Segment-spec calls Inlet accepts, as `t` schemas: they validate requests, give the
 * TypeScript types, and make the OpenAPI document. Field names follow the Segment spec.
 */
import { t, type Static, type TSchema } from "elysia";
import { TypeCompiler, type TypeCheck } from "@sinclair/typebox/compiler";
import type { ErrorDetail } from "../../pipeline/model";

/** Segment's per-event limit; a larger event is rejected. */
export const MAX_EVENT_BYTES = 32 * 1024;
/** Segment's per-request limit for batches. */
export const MAX_BATCH_BYTES = 500 * 1024;
/** Segment silently drops events past this count; Inlet answers 400 instead. */
export const MAX_BATCH_EVENTS = 2500;

const Id = t.String({ minLength: 1, maxLength: 255 });
/** Segment libraries send ids as strings; some callers send numbers, which are kept as strings. */
const UserId = t.Union([Id, t.Number()], { description: "The user's id in your database" });
const IsoTime = t.String({ format: "date-time", maxLength: 64, examples: ["2026-11-27T10:00:00.000Z"] });
const JsonObject = t.Record(t.String(), t.Unknown());

/** Fields every call has. */
const common = {
  userId: t.Optional(UserId),
  anonymousId: t.Optional(t.Union([Id, t.Number()], { description: "A pseudo-unique id of the browser or device" })),
  messageId: t.Optional(t.Union([Id, t.Number()], { description: "Unique per event; a repeat is acknowledged and not stored twice" })),
  context: t.Optional(JsonObject),
  integrations: t.Optional(JsonObject),
  timestamp: t.Optional(IsoTime),
  originalTimestamp: t.Optional(IsoTime),
  sentAt: t.Optional(IsoTime),
  /** For sendBeacon and Segment's browser library, which cannot set headers. */
  writeKey: t.Optional(t.String({ maxLength: 256 })),
};

export const TrackCall = t.Object(
  {
    type: t.Optional(t.Literal("track")),
    event: t.String({ minLength: 1, maxLength: 200, description: "The action the user performed", examples: ["Order Completed"] }),
    properties: t.Optional(JsonObject),
    ...common,
  },
  {
    description: "A Segment track call",
    // Segment clients send more top-level fields (channel, version, _metadata...): allowed, not stored.
    additionalProperties: true,
    examples: [
      {
        event: "Order Completed",
        anonymousId: "0b7d3f2c-5a1e-4b8e-9c39-0f8f2a6a3b11",
        properties: { orderId: "A-1001", revenue: 42.5, currency: "EUR" },
        context: { page: { url: "https://shop.example/checkout?utm_source=newsletter&utm_medium=email" } },
        timestamp: "2026-11-27T10:00:00.000Z",
      },
    ],
  },
);

/** Free-form traits; `email`, when present, must be an email address (or null to remove it). */
const Traits = t.Object(
  { email: t.Optional(t.Union([t.String({ format: "email", maxLength: 320 }), t.Null()])) },
  { additionalProperties: true, description: "Free-form; null removes a trait" },
);

export const IdentifyCall = t.Object(
  { type: t.Optional(t.Literal("identify")), traits: t.Optional(Traits), ...common },
  { description: "A Segment identify call", additionalProperties: true },
);

/** page and screen calls: a view, named and categorised (screen is the mobile apps' page). */
function viewCall<const Type extends "page" | "screen">(type: Type, description: string) {
  return t.Object(
    {
      type: t.Optional(t.Literal(type)),
      name: t.Optional(t.String({ maxLength: 200 })),
      category: t.Optional(t.String({ maxLength: 200 })),
      properties: t.Optional(JsonObject),
      ...common,
    },
    { description, additionalProperties: true },
  );
}

export const PageCall = viewCall("page", "A Segment page call");
export const ScreenCall = viewCall("screen", "A Segment screen call");

export const GroupCall = t.Object(
  { type: t.Optional(t.Literal("group")), groupId: t.Union([Id, t.Number()]), traits: t.Optional(JsonObject), ...common },
  { description: "A Segment group call", additionalProperties: true },
);

export const AliasCall = t.Object(
  { type: t.Optional(t.Literal("alias")), previousId: t.Union([Id, t.Number()]), ...common, userId: UserId },
  { description: "A Segment alias call", additionalProperties: true },
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
    sentAt: t.Optional(IsoTime),
    context: t.Optional(JsonObject),
    integrations: t.Optional(JsonObject),
    writeKey: t.Optional(t.String({ maxLength: 256 })),
  },
  { description: "A Segment batch: calls of any type, each with a `type` field", additionalProperties: true },
);
export type BatchRequest = Static<typeof BatchRequest>;

export const EventStatus = t.Union([t.Literal("accepted"), t.Literal("duplicate"), t.Literal("rejected"), t.Literal("dropped")], {
  description: "accepted: stored; duplicate: this messageId was already stored; rejected: invalid (see errors); dropped: a bot, by the tenant's setting",
});

/** Present when the request used a deprecated payload version (see the Inlet-Version header). */
const Warnings = t.Optional(t.Array(t.String(), { description: "Deprecation warnings" }));

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
  leadId: t.Union([t.String(), t.Null()], { description: "The lead (known person); null for an identify with neither userId nor email" }),
  created: t.Boolean({ description: "true when this call created the lead, false when it updated one" }),
  warnings: Warnings,
});

export const ItemResult = t.Object({
  messageId: t.Optional(t.String()),
  status: EventStatus,
  errors: t.Optional(t.Array(t.Object({ path: t.String(), message: t.String() }))),
});
export type ItemResult = Static<typeof ItemResult>;

export const BatchResponse = t.Object({
  success: t.Boolean(),
  results: t.Array(ItemResult, { description: "One per input call, in input order" }),
  warnings: Warnings,
});

const compiled = new Map<TSchema, TypeCheck<TSchema>>();
/** Failing paths reported per call: enough to fix it, bounded for a hostile one. */
const MAX_ERRORS_PER_CALL = 20;

/** Every failing path of `value` against `schema` (at most MAX_ERRORS_PER_CALL), with the schema compiled once. */
export function schemaErrors(schema: TSchema, value: unknown): ErrorDetail[] {
  let check = compiled.get(schema);
  if (!check) compiled.set(schema, (check = TypeCompiler.Compile(schema)));
  if (check.Check(value)) return [];
  const errors: ErrorDetail[] = [];
  for (const error of check.Errors(value)) {
    errors.push({ path: error.path, message: error.message });
    if (errors.length >= MAX_ERRORS_PER_CALL) break;
  }
  return errors;
}

/** The messageId a (possibly invalid) call names, to report it beside the call's errors. */
export function messageIdOf(value: unknown): string | undefined {
  const id = value && typeof value === "object" ? (value as { messageId?: unknown }).messageId : undefined;
  return typeof id === "string" || typeof id === "number" ? String(id).slice(0, 255) : undefined;
}

/**
 * Validates one call of a batch against the schema of its `type` (or `expected` for the
 * single-call endpoints), returning the call or every failing path.
 */
export function validateCall(value: unknown, expected?: CallType): { call: Call } | { errors: ErrorDetail[]; messageId?: string } {
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    return { errors: [{ path: "", message: "Expected an object" }] };
  }
  const messageId = messageIdOf(value);
  const rawType = (value as { type?: unknown }).type;
  const type = (expected ?? rawType) as CallType;
  if (!expected && (typeof rawType !== "string" || !(rawType in callSchemas))) {
    return { errors: [{ path: "/type", message: `Expected one of ${callTypes.join(", ")}` }], messageId };
  }
  const errors = schemaErrors(callSchemas[type], value);
  if (errors.length > 0) return { errors, messageId };
  return { call: { ...(value as object), type } as Call };
}
