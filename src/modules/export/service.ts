/**
 * Reads a tenant's stored events back as canonical Segment-shaped objects, oldest first, in
 * keyset pages through the store (src/db/read-store.ts), so an export of millions of rows runs in
 * constant memory. `inlet export`, `GET /v1/events` and the debugger read through here.
 */
import type { EventFilter, EventReadStore, Position, StoredEventRecord } from "../../db/read-store";
import { isoTime } from "../../lib/time";

export type { EventFilter as ExportFilter, Position } from "../../db/read-store";

const PAGE = 1000;
/**
 * How long a whole-range read waits, at most, for transactions in flight that hold back the next
 * events (PostgreSQL; see EventPage.heldBack). They commit within milliseconds; a transaction
 * open longer than this is a fault to report, not to wait out.
 */
const HELD_BACK_LIMIT_MS = 30_000;

/** Absent times are left out of the exported line. */
const iso = (ms: number | null): string | undefined => isoTime(ms) ?? undefined;
const present = <T>(value: T | null): T | undefined => value ?? undefined;

/**
 * The canonical event: Segment's field names plus Inlet's own (visitorId, sessionId, leadId).
 * An anonymous event's lead is its session's, once its visitor was identified (src/db/sqlite/identity.ts).
 */
export function toCanonical(row: StoredEventRecord): Record<string, unknown> {
  const out: Record<string, unknown> = {
    type: row.type,
    event: present(row.event),
    messageId: row.messageId,
    anonymousId: present(row.anonymousId),
    userId: present(row.userId),
    ...row.extra,
    properties: present(row.properties),
    traits: present(row.traits),
    context: row.context ?? {},
    integrations: present(row.integrations),
    timestamp: iso(row.timestamp),
    originalTimestamp: iso(row.originalTimestamp),
    sentAt: iso(row.sentAt),
    receivedAt: iso(row.receivedAt),
    visitorId: row.visitorId,
    sessionId: row.sessionId,
    leadId: row.leadId ?? row.sessionLeadId ?? undefined,
    schemaVersion: present(row.schemaVersion),
  };
  for (const key of Object.keys(out)) if (out[key] === undefined) delete out[key];
  return out;
}

export interface ExportPage {
  events: Record<string, unknown>[];
  positions: Position[];
  /** The page stopped early at events that may not be final yet (see EventPage.heldBack). */
  heldBack: boolean;
}

export interface ExportOptions {
  /** Events per query. */
  pageSize?: number;
  /** At most this many events in all. */
  limit?: number;
}

export class ExportService {
  constructor(
    private readonly store: EventReadStore,
    /** How to wait for held-back events: tests pass their own. */
    private readonly wait: (ms: number) => Promise<void> = (ms) => Bun.sleep(ms),
  ) {}

  /** The events of one page after `filter.after`, in export order, with the position of each. */
  async readEvents(filter: EventFilter, limit: number): Promise<ExportPage> {
    const page = await this.store.page(filter, limit);
    return { events: page.events.map(toCanonical), positions: page.positions, heldBack: page.heldBack };
  }

  /**
   * Every event the filter matches (or the first `limit`), page after page. Events held back for a
   * transaction in flight are waited for, so the range comes out whole and in order.
   */
  async *pages(filter: EventFilter, options: ExportOptions = {}): AsyncGenerator<Record<string, unknown>[]> {
    const pageSize = options.pageSize ?? PAGE;
    let left = options.limit ?? Number.POSITIVE_INFINITY;
    let after = filter.after;
    let waited = 0;
    let delay = 1;
    while (left > 0) {
      const size = Math.min(pageSize, left);
      const page = await this.readEvents({ ...filter, after }, size);
      if (page.events.length > 0) {
        yield page.events;
        left -= page.events.length;
        after = page.positions[page.positions.length - 1];
        waited = 0;
        delay = 1;
      }
      if (!page.heldBack) {
        if (page.events.length < size) return;
        continue;
      }
      if (page.events.length === 0) {
        if (waited >= HELD_BACK_LIMIT_MS) throw new Error(`Events were held back for over ${HELD_BACK_LIMIT_MS / 1000} s by a transaction that is still open.`);
        await this.wait(delay);
        waited += delay;
        delay = Math.min(delay * 2, 100);
      }
    }
  }

  /** Every event the filter matches, one at a time. */
  async *exportEvents(filter: EventFilter, options: ExportOptions = {}): AsyncGenerator<Record<string, unknown>> {
    for await (const page of this.pages(filter, options)) yield* page;
  }

  /** One stored event by its messageId, or null. */
  async findEvent(tenantId: string, messageId: string): Promise<Record<string, unknown> | null> {
    const row = await this.store.byMessageId(tenantId, messageId);
    return row ? toCanonical(row) : null;
  }

  /** A position as an opaque cursor (base64url JSON). */
  encodeCursor(position: Position): string {
    return Buffer.from(JSON.stringify(position)).toString("base64url");
  }

  /** The position of a cursor this store gave, or null for anything else. */
  decodeCursor(cursor: string): Position | null {
    try {
      const value = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8"));
      if (Array.isArray(value) && value.length === this.store.positionLength && value.every((n) => Number.isSafeInteger(n))) return value;
    } catch {
      // not JSON
    }
    return null;
  }
}

/** Characters some line splitters take for line ends (JavaScript's U+2028/U+2029, Python's and Java's U+0085). */
const LINE_SPLITTERS = /[\u2028\u2029\u0085]/g;

/**
 * One NDJSON line (without its newline): JSON, with the characters other languages' line
 * splitters break on written as escapes, so every consumer sees one event per line.
 */
export function ndjsonLine(row: unknown): string {
  return JSON.stringify(row).replace(LINE_SPLITTERS, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}
