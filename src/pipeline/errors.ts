/**
 * The pipeline's failures that a caller can act on. They say what happened, not how to answer:
 * src/http/error-handler.ts maps them to status codes.
 */

/** Storage cannot take writes now (a full disk, a read-only file system, a damaged file); retry later. */
export class StorageFaultError extends Error {
  override readonly name = "StorageFaultError";
  constructor(
    message: string,
    /** Seconds after which a retry may succeed. */
    readonly retryAfter: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Storage is busy (the write queue is full, another process holds a lock, the server is stopping); retry shortly. */
export class StorageBusyError extends Error {
  override readonly name = "StorageBusyError";
  constructor(
    message: string,
    /** Seconds after which a retry may succeed. */
    readonly retryAfter: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
