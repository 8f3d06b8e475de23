/** The events table: dedupe by (tenant, messageId) and insert of canonical events. */
import { and, eq, sql } from "drizzle-orm";
import type { Changes } from "bun:sqlite";
import type { CanonicalEvent } from "../../pipeline/model";
import type { EventRepository } from "../../pipeline/ports";
import type { Db } from "../client";
import { events } from "../schema";

const json = (v: unknown): string | null => (v === undefined ? null : JSON.stringify(v));

export class EventStore implements EventRepository {
  private readonly existsQuery;
  private readonly insertQuery;

  constructor(db: Db) {
    this.existsQuery = db
      .select({ id: events.id })
      .from(events)
      .where(and(eq(events.tenantId, sql.placeholder("tenantId")), eq(events.messageId, sql.placeholder("messageId"))))
      .prepare();
    const p = (name: string) => sql.placeholder(name);
    this.insertQuery = db
      .insert(events)
      .values({
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
      })
      .prepare();
  }

  exists(tenantId: string, messageId: string): boolean {
    return this.existsQuery.get({ tenantId, messageId }) !== undefined;
  }

  /** Stores the event; answers its events.id. */
  insert(tenantId: string, event: CanonicalEvent, ids: { visitorId: string; sessionId: string; leadId: string | null }, schemaVersion: string | null): number {
    // bun:sqlite's run answers Changes; drizzle's type for a prepared insert says void.
    const { lastInsertRowid } = this.insertQuery.run({
      tenantId,
      messageId: event.messageId,
      type: event.type,
      event: event.event ?? null,
      anonymousId: event.anonymousId ?? null,
      userId: event.userId ?? null,
      visitorId: ids.visitorId,
      sessionId: ids.sessionId,
      leadId: ids.leadId,
      timestamp: event.timestamp,
      originalTimestamp: event.originalTimestamp ?? null,
      sentAt: event.sentAt ?? null,
      receivedAt: event.receivedAt,
      properties: json(event.properties),
      traits: json(event.traits),
      context: json(event.context),
      integrations: json(event.integrations),
      extra: json(event.extra),
      schemaVersion,
    }) as unknown as Changes;
    return Number(lastInsertRowid);
  }
}
