/**
 * The pipeline's own types: what it takes (calls, as validated by the events module), what it
 * makes (canonical events) and what it answers (one outcome per call). Layers above map to and
 * from these; the storage below implements src/pipeline/ports.ts in their terms.
 */
import type { EnrichSettings } from "../enrich/settings";

export type Json = Record<string, unknown>;

/** What is wrong with a call, by JSON pointer into it. */
export interface ErrorDetail {
  path: string;
  message: string;
}

export const CALL_TYPES = ["track", "identify", "page", "screen", "group", "alias"] as const;
export type CallType = (typeof CALL_TYPES)[number];

type Id = string | number;

/** Fields every call has. */
interface CommonFields {
  userId?: Id;
  anonymousId?: Id;
  messageId?: Id;
  context?: Json;
  integrations?: Json;
  timestamp?: string;
  originalTimestamp?: string;
  sentAt?: string;
}

/** A call that passed its schema, with the type it was validated as. */
export type Call = CommonFields &
  (
    | { type: "track"; event: string; properties?: Json }
    | { type: "identify"; traits?: Json }
    | { type: "page" | "screen"; name?: string; category?: string; properties?: Json }
    | { type: "group"; groupId: Id; traits?: Json }
    | { type: "alias"; previousId: Id; userId: Id }
  );

/** A call of a request: valid, or its errors (and the messageId it named, to report them by). */
export type Validated = { call: Call } | { errors: ErrorDetail[]; messageId?: string };

/**
 * accepted: stored; duplicate: its messageId was stored before; rejected: invalid; dropped: a bot,
 * by the tenant's setting; suppressed: it names a person whose data the tenant asked not to store.
 */
export type ItemStatus = "accepted" | "duplicate" | "rejected" | "dropped" | "suppressed";

/**
 * Why a call was kept apart from another person's lead:
 * - `same_email`: an identify gave its userId an email that a lead of another userId holds;
 * - `alias`: an alias named, as previousId, another userId or a visitor linked to another userId's lead;
 * - `email_only`: an identify without a userId gave the email of a lead that has a userId.
 */
export type IdentityConflictReason = "same_email" | "alias" | "email_only";
export interface IdentityConflict {
  reason: IdentityConflictReason;
  /** The lead the call was kept apart from (never sent back to the caller). */
  otherLeadId: string;
}

/** The answer for one call. */
export interface Outcome {
  messageId?: string;
  status: ItemStatus;
  errors?: ErrorDetail[];
  /** Values that could not be read and were replaced (the event was kept). */
  warnings?: string[];
  leadId?: string | null;
  created?: boolean;
  /** An identity conflict the call ran into; for operators (metrics, log, debugger), never for the caller. */
  identityConflict?: IdentityConflict;
}

export interface CanonicalEvent {
  type: CallType;
  messageId: string;
  event?: string;
  anonymousId?: string;
  userId?: string;
  properties?: Json;
  traits?: Json;
  context: Json;
  integrations?: Json;
  /** Skew-corrected event time, ms. */
  timestamp: number;
  /** The client's own time for the event, ms, as sent. */
  originalTimestamp?: number;
  sentAt?: number;
  receivedAt: number;
  /** page/screen name and category, group's groupId, alias's previousId. */
  extra?: Json;
  /** Values that could not be read and were replaced (also in context.inlet.warnings). */
  warnings?: string[];
}

/** What a request shares among its calls. */
export interface Envelope {
  receivedAt: number;
  /** A batch's sentAt, applied to items that have none. */
  sentAt?: string | null;
  /** A batch's context, merged under each item's own. */
  context?: Json | null;
  integrations?: Json | null;
}

/** The tenant a request was authenticated for, with the settings the pipeline applies. */
export interface TenantAuth {
  tenantId: string;
  keyId: string;
  settings: EnrichSettings;
  /**
   * True when the call came with a server key: a secret held by the tenant's backend, never by a
   * browser. Only such calls may merge two identified leads (see docs/identity.md), and their
   * request describes the backend, not the user (server-side.ts).
   */
  serverSide: boolean;
}

/** How stale a visitor's stored last_seen_at may be ("last seen, to the minute"): moving it less is not written. */
export const LAST_SEEN_RESOLUTION_MS = 60_000;

/** The visitor key of an event: its anonymousId, else its userId. */
export function visitorKey(event: Pick<CanonicalEvent, "anonymousId" | "userId">): string {
  return event.anonymousId ?? `user:${event.userId}`;
}
