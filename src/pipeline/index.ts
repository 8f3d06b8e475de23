/**
 * The event pipeline, one straight path per call (validated before, by the events module's
 * validateEvent): normalize → enrich → record [group commit: dedupe → visitor → session → identity → insert → count in session]
 * The bracketed steps run in the recorder (./record.ts), inside a group commit where the state
 * they share (sessions, leads) never races; the promise resolves only after the commit.
 */
import type { PeerIp } from "../enrich/client-ip";
import type { EnrichSettings } from "../enrich/settings";
import { step, type Span } from "../observability/tracing";
import type {
  CallType,
  CanonicalEvent,
  Envelope,
  ErrorDetail,
  IdentityConflict,
  IdentityConflictReason,
  ItemStatus,
  Outcome,
  TenantAuth,
  Validated,
} from "./model";
import { normalize } from "./normalize";
import { isServerSideCall } from "./server-side";
import { type Recorder, withWarnings } from "./record";

export type { Call, CallType, CanonicalEvent, Envelope, ErrorDetail, ItemStatus, Outcome, TenantAuth, Validated } from "./model";
import { rateLimitedLog } from "../logger";
import { step as stepIndex, stepTimes } from "../lib/step-times";

const NORMALIZE = stepIndex("normalize");
const ENRICH = stepIndex("enrich");
const METRICS = stepIndex("metrics");

export interface RequestFacts {
  /** The socket peer's address, or its lookup (done only when an event needs it). */
  peerIp: PeerIp;
  header: (name: string) => string | null;
}

/** The enrichment step's contract (src/enrich implements it). */
export interface EnrichStep {
  enrich(input: { context: Record<string, unknown> | undefined; peerIp: PeerIp; header: (name: string) => string | null; settings: EnrichSettings }): {
    context: Record<string, unknown>;
    drop: boolean;
  };
}

/** Told what was ingested: metrics count requests by version, calls by tenant, type and status, and identity conflicts. */
export interface IngestObserver {
  /** One request of `calls` calls, in payload version `schemaVersion` (null: none was named). */
  request(calls: number, schemaVersion: string | null): void;
  /** One call's outcome; `type` is "unknown" when it was rejected before its type was known. */
  call(tenantId: string, type: CallType | "unknown", status: ItemStatus): void;
  /** A call kept apart from another person's lead (never its values: ids and reason only). */
  identityConflict(tenantId: string, reason: IdentityConflictReason): void;
}

/** What a server-side library's request tells about the end user: nothing. */
const SERVER_REQUEST: RequestFacts = { peerIp: null, header: () => null };
/** Identity conflicts logged per minute at most (the metric counts every one). */
const CONFLICT_LOG_LINES_PER_MINUTE = 20;

export class Pipeline {
  constructor(
    private readonly steps: {
      recorder: Recorder;
      enricher: EnrichStep;
      observer?: IngestObserver;
    },
  ) {}

  /**
   * Runs validated calls through the pipeline; one outcome per call, in input order. Each step is
   * a span when tracing is on (see observability/tracing.ts); `commit` is the wait for the group
   * commit, whose session and identity work runs in the writer, for many requests at once.
   */
  async ingest(auth: TenantAuth, calls: Validated[], envelope: Envelope, facts: RequestFacts, schemaVersion: string | null = null): Promise<Outcome[]> {
    const outcomes: Outcome[] = new Array(calls.length);
    const tenant = { "inlet.tenant_id": auth.tenantId };
    let started = stepTimes ? performance.now() : 0;
    const valid = step("normalize", (span) => this.normalize(calls, envelope, outcomes, span), tenant);
    if (stepTimes) started = stepTimes.add(NORMALIZE, started);
    const accepted = step("enrich", (span) => this.enrich(valid, auth, facts, outcomes, span), tenant);
    if (stepTimes) stepTimes.add(ENRICH, started);
    if (accepted.length > 0) await step("commit", (span) => this.commit(accepted, outcomes, schemaVersion, span, auth), tenant);
    if (stepTimes) started = performance.now();
    this.observe(auth.tenantId, calls, outcomes, schemaVersion);
    if (stepTimes) stepTimes.add(METRICS, started);
    return outcomes;
  }

