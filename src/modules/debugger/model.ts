/** The `t` schemas of the debugger's routes (the OpenAPI document; the stream itself is text/event-stream). */
import { t } from "elysia";
import { ErrorDetail } from "../../http/errors";

export const DebuggerEntry = t.Object(
  {
    seq: t.Integer({ description: "Increases by one per call recorded for the tenant (the event's id)" }),
    at: t.String({ format: "date-time" }),
    type: t.String({ description: "track, identify, page, screen, group, alias, or batch for a request refused as a whole" }),
    event: t.Optional(t.String({ description: "The event name, page or screen name, groupId or previousId" })),
    userId: t.Optional(t.String()),
    anonymousId: t.Optional(t.String()),
    messageId: t.Optional(t.String()),
    status: t.String({ description: "accepted, duplicate, rejected, dropped, rate-limited (or suppressed)" }),
    code: t.Optional(t.String({ description: "The error code of a call that was not accepted" })),
    errors: t.Optional(t.Array(ErrorDetail)),
    payload: t.Optional(t.String({ description: "The call as received, JSON text cut at 2,048 characters, for calls that were not stored" })),
    truncated: t.Optional(t.Boolean()),
    endpoint: t.String(),
    keyPrefix: t.Optional(t.String()),
    library: t.Optional(t.String()),
    userAgent: t.Optional(t.String()),
  },
  {
    description: "One call in the debugger",
    examples: [
      {
        seq: 41,
        at: "2026-11-27T10:00:00.180Z",
        type: "track",
        event: "Order Completed",
        anonymousId: "0b7d3f2c-5a1e-4b8e-9c39-0f8f2a6a3b11",
        status: "rejected",
        code: "invalid_request",
        errors: [{ path: "/properties", message: "Expected object" }],
        payload: '{"event":"Order Completed","anonymousId":"0b7d3f2c-5a1e-4b8e-9c39-0f8f2a6a3b11","properties":"A-1001"}',
        endpoint: "POST /v1/track",
        keyPrefix: "wk_Vb3k9QxZ",
        library: "analytics-node 3.1.0",
        userAgent: "node",
      },
    ],
  },
);
