/** Readiness: what /ready answers and the inlet_ready metric reports. */

/** Below this much free space on the database's file system, writes are about to fail. */
export const MIN_FREE_BYTES = 1024 * 1024;

export interface ReadinessDeps {
  store: { migrated(): boolean; writable(): boolean; freeBytes(): number };
  /** After a storage fault, tries a real commit; true without a fault. */
  writer: { probeStorage(): boolean };
}

export interface Readiness {
  ready: boolean;
  checks: { migrations: boolean; writable: boolean; diskSpace: boolean; storage: boolean };
}

/**
 * Ready = migrations applied, the database file writable, at least MIN_FREE_BYTES free on its
 * file system, and no storage fault: after a fault (a full disk, a file system gone read-only)
 * each readiness check tries a real commit, so /ready recovers by itself once the fault clears.
 */
export function readiness({ store, writer }: ReadinessDeps): Readiness {
  const checks = {
    migrations: store.migrated(),
    writable: store.writable(),
    diskSpace: store.freeBytes() >= MIN_FREE_BYTES,
    storage: writer.probeStorage(),
  };
  return { ready: checks.migrations && checks.writable && checks.diskSpace && checks.storage, checks };
}