  private observe(tenantId: string, calls: readonly Validated[], outcomes: readonly Outcome[], schemaVersion: string | null): void {
    const { observer } = this.steps;
    if (!observer) return;
    observer.request(calls.length, schemaVersion);
    for (let i = 0; i < outcomes.length; i++) {
      const validated = calls[i]!;
      const outcome = outcomes[i]!;
      observer.call(tenantId, "call" in validated ? validated.call.type : "unknown", outcome.status);
      if (outcome.identityConflict) observer.identityConflict(tenantId, outcome.identityConflict.reason);
    }
  }

  /**
   * Rejects the calls validation refused, and turns the others into canonical events (ids as
   * strings, event time corrected for clock skew); an impossible event time is rejected too.
   */
  private normalize(calls: Validated[], envelope: Envelope, outcomes: Outcome[], span: Span | undefined): Indexed[] {
    const valid: Indexed[] = [];
    for (let i = 0; i < calls.length; i++) {
      const validated = calls[i]!;
      if ("errors" in validated) {
        outcomes[i] = rejected(validated.errors, validated);
        continue;
      }
      const normalized = normalize(validated.call, envelope);
      if ("errors" in normalized) outcomes[i] = rejected(normalized.errors, validated);
      else valid.push({ index: i, event: normalized.event });
    }
    span?.setAttributes({ "inlet.events": calls.length, "inlet.rejected": calls.length - valid.length });
    return valid;
  }

  /** Enriches each event's context; an event the tenant's settings drop (a bot) is `dropped`. */
  private enrich(valid: Indexed[], auth: TenantAuth, facts: RequestFacts, outcomes: Outcome[], span: Span | undefined): Indexed[] {
    const accepted: Indexed[] = [];
    for (const item of valid) {
      const { event } = item;
      // A server-side library's request describes the backend, not the user (server-side.ts).
      const request = isServerSideCall(event.context, auth.serverSide) ? SERVER_REQUEST : facts;
      const enriched = this.steps.enricher.enrich({ context: event.context, peerIp: request.peerIp, header: request.header, settings: auth.settings });
      event.context = enriched.context;
      if (enriched.drop) outcomes[item.index] = withWarnings({ messageId: event.messageId, status: "dropped" }, event);
      else accepted.push(item);
    }
    span?.setAttributes({ "inlet.events": valid.length, "inlet.dropped": valid.length - accepted.length });
    return accepted;
  }

  /** Stores the accepted events in the next group commit; resolves after the COMMIT. */
  private async commit(accepted: Indexed[], outcomes: Outcome[], schemaVersion: string | null, span: Span | undefined, auth: TenantAuth): Promise<void> {
    const { recorder } = this.steps;
    span?.setAttributes({ "inlet.events": accepted.length, "inlet.queue_depth": recorder.queuedEvents });
    // One visitor's events are sessionized in timestamp order (stable for equal times).
    const ordered = accepted.length > 1 ? [...accepted].sort((a, b) => a.event.timestamp - b.event.timestamp) : accepted;
    const recorded = await recorder.record(
      auth,
      ordered.map((item) => item.event),
      schemaVersion,
      span,
    );
    for (let k = 0; k < ordered.length; k++) {
      const outcome = recorded[k]!;
      outcomes[ordered[k]!.index] = outcome;
      if (outcome.identityConflict) logConflict(auth.tenantId, outcome.messageId!, outcome.identityConflict);
    }
    // Read right after this commit settled: no other commit runs before this continuation.
    span?.setAttribute("inlet.group_size", recorder.lastCommitJobs);
  }
}

/** An event with the position of its call in the request. */
interface Indexed {
  index: number;
  event: CanonicalEvent;
}

/**
 * Identity conflicts are logged after their commit, with ids only: never the email or userIds
 * that met. Bounded, since anyone holding a public write key can cause one per call.
 */
const conflictLog = rateLimitedLog("warn", CONFLICT_LOG_LINES_PER_MINUTE);
function logConflict(tenantId: string, messageId: string, conflict: IdentityConflict): void {
  conflictLog("identity conflict: kept apart from another person's lead", { tenantId, messageId, reason: conflict.reason, otherLeadId: conflict.otherLeadId });
}

function rejected(errors: ErrorDetail[], validated: Validated): Outcome {
  const raw = "call" in validated ? validated.call.messageId : validated.messageId;
  return { messageId: raw === undefined ? undefined : String(raw), status: "rejected", errors };
}
