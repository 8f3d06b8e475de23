/**
 * `GET /v1/leads/:userIdOrEmail` (what `inlet lead show` prints) and `GET /v1/visitors/:anonymousId`
 * (the visitor, its sessions, the lead it is linked to), for the admin key's tenant only.
 */
import { Elysia, t } from "elysia";
import type { keyAuth } from "../../http/auth";
import { ApiError, errorResponses } from "../../http/errors";
import { Lead, Visitor } from "./model";
import type { LeadService } from "./service";

export interface LeadsDeps {
  /** The key-auth plugin (src/http/auth.ts): these routes take `{ adminKey: true }`. */
  auth: ReturnType<typeof keyAuth>;
  leads: LeadService;
}

const security: Record<string, string[]>[] = [{ bearer: [] }, { basic: [] }, { apiKey: [] }];
const errors = errorResponses(401, 403, 404);

export function leadsController({ auth, leads }: LeadsDeps) {
  return new Elysia({ prefix: "/v1", tags: ["Read"] })
    .use(auth)
    .get(
      "/leads/:userIdOrEmail",
      async ({ admin, params }) => {
        const lead = await leads.showLead(admin.tenantId, params.userIdOrEmail);
        if (!lead) throw new ApiError(404, "not_found", "No lead with this userId or email in this tenant.");
        return lead;
      },
      {
        params: t.Object({ userIdOrEmail: t.String({ minLength: 1, maxLength: 255, examples: ["user-42", "ada@example.com"] }) }),
        adminKey: true,
        response: { 200: Lead, ...errors },
        detail: {
          summary: "A lead",
          description:
            "The lead with this userId, else with this email: merged traits, linked visitors, merges, event and session counts (a merged lead answers with the lead it was merged into). Admin key; write keys get 403.",
          security,
        },
      },
    )
    .get(
      "/visitors/:anonymousId",
      async ({ admin, params }) => {
        const visitor = await leads.showVisitor(admin.tenantId, params.anonymousId);
        if (!visitor) throw new ApiError(404, "not_found", "No visitor with this anonymousId in this tenant.");
        return visitor;
      },
      {
        params: t.Object({ anonymousId: t.String({ minLength: 1, maxLength: 255 }) }),
        adminKey: true,
        response: { 200: Visitor, ...errors },
        detail: {
          summary: "A visitor",
          description:
            "The visitor with this anonymousId: when it was first and last seen, its sessions (newest first) and the lead it is linked to. Admin key; write keys get 403.",
          security,
        },
      },
    );
}
