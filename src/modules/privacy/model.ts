/** The privacy routes' request and response schemas (validation, types and OpenAPI). */
import { t } from "elysia";

const Identifier = t.String({ minLength: 1, maxLength: 320 });

export const Subject = t.Object(
  {
    userId: t.Optional(t.Union([Identifier, t.Number()])),
    email: t.Optional(Identifier),
    anonymousId: t.Optional(t.Union([Identifier, t.Number()])),
  },
  { description: "The person, by any of their identifiers (at least one)", additionalProperties: false },
);

export const DeletionRequest = t.Object(
  {
    subject: Subject,
    suppress: t.Optional(t.Boolean({ default: false, description: "Also refuse the person's later events (status `suppressed`)" })),
  },
  { example: { subject: { email: "grace@example.com" }, suppress: true } },
);

export const SuppressionRequest = t.Object({ subject: Subject }, { example: { subject: { userId: "user-4711" } } });

const Counts = t.Object({ events: t.Integer(), sessions: t.Integer(), visitors: t.Integer(), leads: t.Integer() });
const RequestedBy = t.Object({ keyId: t.Union([t.String(), t.Null()]), keyPrefix: t.Union([t.String(), t.Null()]) });

export const DeletionReceipt = t.Object(
  {
    deletionId: t.String(),
    tenantId: t.String(),
    status: t.Literal("completed"),
    deleted: Counts,
    nothingLeft: t.Boolean({ description: "true when nothing of the person was stored any more (e.g. a repeated deletion)" }),
    suppressionId: t.Union([t.String(), t.Null()]),
    walTruncated: t.Boolean({ description: "Whether the write-ahead log was checkpointed and emptied afterwards" }),
    requestedAt: t.String(),
    finishedAt: t.String(),
    requestedBy: RequestedBy,
  },
  { description: "The receipt of an erasure" },
);

export const Suppression = t.Object({
  suppressionId: t.String(),
  tenantId: t.String(),
  subjectHash: t.String({ description: "Salted hash of the subject; the subject itself is not kept" }),
  subjectKinds: t.String(),
  identifiers: t.Integer({ description: "How many identifiers (userIds, emails, anonymousIds, hashed) are suppressed" }),
  createdAt: t.String(),
  requestedBy: RequestedBy,
});

export const SuppressionList = t.Object({ suppressions: t.Array(Suppression) });
