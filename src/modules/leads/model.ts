/** The `t` schemas of GET /v1/leads/:userIdOrEmail and GET /v1/visitors/:anonymousId. */
import { t } from "elysia";
import { jsonObject } from "../../lib/json-object";

const Time = t.String({ format: "date-time" });
const NullableTime = t.Union([Time, t.Null()]);
const NullableString = t.Union([t.String(), t.Null()]);

export const Lead = t.Object(
  {
    leadId: t.String(),
    userId: NullableString,
    email: NullableString,
    traits: jsonObject({ description: "Merged traits (a newer identify wins, trait by trait)" }),
    groupId: NullableString,
    createdAt: Time,
    updatedAt: Time,
    visitors: t.Array(t.Object({ visitorId: t.String(), anonymousId: NullableString, linkedAt: Time, unlinkedAt: NullableTime, messageId: t.String() }), {
      description: "Visitors linked to the lead, with the event that linked each",
    }),
    mergedFrom: t.Array(t.Object({ fromLeadId: t.String(), reason: t.String(), messageId: t.String(), mergedAt: Time })),
    eventCount: t.Integer({ minimum: 0 }),
    sessionCount: t.Integer({ minimum: 0 }),
  },
  {
    description: "A lead, as `inlet lead show` prints it",
    examples: [
      {
        leadId: "01936f8e-4c1a-7b2c-8d3e-4f5a6b7c8d9e",
        userId: "user-42",
        email: "ada@example.com",
        traits: { email: "ada@example.com", name: "Ada", plan: "pro" },
        groupId: null,
        createdAt: "2026-11-27T09:58:00.000Z",
        updatedAt: "2026-11-27T10:00:00.000Z",
        visitors: [
          {
            visitorId: "01936f8e-5d2a-7c4b-9a3e-1f2d3c4b5a69",
            anonymousId: "0b7d3f2c-5a1e-4b8e-9c39-0f8f2a6a3b11",
            linkedAt: "2026-11-27T09:58:00.000Z",
            unlinkedAt: null,
            messageId: "identify-1",
          },
        ],
        mergedFrom: [],
        eventCount: 12,
        sessionCount: 2,
      },
    ],
  },
);

export const Visitor = t.Object(
  {
    visitorId: t.String(),
    anonymousId: t.String(),
    userId: NullableString,
    firstSeenAt: Time,
    lastSeenAt: Time,
    sessions: t.Array(
      t.Object({
        sessionId: t.String(),
        startedAt: Time,
        lastEventAt: Time,
        eventCount: t.Integer({ minimum: 0, description: "Written every few seconds while the session is active" }),
        landingPage: NullableString,
        referrer: NullableString,
        channel: NullableString,
        campaign: t.Union([jsonObject(), t.Null()]),
        leadId: NullableString,
      }),
      { description: "Newest first, at most 100" },
    ),
    lead: t.Union([Lead, t.Null()], { description: "The lead the visitor is linked to now, or null while anonymous" }),
  },
  {
    description: "A visitor (a browser or device by its anonymousId), its sessions and its lead",
    examples: [
      {
        visitorId: "01936f8e-5d2a-7c4b-9a3e-1f2d3c4b5a69",
        anonymousId: "0b7d3f2c-5a1e-4b8e-9c39-0f8f2a6a3b11",
        userId: null,
        firstSeenAt: "2026-11-27T09:50:00.000Z",
        lastSeenAt: "2026-11-27T10:00:00.000Z",
        sessions: [
          {
            sessionId: "01936f8e-5d2b-7e10-8b2f-6c5d4e3f2a1b",
            startedAt: "2026-11-27T09:50:00.000Z",
            lastEventAt: "2026-11-27T10:00:00.000Z",
            eventCount: 7,
            landingPage: "https://shop.example/?utm_source=newsletter",
            referrer: null,
            channel: "email",
            campaign: { source: "newsletter", medium: "email" },
            leadId: "01936f8e-4c1a-7b2c-8d3e-4f5a6b7c8d9e",
          },
        ],
        lead: null,
      },
    ],
  },
);
