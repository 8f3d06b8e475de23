/** The events table: dedupe by (tenant, messageId) and insert of canonical events. */
import { and, eq, sql } from "drizzle-orm";
import type { CanonicalEvent } from "../../pipeline/model";
import type { EventRepository } from "../../pipeline/ports";
import type { Db } from "../client";
import { events } from "../schema";
import { positional } from "./statement";

const json = (v: unknown): string | null => (v === undefined ? null : JSON.stringify(v));

/** The insert's placeholders in the order of the table's columns, as drizzle writes them. */
const INSERT_ORDER = [
  "tenantId",
  "messageId",
  "type",
  "event",
  "anonymousId",
  "userId",
  "visitorId",
  "sessionId",
  "leadId",
  "timestamp",
  "originalTimestamp",
  "sentAt",
  "receivedAt",
  "properties",
  "traits",
  "context",
  "integrations",
  "extra",
  "schemaVersion",
] as const;

export class EventStore implements EventRepository {
  private readonly existsQuery;
  private readonly insertQuery;

  constructor(db: Db) {
    this.existsQuery = positional(
      db,
      db
        .select({ id: events.id })
        .from(events)
        .where(and(eq(events.tenantId, sql.placeholder("tenantId")), eq(events.messageId, sql.placeholder("messageId")))),
      ["tenantId", "messageId"],
    );
    const p = (name: string) => sql.placeholder(name);
    this.insertQuery = positional(
      db,
      db.insert(events).values({
        tenantId: p("tenantId"),
        messageId: p("messageId"),
        type: p("type"),
        event: p("event"),
        anonymousId: p("anonymousId"),
        userId: p("userId"),
        visitorId: p("visitorId"),
        sessionId: p("sessionId"),
        leadId: p("leadId"),
        timestamp: p("timestamp"),
        originalTimestamp: p("originalTimestamp"),
        sentAt: p("sentAt"),
        receivedAt: p("receivedAt"),
        properties: p("properties"),
        traits: p("traits"),
        context: p("context"),
        integrations: p("integrations"),
        extra: p("extra"),
        schemaVersion: p("schemaVersion"),
      }),
      INSERT_ORDER,
    );
  }

  exists(tenantId: string, messageId: string): boolean {
    return this.existsQuery.get(tenantId, messageId) !== null;
  }

  /** Stores the event; answers its events.id. */
  insert(tenantId: string, event: CanonicalEvent, ids: { visitorId: string; sessionId: string; leadId: string | null }, schemaVersion: string | null): number {
    // In the table's column order (INSERT_ORDER).
    const { lastInsertRowid } = this.insertQuery.run(
      tenantId,
      event.messageId,
      event.type,
      event.event ?? null,
      event.anonymousId ?? null,
      event.userId ?? null,
      ids.visitorId,
      ids.sessionId,
      ids.leadId,
      event.timestamp,
      event.originalTimestamp ?? null,
      event.sentAt ?? null,
      event.receivedAt,
      json(event.properties),
      json(event.traits),
      json(event.context),
      json(event.integrations),
      json(event.extra),
      schemaVersion,
    );
    return Number(lastInsertRowid);
  }
}
