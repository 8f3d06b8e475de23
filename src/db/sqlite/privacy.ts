/** The suppressions as the in-memory list loads them, from the SQLite file (the contract: ../privacy-store.ts). */
import { isNotNull } from "drizzle-orm";
import type { Db } from "../client";
import type { SuppressionSource } from "../privacy-store";
import { privacySuppressions, tenants } from "../schema";

export function sqliteSuppressionSource(db: Db): SuppressionSource {
  return {
    load: () => ({
      salts: new Map(
        db
          .select({ id: tenants.id, salt: tenants.privacySalt })
          .from(tenants)
          .where(isNotNull(tenants.privacySalt))
          .all()
          .map((row) => [row.id, row.salt!]),
      ),
      rows: db
        .select({ id: privacySuppressions.id, tenantId: privacySuppressions.tenantId, identifiers: privacySuppressions.identifiers })
        .from(privacySuppressions)
        .all()
        .map((row) => ({ ...row, identifiers: JSON.parse(row.identifiers) as string[] })),
    }),
  };
}
