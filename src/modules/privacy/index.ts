/**
 * The privacy API of a tenant's admin key: erase a person (`POST /v1/privacy/deletions`, a
 * receipt back, readable again by id), and suppress one, list and lift suppressions. Write keys
 * are refused with 403: they are public. See docs/privacy.md.
 */
import { Elysia } from "elysia";
import type { keyAuth } from "../../http/auth";
import { ADMIN_BODY_BYTES, jsonBody } from "../../http/body";
import { ApiError, errorResponses, invalidRequest } from "../../http/errors";
import { DeletionReceipt, DeletionRequest, Suppression, SuppressionList, SuppressionRequest } from "./model";
import type { Privacy } from "./contract";
import type { Subject } from "./service";

const security: Record<string, string[]>[] = [{ bearer: [] }, { basic: [] }, { apiKey: [] }];
const errors = errorResponses(400, 401, 403, 503);
const readErrors = errorResponses(401, 403, 404);
const notFound = (what: string) => new ApiError(404, "not_found", `No ${what} with this id in this tenant.`);

function subjectOf(body: { userId?: string | number; email?: string; anonymousId?: string | number }): Subject {
  const subject: Subject = {};
  if (body.userId !== undefined) subject.userId = String(body.userId);
  if (body.email !== undefined) subject.email = body.email;
  if (body.anonymousId !== undefined) subject.anonymousId = String(body.anonymousId);
  if (Object.values(subject).every((v) => v.trim() === "")) {
    throw invalidRequest("The subject needs a userId, an email or an anonymousId.", [{ path: "/subject", message: "Expected at least one identifier" }]);
  }
  return subject;
}

export interface PrivacyDeps {
  /** The key-auth plugin (src/http/auth.ts): these routes take `{ adminKey: true }`. */
  auth: ReturnType<typeof keyAuth>;
  privacy: Privacy;
}

export function privacyController({ auth, privacy }: PrivacyDeps) {
  return new Elysia({ prefix: "/v1/privacy", tags: ["Privacy"] })
    .use(auth)
    .post(
      "/deletions",
      async ({ admin, body, server, request }) => {
        // A large erasure may take longer than the connection's idle timeout: no timeout for this request.
        server?.timeout(request, 0);
        const subject = subjectOf(body.subject);
        return privacy.delete(admin.tenantId, subject, { suppress: body.suppress === true, by: await privacy.requester(admin.keyId) });
      },
      {
        parse: jsonBody(ADMIN_BODY_BYTES),
        body: DeletionRequest,
        adminKey: true,
        response: { 200: DeletionReceipt, ...errors },
        detail: {
          summary: "Erase a person",
          description:
            "Deletes every event, session, visitor, identity link and lead of the person the subject names (as identity resolution sees them: merged leads and linked visitors included), in small transactions while ingestion goes on, then empties the write-ahead log. Answers when done, with a receipt; repeating it is harmless (`nothingLeft: true`). With `suppress: true` the person's later events are refused (status `suppressed`).",
          security,
        },
      },
    )
    .get(
      "/deletions/:id",
      async ({ admin, params }) => {
        const receipt = await privacy.receipt(admin.tenantId, params.id);
        if (!receipt) throw notFound("deletion");
        return receipt;
      },
      { adminKey: true, response: { 200: DeletionReceipt, ...readErrors }, detail: { summary: "Read an erasure's receipt", security } },
    )
    .get("/suppressions", async ({ admin }) => ({ suppressions: await privacy.suppressionsOf(admin.tenantId) }), {
      adminKey: true,
      response: { 200: SuppressionList, ...errorResponses(401, 403) },
      detail: { summary: "List suppressed people", description: "Each suppression shows a salted hash of its subject, never the subject.", security },
    })
    .post(
      "/suppressions",
      async ({ admin, body }) => {
        const subject = subjectOf(body.subject);
        return privacy.suppress(admin.tenantId, subject, await privacy.requester(admin.keyId));
      },
      {
        parse: jsonBody(ADMIN_BODY_BYTES),
        body: SuppressionRequest,
        adminKey: true,
        response: { 200: Suppression, ...errors },
        detail: {
          summary: "Suppress a person",
          description: "Later events with any of the person's userIds, emails or anonymousIds are not stored (status `suppressed`). Nothing is deleted.",
          security,
        },
      },
    )
    .delete(
      "/suppressions/:id",
      async ({ admin, params }) => {
        if (!(await privacy.lift(admin.tenantId, params.id))) throw notFound("suppression");
        return { lifted: true, suppressionId: params.id };
      },
      { adminKey: true, response: readErrors, detail: { summary: "Lift a suppression", description: "The person's later events are stored again.", security } },
    );
}
