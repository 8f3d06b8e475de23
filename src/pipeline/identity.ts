/**
 * Identity: which lead (known person) an event belongs to. Until a visitor is identified its
 * events have no lead; afterwards they carry the visitor's current lead.
 */
import type { CanonicalEvent } from "./normalize";
import type { IdentityOutcome, IdentityStep } from "./index";

export class IdentityResolver implements IdentityStep {
  resolve(_tenantId: string, _event: CanonicalEvent, visitor: { id: string; leadId: string | null }): IdentityOutcome {
    return { leadId: visitor.leadId };
  }

  clear(): void {}
}
