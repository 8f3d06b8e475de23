/** Readiness: what /ready answers and the inlet_ready metric reports. */

/** Below this much free space on the database's file system, writes are about to fail. */
export const MIN_FREE_BYTES = 1024 * 1024;

/** The checks of one store: each true when it passes. */
export type ReadinessChecks = Record<string, boolean>;

export interface ReadinessDeps {
  checks(): ReadinessChecks | Promise<ReadinessChecks>;
}

export interface Readiness {
  ready: boolean;
  checks: ReadinessChecks;
}

/** Ready when every check of the store passes. */
export async function readiness(deps: ReadinessDeps): Promise<Readiness> {
  const checks = await deps.checks();
  return { ready: Object.values(checks).every(Boolean), checks };
}

/**
 * SQLite: migrations applied, the database file writable, at least MIN_FREE_BYTES free on its
 * file system, and no storage fault: after a fault (a full disk, a file system gone read-only)
 * each readiness check tries a real commit, so /ready recovers by itself once the fault clears.
 */
export function sqliteReadiness(store: { migrated(): boolean; writable(): boolean; freeBytes(): number }, writer: { probeStorage(): boolean }): ReadinessDeps {
  return {
    checks: () => ({
      migrations: store.migrated(),
      writable: store.writable(),
      diskSpace: store.freeBytes() >= MIN_FREE_BYTES,
      storage: writer.probeStorage(),
    }),
  };
}
