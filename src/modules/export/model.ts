/** The `t` schemas of GET /v1/events (validation, types and the OpenAPI document). */
import { t } from "elysia";
import { jsonObject } from "../../lib/json-object";

export const MAX_PAGE = 1000;
export const DEFAULT_PAGE = 100;

const Time = t.String({ maxLength: 64, description: "An ISO 8601 date or time", examples: ["2026-11-27T00:00:00Z"] });

export const EventsQuery = t.Object({
  since: t.Optional(t.String({ ...Time, description: "Events whose timestamp is at or after this time (ISO 8601)" })),
  until: t.Optional(t.String({ ...Time, description: "Events whose timestamp is before this time (ISO 8601)" })),
  // A pattern rather than an enum: Elysia would give an optional enum its first value as a default.
  type: t.Optional(t.String({ pattern: "^(track|identify|page|screen|group|alias)$", description: "track, identify, page, screen, group or alias" })),
  userId: t.Optional(t.String({ maxLength: 255 })),
  anonymousId: t.Optional(t.String({ maxLength: 255 })),
  limit: t.Optional(
    t.Numeric({
      minimum: 1,
      maximum: MAX_PAGE,
      description: `Events per page (JSON), default ${DEFAULT_PAGE}; the whole range when streaming NDJSON unless given`,
    }),
  ),
  cursor: t.Optional(t.String({ maxLength: 200, description: "`nextCursor` of the previous page: continue after its last event" })),
});

/** An event as `inlet export` writes it: Segment's field names plus Inlet's own. */
export const StoredEvent = t.Object(
  {
    type: t.String(),
    messageId: t.String(),
    event: t.Optional(t.String()),
    anonymousId: t.Optional(t.String()),
    userId: t.Optional(t.String()),
    properties: t.Optional(jsonObject()),
    traits: t.Optional(jsonObject()),
    context: jsonObject({ description: "As enriched and stored (IP per the tenant's policy, geo, user agent, campaign, channel)" }),
    timestamp: t.String({ format: "date-time" }),
    receivedAt: t.String({ format: "date-time" }),
    visitorId: t.String(),
    sessionId: t.String(),
    leadId: t.Optional(t.String()),
  },
  {
    additionalProperties: true,
    examples: [
      {
        type: "track",
        event: "Order Completed",
        messageId: "3f1c2b9e-0d7a-4c55-9a51-6a1e4f0b2d77",
        anonymousId: "0b7d3f2c-5a1e-4b8e-9c39-0f8f2a6a3b11",
        userId: "user-42",
        properties: { orderId: "A-1001", revenue: 42.5, currency: "EUR" },
        context: { ip: "81.2.69.0", location: { country: "GB" }, channel: "email", library: { name: "analytics.js", version: "2.11.1" } },
        timestamp: "2026-11-27T10:00:00.000Z",
        sentAt: "2026-11-27T10:00:00.120Z",
        receivedAt: "2026-11-27T10:00:00.180Z",
        visitorId: "01936f8e-5d2a-7c4b-9a3e-1f2d3c4b5a69",
        sessionId: "01936f8e-5d2b-7e10-8b2f-6c5d4e3f2a1b",
        leadId: "01936f8e-4c1a-7b2c-8d3e-4f5a6b7c8d9e",
      },
    ],
  },
);

export const EventsPage = t.Object(
  {
    events: t.Array(StoredEvent, { description: "Oldest first (by timestamp, then arrival)" }),
    nextCursor: t.Union([t.String(), t.Null()], {
      description:
        "Pass as `cursor` for the events after this page; also when hasMore is false, to poll for events that arrive later. Null only when the page is empty and no cursor was given.",
    }),
    hasMore: t.Boolean({ description: "Whether more events matched when this page was read" }),
  },
  { description: "A page of stored events" },
);
