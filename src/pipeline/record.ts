/**
 * The writer step of the pipeline: [dedupe → visitor → session → identity → insert → count in
 * session], for a request's accepted events, inside a group commit; resolves after the COMMIT.
 * Two ways to run it, with the same rules:
 * - SerialRecorder (this file): a synchronous store (SQLite) runs each event through the
 *   repositories inside the single writer's transaction;
 * - BatchRecorder (./batch-record.ts): an asynchronous store shared by several instances
 *   (PostgreSQL) does each step for a whole commit at once, under per-visitor locks.
 */
import { stepUnder, type Span } from "../observability/tracing";
import type { CanonicalEvent, Outcome, TenantAuth } from "./model";
import type { CommitWriter, EventRepository, IdentityStep, SuppressionCheck, VisitorRepository } from "./ports";
import type { SessionTracker } from "./sessions";
import { step as stepIndex, stepTimes } from "../lib/step-times";

const DEDUPE = stepIndex("record: dedupe");
const VISITOR = stepIndex("record: visitor");
const SESSION = stepIndex("record: session");
const IDENTITY = stepIndex("record: identity");
const INSERT = stepIndex("record: insert");
const SESSION_COUNT = stepIndex("record: session count");

/** Records accepted events (in the order given) in the next group commit; one outcome per event. */
export interface Recorder {
  record(auth: TenantAuth, events: readonly CanonicalEvent[], schemaVersion: string | null, span: Span | undefined): Promise<Outcome[]>;
  /** Events waiting for a commit (the backpressure bound). */
  readonly queuedEvents: number;
  /** Requests in the last commit. */
  readonly lastCommitJobs: number;
}

/** Events of one request that get their own session and identity spans (a batch of 2,500 would bury the trace). */
export const TRACED_EVENTS_PER_REQUEST = 10;

export class SerialRecorder implements Recorder {
  constructor(
    private readonly steps: {
      writer: CommitWriter;
      events: EventRepository;
      visitors: VisitorRepository;
      sessions: SessionTracker;
      identity: IdentityStep;
      suppression?: SuppressionCheck;
    },
  ) {}

  record(auth: TenantAuth, events: readonly CanonicalEvent[], schemaVersion: string | null, span: Span | undefined): Promise<Outcome[]> {
    return this.steps.writer.submit(
      events.length,
      () => events.map((event, k) => this.recordOne(auth, event, schemaVersion, k < TRACED_EVENTS_PER_REQUEST ? span : undefined)),
      auth.tenantId,
    );
  }

  get queuedEvents(): number {
    return this.steps.writer.queuedEvents;
  }

  get lastCommitJobs(): number {
    return this.steps.writer.stats.lastCommitJobs;
  }

  /** Runs inside the writer's transaction; `span` is the request's commit span, when traced. */
  private recordOne(auth: TenantAuth, event: CanonicalEvent, schemaVersion: string | null, span: Span | undefined): Outcome {
    const { events, visitors, sessions, identity, suppression } = this.steps;
    const { tenantId } = auth;
    const clock = stepTimes;
    let started = clock ? performance.now() : 0;
    if (suppression?.suppressed(tenantId, event)) return { messageId: event.messageId, status: "suppressed" };
    const duplicate = events.exists(tenantId, event.messageId);
    if (clock) started = clock.add(DEDUPE, started);
    if (duplicate) return withWarnings({ messageId: event.messageId, status: "duplicate" }, event);
    const { visitor, created } = visitors.touch(tenantId, event);
    if (clock) started = clock.add(VISITOR, started);
    const session = stepUnder(span, "session", () => sessions.assign(tenantId, visitor.id, event, created));
    if (clock) started = clock.add(SESSION, started);
    const lead = stepUnder(span, "identity", () => identity.resolve(tenantId, event, visitor, auth));
    if (clock) started = clock.add(IDENTITY, started);
    const eventId = events.insert(tenantId, event, { visitorId: visitor.id, sessionId: session.id, leadId: lead.leadId }, schemaVersion);
    if (clock) started = clock.add(INSERT, started);
    sessions.recorded({ tenantId, visitorId: visitor.id, span: session, event, eventId, anonymous: lead.leadId === null, leadId: visitor.leadId });
    if (clock) clock.add(SESSION_COUNT, started);
    const outcome: Outcome = { messageId: event.messageId, status: "accepted", leadId: lead.leadId, created: lead.created };
    if (lead.conflict) outcome.identityConflict = lead.conflict;
    return withWarnings(outcome, event);
  }
}

export function withWarnings(outcome: Outcome, event: CanonicalEvent): Outcome {
  if (event.warnings) outcome.warnings = event.warnings;
  return outcome;
}
