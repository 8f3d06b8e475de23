/**
 * The privacy API the controller and the command line use, the same on either store: on SQLite
 * `PrivacyService` (service.ts, through the group-commit writer), on PostgreSQL `ErasureService`
 * (erasure.ts, in short transactions of its own). Reads answer at once on SQLite, later on PostgreSQL.
 */
import type { DeletionReceipt, Requester, Subject, SuppressionView } from "./service";

type Answer<T> = T | Promise<T>;

export interface Privacy {
  /** Erases the person (and suppresses it first when asked); answers the receipt. */
  delete(tenantId: string, subject: Subject, options: { suppress?: boolean; by: Requester }): Promise<DeletionReceipt>;
  /** The requester for an admin key id (its prefix read once, for the audit). */
  requester(keyId: string): Answer<Requester>;
  /** A deletion's receipt, read back (null: no such deletion in this tenant). */
  receipt(tenantId: string, deletionId: string): Answer<DeletionReceipt | null>;
  /** The audit: every deletion of the tenant, newest first (hashes and counts, never subjects). */
  deletions(tenantId: string): Answer<(DeletionReceipt & { subjectHash: string; subjectKinds: string })[]>;
  /** Suppresses the person without deleting anything; answers the suppression. */
  suppress(tenantId: string, subject: Subject, by: Requester): Promise<SuppressionView>;
  suppressionsOf(tenantId: string): Answer<SuppressionView[]>;
  /** Lifts a suppression; false when there was none. */
  lift(tenantId: string, suppressionId: string): Promise<boolean>;
  /** Applies the tenant's IP policy to the events already stored; answers how many changed. */
  applyIpPolicy(tenantId: string): Promise<{ policy: string; events: number }>;
}
