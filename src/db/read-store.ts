/**
 * What the read side (leads and visitors, export, business stats) needs from a store, one
 * interface per concern. src/db/sqlite and src/db/postgres implement them; the services in
 * src/modules and src/observability depend on these interfaces only.
 *
 * Records are store-neutral: times are ms since the epoch, JSON columns are parsed values. The
 * services shape the API's answers from them, so both stores answer the same JSON.
 */

export interface LeadRecord {
  id: string;
  userId: string | null;
  email: string | null;
  traits: Record<string, unknown>;
  groupId: string | null;
  createdAt: number;
  updatedAt: number;
  mergedInto: string | null;
}

export interface LinkRecord {
  visitorId: string;
  anonymousId: string | null;
  linkedAt: number;
  unlinkedAt: number | null;
  messageId: string;
}

export interface MergeRecord {
  fromLeadId: string;
  reason: string;
  messageId: string;
  mergedAt: number;
}

export interface VisitorRecord {
  id: string;
  anonymousId: string | null;
  userId: string | null;
  leadId: string | null;
  firstSeenAt: number;
  lastSeenAt: number;
}

export interface SessionRecord {
  id: string;
  startedAt: number;
  lastEventAt: number;
  eventCount: number;
  landingPage: string | null;
  referrer: string | null;
  channel: string | null;
  campaign: Record<string, unknown> | null;
  leadId: string | null;
}

/** Leads, their links and merges, and visitors with their sessions, of one tenant at a time. */
export interface LeadReadStore {
  leadByUserId(tenantId: string, userId: string): Promise<LeadRecord | undefined>;
  /** A lead with this (normalized) email that was not merged into another. */
  unmergedLeadByEmail(tenantId: string, email: string): Promise<LeadRecord | undefined>;
  leadById(tenantId: string, leadId: string): Promise<LeadRecord | undefined>;
  /** The visitors ever linked to the lead, in the order they were linked. */
  linksOfLead(tenantId: string, leadId: string): Promise<LinkRecord[]>;
  /** The leads merged into this one, in the order they were merged. */
  mergesInto(tenantId: string, leadId: string): Promise<MergeRecord[]>;
  /** The lead's events (its own, and the anonymous ones of sessions it owns) and the sessions holding them. */
  leadCounts(tenantId: string, leadId: string): Promise<{ events: number; sessions: number }>;
  /** The visitor whose key is this anonymousId. */
  visitorByKey(tenantId: string, key: string): Promise<VisitorRecord | undefined>;
  /** The visitor's sessions, newest first, at most `limit`. */
  sessionsOfVisitor(tenantId: string, visitorId: string, limit: number): Promise<SessionRecord[]>;
}

/** A stored event as read back, with the lead of its session (an anonymous event's lead). */
export interface StoredEventRecord {
  type: string;
  messageId: string;
  event: string | null;
  anonymousId: string | null;
  userId: string | null;
  visitorId: string;
  sessionId: string;
  leadId: string | null;
  sessionLeadId: string | null;
  timestamp: number;
  originalTimestamp: number | null;
  sentAt: number | null;
  receivedAt: number;
  properties: Record<string, unknown> | null;
  traits: Record<string, unknown> | null;
  context: Record<string, unknown> | null;
  integrations: Record<string, unknown> | null;
  extra: Record<string, unknown> | null;
  schemaVersion: string | null;
}

/**
 * Where an event is in export order (by timestamp, then arrival), as safe integers whose meaning
 * is the store's own: the services only carry it in a cursor and hand it back.
 */
export type Position = readonly number[];

export interface EventFilter {
  tenantId: string;
  /** Timestamp at or after (ms). */
  since?: number;
  /** Timestamp before (ms). */
  until?: number;
  type?: string;
  userId?: string;
  anonymousId?: string;
  /** Start after this position (a page's last event). */
  after?: Position;
}

export interface EventPage {
  events: StoredEventRecord[];
  positions: Position[];
  /**
   * True when the page stopped before `limit` at events that are committed but could still be
   * preceded by events of transactions in flight (PostgreSQL): read again after them, soon.
   */
  heldBack: boolean;
}

export interface EventReadStore {
  /** How many integers a position of this store has (a cursor of another shape is not one of its own). */
  readonly positionLength: number;
  /** Up to `limit` events after `filter.after`, oldest first (by timestamp, then arrival). */
  page(filter: EventFilter, limit: number): Promise<EventPage>;
  byMessageId(tenantId: string, messageId: string): Promise<StoredEventRecord | undefined>;
}

/** Visitors and sessions created in a window, of one tenant. */
export interface CreatedCounts {
  visitors: number;
  /** Of those visitors, the ones linked to a lead now. */
  identified: number;
  sessions: number;
}

export interface ActivityStore {
  /** The tenant's events with a timestamp in [from, to] (ms). */
  eventCount(tenantId: string, from: number, to: number): Promise<number>;
  /** Visitors and sessions created in [from, to] by each of `tenantIds` that created any. */
  created(tenantIds: readonly string[], from: number, to: number): Promise<Map<string, CreatedCounts>>;
}

/** The smallest UUIDv7 created at `ms` or later (its 48-bit ms timestamp, as the id's first hex digits). */
export function uuidv7Floor(ms: number): string {
  const hex = Math.floor(ms).toString(16).padStart(12, "0");
  return `${hex.slice(0, 8)}-${hex.slice(8)}`;
}
