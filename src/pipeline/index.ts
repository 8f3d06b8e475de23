/**
 * The event pipeline, one straight path per call:
 *   validate → normalize → enrich → [writer transaction: dedupe → visitor → session → identity → insert] → commit
 * The bracketed steps run inside the group-commit writer, one call after another, so that the
 * state they share (sessions, leads) never races; the promise resolves only after the commit.
 */
import type { ErrorDetail } from "../http/errors";
import type { ItemResult } from "../modules/events/model";
import type { TenantSettings } from "../modules/tenants/settings";
import type { EventStore } from "./events-store";
import { normalize, type CanonicalEvent, type Envelope } from "./normalize";
import type { SessionTracker } from "./sessions";
import type { VisitorStore } from "./visitors";
import type { GroupCommitWriter } from "./writer";
import type { Call } from "../modules/events/model";

export interface RequestFacts {
  /** The socket peer's address. */
  peerIp: string | null;
  header: (name: string) => string | null;
}

export interface TenantAuth {
  tenantId: string;
  keyId: string;
  settings: TenantSettings;
}

/** The enrichment step's contract (src/enrich implements it). */
export interface EnrichStep {
  enrich(input: {
    context: Record<string, unknown> | undefined;
    peerIp: string | null;
    header: (name: string) => string | null;
    settings: TenantSettings;
  }): { context: Record<string, unknown>; drop: boolean };
}

/** The identity step's contract: which lead an event belongs to (src/pipeline/identity.ts). */
export interface IdentityStep {
  resolve(tenantId: string, event: CanonicalEvent, visitor: { id: string; leadId: string | null }): IdentityOutcome;
}
export interface IdentityOutcome {
  leadId: string | null;
  created?: boolean;
}

export type Validated = { call: Call } | { errors: ErrorDetail[]; messageId?: string };

export interface Outcome extends ItemResult {
  leadId?: string | null;
  created?: boolean;
}

export class Pipeline {
  constructor(
    private readonly steps: {
      writer: GroupCommitWriter;
      enricher: EnrichStep;
      events: EventStore;
      visitors: VisitorStore;
      sessions: SessionTracker;
      identity: IdentityStep;
    },
  ) {}

  /** Runs validated calls through the pipeline; one outcome per call, in input order. */
  async ingest(auth: TenantAuth, calls: Validated[], envelope: Envelope, facts: RequestFacts, schemaVersion: string | null = null): Promise<Outcome[]> {
    const outcomes: Outcome[] = new Array(calls.length);
    const accepted: { index: number; event: CanonicalEvent }[] = [];

    for (let i = 0; i < calls.length; i++) {
      const validated = calls[i]!;
      if ("errors" in validated) {
        outcomes[i] = rejected(validated.errors, validated);
        continue;
      }
      const normalized = normalize(validated.call, envelope);
      if ("errors" in normalized) {
        outcomes[i] = rejected(normalized.errors, validated);
        continue;
      }
      const event = normalized.event;
      const enriched = this.steps.enricher.enrich({ context: event.context, peerIp: facts.peerIp, header: facts.header, settings: auth.settings });
      event.context = enriched.context;
      if (enriched.drop) {
        outcomes[i] = { messageId: event.messageId, status: "dropped" };
        continue;
      }
      accepted.push({ index: i, event });
    }

    if (accepted.length > 0) {
      // One visitor's events are sessionized in timestamp order (stable for equal times).
      const ordered = accepted.length > 1 ? [...accepted].sort((a, b) => a.event.timestamp - b.event.timestamp) : accepted;
      const recorded = await this.steps.writer.submit(ordered.length, () =>
        ordered.map(({ event }) => this.record(auth.tenantId, event, schemaVersion)),
      );
      for (let k = 0; k < ordered.length; k++) outcomes[ordered[k]!.index] = recorded[k]!;
    }
    return outcomes;
  }

  /** Runs inside the writer's transaction. */
  private record(tenantId: string, event: CanonicalEvent, schemaVersion: string | null): Outcome {
    const { events, visitors, sessions, identity } = this.steps;
    if (events.exists(tenantId, event.messageId)) return { messageId: event.messageId, status: "duplicate" };
    const visitor = visitors.touch(tenantId, event);
    const sessionId = sessions.assign(tenantId, visitor.id, event);
    const lead = identity.resolve(tenantId, event, visitor);
    events.insert(tenantId, event, { visitorId: visitor.id, sessionId, leadId: lead.leadId }, schemaVersion);
    return { messageId: event.messageId, status: "accepted", leadId: lead.leadId, created: lead.created };
  }
}

function rejected(errors: ErrorDetail[], validated: Validated): Outcome {
  const raw = "call" in validated ? validated.call.messageId : validated.messageId;
  return { messageId: raw === undefined ? undefined : String(raw), status: "rejected", errors };
}
