/**
 * The live debugger's memory: per tenant, a ring of the last calls (accepted, duplicate, rejected,
 * dropped, rate-limited...) and the rejections of the last 24 hours counted by reason. Bounded
 * whatever the traffic: a fixed number of entries per tenant, each with its strings and payload
 * truncated, for a bounded number of tenants (the least recently active ones are forgotten).
 * Free of HTTP: the recorder (./recorder.ts) fills it, the stream (./index.ts) reads it.
 */
import { LRUCache } from "lru-cache";
import type { ErrorDetail } from "../../pipeline/model";

/** Calls kept per tenant. */
export const RING_SIZE = 500;
/** Characters of a payload kept (as JSON text); the rest is cut and marked. */
export const MAX_PAYLOAD_CHARS = 2048;
/** Characters of any other string an entry keeps (names, ids, user agents, error messages). */
export const MAX_FIELD_CHARS = 200;
/** Error details kept per entry. */
export const MAX_ERRORS = 20;
/** Tenants whose calls are kept (the least recently active are forgotten first). */
export const MAX_TENANTS = 1000;
/** Distinct rejection reasons counted per tenant and hour; more fall under OTHER_REASON. */
export const MAX_REASONS = 50;
export const OTHER_REASON = "(other reasons)";
const HOUR = 3_600_000;
const WINDOW_HOURS = 24;

export interface DebuggerEntry {
  /** Increases by one per call recorded for the tenant (the stream's event id). */
  seq: number;
  /** When Inlet answered the call (ISO 8601). */
  at: string;
  type: string;
  /** The track event's name, the page or screen name, the group id, or the alias's previousId. */
  event?: string;
  userId?: string;
  anonymousId?: string;
  messageId?: string;
  /** accepted, duplicate, rejected, dropped, rate-limited (or any other status the pipeline answers). */
  status: string;
  /** Why a call was not accepted: the error code and every error path and message. */
  code?: string;
  errors?: ErrorDetail[];
  /** The payload as received, as JSON text (truncated), for calls that were not stored. */
  payload?: string;
  truncated?: boolean;
  /** `POST /v1/batch` ... */
  endpoint: string;
  /** The first characters of the key used (wk_xxxxxxxx). */
  keyPrefix?: string;
  /** context.library, as `name version`. */
  library?: string;
  userAgent?: string;
}

/** What the recorder hands over; seq is given here. */
export type NewEntry = Omit<DebuggerEntry, "seq">;

export interface RejectionCount {
  reason: string;
  count: number;
}

type Listener = (entry: DebuggerEntry) => void;

class TenantCalls {
  private readonly entries: (DebuggerEntry | undefined)[] = new Array(RING_SIZE);
  private next = 0;
  seq = 0;
  readonly listeners = new Set<Listener>();
  /** hour (epoch hours) → reason → count; at most WINDOW_HOURS + 1 hours are kept. */
  private readonly rejections = new Map<number, Map<string, number>>();

  add(entry: NewEntry, now: number): DebuggerEntry {
    const stored = entry as DebuggerEntry;
    stored.seq = ++this.seq;
    this.entries[this.next] = stored;
    this.next = (this.next + 1) % RING_SIZE;
    if (entry.status === "rejected" || entry.status === "rate-limited") this.countRejection(reasonOf(entry), now);
    for (const listener of this.listeners) listener(stored);
    return stored;
  }

  /** Oldest first. */
  snapshot(): DebuggerEntry[] {
    const out: DebuggerEntry[] = [];
    for (let i = 0; i < RING_SIZE; i++) {
      const entry = this.entries[(this.next + i) % RING_SIZE];
      if (entry) out.push(entry);
    }
    return out;
  }

  private countRejection(reason: string, now: number): void {
    const hour = Math.floor(now / HOUR);
    let counts = this.rejections.get(hour);
    if (!counts) {
      counts = new Map();
      this.rejections.set(hour, counts);
      for (const old of this.rejections.keys()) if (old <= hour - WINDOW_HOURS) this.rejections.delete(old);
    }
    const key = counts.has(reason) || counts.size < MAX_REASONS ? reason : OTHER_REASON;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }

  rejectionCounts(now: number): RejectionCount[] {
    const hour = Math.floor(now / HOUR);
    const total = new Map<string, number>();
    for (const [h, counts] of this.rejections) {
      if (h <= hour - WINDOW_HOURS) continue;
      for (const [reason, count] of counts) total.set(reason, (total.get(reason) ?? 0) + count);
    }
    return [...total].map(([reason, count]) => ({ reason, count })).sort((a, b) => b.count - a.count || a.reason.localeCompare(b.reason));
  }
}

/**
 * The reason a rejection is counted under: for a call that does not match the schema, its first
 * error's path and message; otherwise its error code (invalid_json, payload_too_large, rate_limited...).
 */
export function reasonOf(entry: Pick<DebuggerEntry, "status" | "code" | "errors">): string {
  if (entry.status === "rate-limited") return "rate_limited";
  const first = entry.errors?.[0];
  if (first && entry.code === "invalid_request") return `${first.path || "/"}: ${first.message}`.slice(0, MAX_FIELD_CHARS);
  return entry.code ?? "rejected";
}

export class DebuggerService {
  private readonly tenants = new LRUCache<string, TenantCalls>({ max: MAX_TENANTS });

  constructor(private readonly clock: () => number = Date.now) {}

  /** Records a call; listeners of the tenant's stream get it at once. */
  record(tenantId: string, entry: NewEntry): DebuggerEntry {
    let calls = this.tenants.get(tenantId);
    if (!calls) {
      calls = new TenantCalls();
      this.tenants.set(tenantId, calls);
    }
    return calls.add(entry, this.clock());
  }

  /** The tenant's recorded calls, oldest first (at most RING_SIZE). */
  recent(tenantId: string): DebuggerEntry[] {
    return this.tenants.peek(tenantId)?.snapshot() ?? [];
  }

  /** Rejections of the last 24 hours by reason, most frequent first. */
  rejections(tenantId: string): RejectionCount[] {
    return this.tenants.peek(tenantId)?.rejectionCounts(this.clock()) ?? [];
  }

  /** Calls `listener` with each call recorded from now on; returns the unsubscribe function. */
  subscribe(tenantId: string, listener: Listener): () => void {
    let calls = this.tenants.get(tenantId);
    if (!calls) {
      calls = new TenantCalls();
      this.tenants.set(tenantId, calls);
    }
    const subscribed = calls;
    subscribed.listeners.add(listener);
    return () => subscribed.listeners.delete(listener);
  }

  /** Tenants with recorded calls (for tests of the bound). */
  get tenantCount(): number {
    return this.tenants.size;
  }
}

/** A string cut to `max` characters. */
export function clip(value: unknown, max = MAX_FIELD_CHARS): string | undefined {
  if (value === undefined || value === null) return undefined;
  const text = typeof value === "string" ? value : typeof value === "number" || typeof value === "boolean" ? String(value) : JSON.stringify(value);
  if (text === undefined) return undefined;
  return text.length > max ? text.slice(0, max) + "…" : text;
}
