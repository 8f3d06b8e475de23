/**
 * PostgreSQL failures as the pipeline knows them: a lost deadlock can be run again, a timeout or
 * a full pool is "busy, retry shortly", a server that is away is a storage fault (503, retry
 * later); anything else is a bug and stays as it is.
 */
import { StorageBusyError, StorageConflictError, StorageError, StorageFaultError } from "../../pipeline/errors";

/** SQLSTATEs: deadlock, serialization failure. */
const CONFLICT = new Set(["40P01", "40001"]);
/** SQLSTATEs: statement timeout / cancel, lock not available, too many connections. */
const BUSY = new Set(["57014", "55P03", "53300"]);
/** SQLSTATE classes and codes of a server that is away or going: connection exceptions, shutdown, cannot connect now, crash recovery. */
const AWAY = /^(08|57P0[1-4]|53[0-2]|58)/;

export function storageError(error: unknown): unknown {
  if (error instanceof StorageError || !(error instanceof Error)) return error;
  const { errno, code } = error as { errno?: string | number; code?: string };
  const state = typeof errno === "string" ? errno : "";
  if (CONFLICT.has(state)) return new StorageConflictError("A conflicting transaction; retry shortly.", 1, { cause: error });
  if (BUSY.has(state)) return new StorageBusyError("The database is busy; retry shortly.", 1, { cause: error });
  if (AWAY.test(state) || isConnectionFailure(code, error.message)) return new StorageFaultError("Storage is unavailable; retry later.", 5, { cause: error });
  return error;
}

/** Bun's client reports a lost or refused connection with its own codes, not a SQLSTATE. */
function isConnectionFailure(code: string | undefined, message: string): boolean {
  return (
    /CONNECTION|ECONNREFUSED|ECONNRESET|EPIPE|ETIMEDOUT|SOCKET|TLS/i.test(code ?? "") ||
    /connection (closed|refused|reset|terminated)|closed the connection/i.test(message)
  );
}

/** Runs `work`, failing as busy when it has not settled within `ms` (a full pool waits otherwise); 0: no limit, as for the statement timeout. */
export async function within<T>(ms: number, work: Promise<T>, what: string): Promise<T> {
  if (!(ms > 0)) return work;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new StorageBusyError(`${what} took longer than ${ms} ms; retry shortly.`, 1)), ms);
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The store's reads bounded as a request needs them: an answer within `ms` (a query waits for a
 * pooled connection without limit otherwise: reads queued behind reads would hang the request),
 * and failures of every method as the pipeline knows them (a timeout is "busy", not a bug). A read
 * given up on still runs when its turn comes, within the statement timeout. `writes` are not given
 * up on: a write answered 503 must not commit afterwards (the statement timeout bounds them).
 */
export function bounded<T extends object>(store: T, ms: number, writes: readonly (keyof T)[] = []): T {
  return new Proxy(store, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver);
      if (typeof value !== "function") return value;
      const read = !writes.includes(property as keyof T);
      return (...args: unknown[]) => {
        let result: unknown;
        try {
          result = value.apply(target, args);
        } catch (error) {
          throw storageError(error);
        }
        if (!(result instanceof Promise)) return result;
        return (read ? within(ms, result, "A database read") : result).catch((error) => {
          throw storageError(error);
        });
      };
    },
  });
}
