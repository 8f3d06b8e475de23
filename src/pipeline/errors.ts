/**
 * The pipeline's failures that a caller can act on. They say what happened, not how to answer:
 * src/http/error-handler.ts maps them to status codes.
 */

/** Storage did not take the write; nothing of it was stored, and a retry after `retryAfter` seconds may succeed. */
export abstract class StorageError extends Error {
  constructor(
    message: string,
    readonly retryAfter: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Storage cannot take writes now (a full disk, a read-only file system, a damaged file); retry later. */
export class StorageFaultError extends StorageError {
  override readonly name = "StorageFaultError";
}

/** Storage is busy (the write queue is full, another process holds a lock, the server is stopping); retry shortly. */
export class StorageBusyError extends StorageError {
  override readonly name = "StorageBusyError";
}

/** The transaction lost a conflict with another instance's (a deadlock); nothing of it was stored, and it can be run again at once. */
export class StorageConflictError extends StorageError {
  override readonly name = "StorageConflictError";
}
