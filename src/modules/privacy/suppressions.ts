/**
 * Suppressed people, in memory: per tenant, the salted hashes of their identifiers (userIds,
 * emails, anonymousIds). The pipeline asks for every event (src/pipeline/index.ts); a tenant with
 * no suppression costs one map lookup, one with some costs an HMAC per identifier of the event.
 * Loaded at start, changed in step with the table by the privacy service, and reloaded when the
 * change feed tells of a suppression made elsewhere (another instance on PostgreSQL) and, on SQLite,
 * every little while so a suppression added from the command line beside a running server applies too.
 */
import { eq } from "drizzle-orm";
import type { Db } from "../../db/client";
import type { SuppressionSnapshot, SuppressionSource } from "../../db/privacy-store";
import { tenants } from "../../db/schema";
import type { SuppressionCheck } from "../../pipeline/ports";
import { normalizeEmail } from "../../lib/email";
import type { CanonicalEvent } from "../../pipeline/model";

export type IdentifierKind = "userId" | "email" | "anonymousId";

/** HMAC-SHA-256 of `kind:value` under the tenant's salt, hex: how an identifier is ever stored. */
export function identifierHash(salt: string, kind: IdentifierKind, value: string): string {
  return new Bun.CryptoHasher("sha256", salt).update(`${kind}:${kind === "email" ? (normalizeEmail(value) ?? value) : value}`).digest("hex");
}

interface TenantSuppressions {
  salt: string;
  /** identifier hash → the suppression ids that hold it */
  hashes: Map<string, Set<string>>;
}

export class SuppressionList implements SuppressionCheck {
  private byTenant = new Map<string, TenantSuppressions>();
  /** Events not stored because of a suppression, since start. */
  count = 0;

  /** Resolves once the first load is in (at once on SQLite). */
  readonly ready: Promise<void>;

  constructor(private readonly source: SuppressionSource) {
    this.ready = Promise.resolve(this.reload());
  }

  /** Reads every suppression from the table (at start, on a change heard from the feed, and now and then). */
  reload(): void | Promise<void> {
    const snapshot = this.source.load();
    if (snapshot instanceof Promise) return snapshot.then((loaded) => this.apply(loaded));
    this.apply(snapshot);
  }

  private apply({ salts, rows }: SuppressionSnapshot): void {
    const next = new Map<string, TenantSuppressions>();
    for (const row of rows) {
      const salt = salts.get(row.tenantId);
      if (!salt) continue;
      let entry = next.get(row.tenantId);
      if (!entry) next.set(row.tenantId, (entry = { salt, hashes: new Map() }));
      for (const hash of row.identifiers) addTo(entry.hashes, hash, row.id);
    }
    this.byTenant = next;
  }

  /** In the transaction that stored the suppression. */
  add(tenantId: string, salt: string, suppressionId: string, hashes: readonly string[]): void {
    let entry = this.byTenant.get(tenantId);
    if (!entry) this.byTenant.set(tenantId, (entry = { salt, hashes: new Map() }));
    for (const hash of hashes) addTo(entry.hashes, hash, suppressionId);
  }

  /** In the transaction that deleted the suppression. */
  remove(tenantId: string, suppressionId: string): void {
    const entry = this.byTenant.get(tenantId);
    if (!entry) return;
    for (const [hash, ids] of entry.hashes) {
      ids.delete(suppressionId);
      if (ids.size === 0) entry.hashes.delete(hash);
    }
    if (entry.hashes.size === 0) this.byTenant.delete(tenantId);
  }

  suppressed(tenantId: string, event: CanonicalEvent): boolean {
    const entry = this.byTenant.get(tenantId);
    if (!entry) return false;
    const has = (kind: IdentifierKind, value: unknown) =>
      typeof value === "string" && value !== "" && entry.hashes.has(identifierHash(entry.salt, kind, value));
    const email = normalizeEmail(event.traits?.email) ?? normalizeEmail((event.context.traits as Record<string, unknown> | undefined)?.email);
    const previousId = event.extra?.previousId;
    const hit =
      has("userId", event.userId) ||
      has("anonymousId", event.anonymousId) ||
      (email !== null && has("email", email)) ||
      // alias: the previous id is an earlier userId or an anonymousId of the person
      (previousId !== undefined && (has("userId", String(previousId)) || has("anonymousId", String(previousId))));
    if (hit) this.count++;
    return hit;
  }

  /** Whether this tenant has a suppression holding the hash (for tests and the service). */
  holds(tenantId: string, hash: string): boolean {
    return this.byTenant.get(tenantId)?.hashes.has(hash) ?? false;
  }
}

function addTo(map: Map<string, Set<string>>, hash: string, id: string): void {
  let ids = map.get(hash);
  if (!ids) map.set(hash, (ids = new Set()));
  ids.add(id);
}

/** The tenant's privacy salt, or null when none was made yet. */
export function storedSalt(db: Db, tenantId: string): string | null | undefined {
  return db.select({ salt: tenants.privacySalt }).from(tenants).where(eq(tenants.id, tenantId)).get()?.salt;
}
