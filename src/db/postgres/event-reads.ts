/**
 * Stored events read back from PostgreSQL (src/db/read-store.ts), oldest first, in keyset pages.
 *
 * Why a position here is [timestamp, tx, id] and why a page may stop early: on SQLite one writer
 * commits in id order, so an event committed after a page was read always sorts after that page's
 * last event of the same timestamp. Here transactions run side by side and take ids (and
 * transaction ids) before they commit, so a transaction still in flight when a page is read can
 * commit later with a lower id than events on the page; paging by (timestamp, id) would skip it.
 *
 * So each event carries `tx`, the id of the transaction that stored it (events.tx, set by the
 * database), and a page is read in the order (timestamp, tx, id), in one statement that also
 * takes the xmin of its own snapshot: the oldest transaction still in flight. Every transaction
 * that has not committed yet, or has not started, has a transaction id >= xmin; every event of a
 * transaction below xmin is committed and visible to the statement. The page is cut before the
 * first event (in order) whose tx >= xmin: that event and those after it wait until the older
 * transactions have finished (the page says heldBack). Then every event of the page has
 * tx < xmin, and an event that commits later has tx >= xmin: at an equal timestamp it sorts
 * after the page's last event, and the next page finds it. (At an earlier timestamp it sorts
 * before the cursor, on both stores: the documented limit of paging by time.)
 *
 * A transaction that stays open holds back the events after it until it ends; the whole-range
 * readers wait for it, within a bound (src/modules/export/service.ts).
 */
import type { SQL } from "bun";
import type { EventFilter, EventPage, EventReadStore, StoredEventRecord } from "../read-store";
import { ms, msOrNull } from "./values";

interface Row {
  type: string;
  message_id: string;
  event: string | null;
  anonymous_id: string | null;
  user_id: string | null;
  visitor_id: string;
  session_id: string;
  lead_id: string | null;
  session_lead_id: string | null;
  timestamp: Date;
  original_timestamp: Date | null;
  sent_at: Date | null;
  received_at: Date;
  properties: Record<string, unknown> | null;
  traits: Record<string, unknown> | null;
  context: Record<string, unknown> | null;
  integrations: Record<string, unknown> | null;
  extra: Record<string, unknown> | null;
  schema_version: string | null;
}

function toRecord(row: Row): StoredEventRecord {
  return {
    type: row.type,
    messageId: row.message_id,
    event: row.event,
    anonymousId: row.anonymous_id,
    userId: row.user_id,
    visitorId: row.visitor_id,
    sessionId: row.session_id,
    leadId: row.lead_id,
    sessionLeadId: row.session_lead_id,
    timestamp: ms(row.timestamp),
    originalTimestamp: msOrNull(row.original_timestamp),
    sentAt: msOrNull(row.sent_at),
    receivedAt: ms(row.received_at),
    properties: row.properties,
    traits: row.traits,
    context: row.context,
    integrations: row.integrations,
    extra: row.extra,
    schemaVersion: row.schema_version,
  };
}

const COLUMNS = `e.type, e.message_id, e.event, e.anonymous_id, e.user_id, e.visitor_id, e.session_id, e.lead_id, s.lead_id AS session_lead_id,
  e.timestamp, e.original_timestamp, e.sent_at, e.received_at, e.properties, e.traits, e.context, e.integrations, e.extra, e.schema_version`;

export class PostgresEventReads implements EventReadStore {
  readonly positionLength = 3;

  constructor(private readonly sql: SQL) {}

  async page(filter: EventFilter, limit: number): Promise<EventPage> {
    const sql = this.sql;
    const none = sql``;
    const at = (value: number) => new Date(value);
    let after = none;
    if (filter.after) {
      const [timestamp, tx, id] = filter.after as [number, number, number];
      // The plain bound lets the (tenant_id, timestamp) index start at the cursor; the row
      // comparison is the exact order.
      after = sql`AND e.timestamp >= ${at(timestamp)} AND (e.timestamp, e.tx, e.id) > (${at(timestamp)}::timestamptz, ${String(tx)}::xid8, ${id}::bigint)`;
    }
    const rows = await sql`
      SELECT ${sql.unsafe(COLUMNS)},
        e.tx::text AS position_tx, e.id AS position_id,
        e.tx >= pg_snapshot_xmin(pg_current_snapshot()) AS unsettled
      FROM events e
      LEFT JOIN sessions s ON s.tenant_id = e.tenant_id AND s.id = e.session_id
      WHERE e.tenant_id = ${filter.tenantId}
        ${filter.since === undefined ? none : sql`AND e.timestamp >= ${at(filter.since)}`}
        ${filter.until === undefined ? none : sql`AND e.timestamp < ${at(filter.until)}`}
        ${filter.type === undefined ? none : sql`AND e.type = ${filter.type}`}
        ${filter.userId === undefined ? none : sql`AND e.user_id = ${filter.userId}`}
        ${filter.anonymousId === undefined ? none : sql`AND e.anonymous_id = ${filter.anonymousId}`}
        ${after}
      ORDER BY e.timestamp, e.tx, e.id
      LIMIT ${limit}`;
    const cut = rows.findIndex((row: { unsettled: boolean }) => row.unsettled);
    const settled: (Row & { position_tx: string; position_id: string })[] = cut === -1 ? rows : rows.slice(0, cut);
    return {
      events: settled.map(toRecord),
      positions: settled.map((row) => [ms(row.timestamp), Number(row.position_tx), Number(row.position_id)]),
      heldBack: cut !== -1,
    };
  }

  async byMessageId(tenantId: string, messageId: string): Promise<StoredEventRecord | undefined> {
    const [row] = await this.sql`
      SELECT ${this.sql.unsafe(COLUMNS)} FROM events e
      LEFT JOIN sessions s ON s.tenant_id = e.tenant_id AND s.id = e.session_id
      WHERE e.tenant_id = ${tenantId} AND e.message_id = ${messageId}`;
    return row && toRecord(row);
  }
}
