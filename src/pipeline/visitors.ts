/** Visitors: one per tenant and anonymousId (or userId for calls without one), with first/last seen. */
import { sql } from "drizzle-orm";
import type { Db } from "../db/client";
import { visitors } from "../db/schema";
import type { CanonicalEvent } from "./normalize";

export interface VisitorRef {
  id: string;
  leadId: string | null;
}

/** The visitor key of an event: its anonymousId, else its userId. */
export function visitorKey(event: Pick<CanonicalEvent, "anonymousId" | "userId">): string {
  return event.anonymousId ?? `user:${event.userId}`;
}

export class VisitorStore {
  private readonly upsert;

  constructor(db: Db) {
    this.upsert = db
      .insert(visitors)
      .values({
        id: sql.placeholder("id"),
        tenantId: sql.placeholder("tenantId"),
        key: sql.placeholder("key"),
        anonymousId: sql.placeholder("anonymousId"),
        userId: sql.placeholder("userId"),
        firstSeenAt: sql.placeholder("seenAt"),
        lastSeenAt: sql.placeholder("seenAt"),
      })
      .onConflictDoUpdate({
        target: [visitors.tenantId, visitors.key],
        set: {
          firstSeenAt: sql`min(${visitors.firstSeenAt}, excluded.first_seen_at)`,
          lastSeenAt: sql`max(${visitors.lastSeenAt}, excluded.last_seen_at)`,
          userId: sql`coalesce(excluded.user_id, ${visitors.userId})`,
        },
      })
      .returning({ id: visitors.id, leadId: visitors.leadId })
      .prepare();
  }

  /** Creates the event's visitor or updates when it was seen; returns its id and current lead. */
  touch(tenantId: string, event: CanonicalEvent): VisitorRef {
    return this.upsert.get({
      id: Bun.randomUUIDv7(),
      tenantId,
      key: visitorKey(event),
      anonymousId: event.anonymousId ?? null,
      userId: event.userId ?? null,
      seenAt: event.timestamp,
    }) as VisitorRef;
  }
}
