/**
 * The per-tenant token buckets kept in Redis, so that a tenant's limits hold across every Inlet
 * instance that shares the Redis (REDIS_URL). One Lua script per check reads both of a tenant's
 * buckets, refills them and takes a request's tokens (or none), atomically: the shared limit is
 * exact, at the price of one round trip to Redis per ingestion request.
 *
 * Fail-open: when Redis cannot answer (not reachable, an error, or no reply within `timeoutMs`)
 * the check answers `null` and the caller decides with this instance's own buckets, so ingestion
 * goes on at the per-instance limit. Redis is then left alone for `retryMs` (no request waits on
 * a dead Redis), then tried again. The failure is logged (at most once a minute) and every check
 * decided locally is counted (`onFallback`, a metric).
 */
import { RedisClient } from "bun";
import { logger, rateLimitedLog } from "../logger";

/** One bucket's rate (tokens per second; 0: no limit) and capacity. */
export interface BucketSpec {
  rate: number;
  capacity: number;
}

/** What Redis decided: admitted, or refused by `limit` with `wait` seconds to wait. */
export type SharedVerdict = { admitted: true } | { admitted: false; limit: "requests" | "events"; wait: number };

export interface SharedBucketsOptions {
  /** redis:// or rediss:// URL. */
  url: string;
  /** Prefix of every key (tests use one per run). */
  keyPrefix?: string;
  /** A reply later than this counts as Redis unreachable (that check is decided locally). */
  timeoutMs?: number;
  /** How long checks stay local after a failure before Redis is tried again. */
  retryMs?: number;
  /** Called for each check decided locally because Redis could not answer. */
  onFallback?: () => void;
}

export const DEFAULT_KEY_PREFIX = "inlet:rl:";
const DEFAULT_TIMEOUT_MS = 100;
const DEFAULT_RETRY_MS = 1_000;
/** An idle tenant's key outlives a refill (a missing key is a full bucket) by at least this much. */
const MIN_TTL_MS = 60_000;

/**
 * KEYS[1]: the tenant's hash {r: request tokens, e: event tokens, t: updated at (ms)}.
 * ARGV: now (ms; empty: Redis's TIME, one clock for every instance), request rate, request
 * capacity, event rate, event capacity, events in this request, TTL (ms). A rate of 0: no bucket.
 * Returns {0} when admitted (tokens taken), else {1 (requests) or 2 (events), seconds to wait}.
 * Same rules as the in-process TokenBucket: a cost above the capacity passes when the bucket is
 * full and leaves it in debt; a refusal takes nothing.
 */
const SCRIPT = `
local now = tonumber(ARGV[1])
if not now then
  local time = redis.call('TIME')
  now = tonumber(time[1]) * 1000 + tonumber(time[2]) / 1000
end
local state = redis.call('HMGET', KEYS[1], 'r', 'e', 't')
local updated = tonumber(state[3])
local function level(stored, rate, capacity)
  local tokens = tonumber(stored)
  if not tokens or not updated then return capacity end
  local elapsed = (now - updated) / 1000
  if elapsed > 0 then tokens = math.min(capacity, tokens + elapsed * rate) end
  return tokens
end
local rr, rc, er, ec, cost = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local r, e, rw, ew = nil, nil, 0, 0
if rr > 0 then
  r = level(state[1], rr, rc)
  if r < 1 then rw = (1 - r) / rr end
end
if er > 0 then
  e = level(state[2], er, ec)
  local needed = math.min(cost, ec)
  if e < needed then ew = (needed - e) / er end
end
if rw > 0 or ew > 0 then
  if rw >= ew then return {1, string.format('%.17g', rw)} end
  return {2, string.format('%.17g', ew)}
end
local fields = {'t', string.format('%.17g', now)}
if r then table.insert(fields, 'r') table.insert(fields, string.format('%.17g', r - 1)) end
if e then table.insert(fields, 'e') table.insert(fields, string.format('%.17g', e - cost)) end
redis.call('HSET', KEYS[1], unpack(fields))
redis.call('PEXPIRE', KEYS[1], ARGV[7])
return {0}
`;
const SCRIPT_SHA = new Bun.CryptoHasher("sha1").update(SCRIPT).digest("hex");

export class SharedBuckets {
  readonly keyPrefix: string;
  private readonly client: RedisClient;
  private readonly timeoutMs: number;
  private readonly retryMs: number;
  /** Until when (clock ms) checks stay local after a failure. */
  private downUntil = Number.NEGATIVE_INFINITY;
  private connecting: Promise<void> | null = null;
  private down = false;
  private readonly logFailure = rateLimitedLog("warn", 1);

  constructor(
    private readonly options: SharedBucketsOptions,
    /** Milliseconds, monotonic: when to try Redis again. */
    private readonly clock: () => number,
  ) {
    this.keyPrefix = options.keyPrefix ?? DEFAULT_KEY_PREFIX;
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.retryMs = options.retryMs ?? DEFAULT_RETRY_MS;
    // No offline queue and no reconnect loop of the client's own: a check never waits for a
    // connection Redis will not give, and reconnecting is paced by `retryMs` below.
    this.client = new RedisClient(options.url, {
      connectionTimeout: Math.max(this.timeoutMs, 1_000),
      autoReconnect: false,
      enableOfflineQueue: false,
    });
  }

  /**
   * Takes a request's tokens from the tenant's shared buckets, or says how long to wait; null when
   * Redis could not answer (decide locally). `now` (ms) is sent only when the limiter's clock is
   * injected (tests); otherwise the script reads Redis's clock, the one all instances share.
   */
  async take(tenantId: string, requests: BucketSpec, events: BucketSpec, cost: number, ttlMs: number, now?: number): Promise<SharedVerdict | null> {
    if (this.clock() < this.downUntil) return this.fallback();
    const key = `${this.keyPrefix}${tenantId}:${requests.rate}:${events.rate}`;
    const args = [
      now === undefined ? "" : String(now),
      String(requests.rate),
      String(requests.capacity),
      String(events.rate),
      String(events.capacity),
      String(cost),
      String(Math.max(MIN_TTL_MS, Math.ceil(ttlMs))),
    ];
    let timer: Timer | undefined;
    const timeout = new Promise<"timeout">((resolve) => {
      timer = setTimeout(() => resolve("timeout"), this.timeoutMs);
    });
    try {
      const reply = await Promise.race([this.evaluate(key, args), timeout]);
      if (reply === "timeout") return this.failed(new Error(`no reply within ${this.timeoutMs} ms`));
      if (this.down) {
        this.down = false;
        logger.info("shared rate limits: Redis answers again; limits are shared across instances");
      }
      if (reply[0] === 0) return { admitted: true };
      return { admitted: false, limit: reply[0] === 1 ? "requests" : "events", wait: Number(reply[1]) };
    } catch (error) {
      return this.failed(error as Error);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Connects now (a server calls it at start; checks connect on their own otherwise). */
  connect(): Promise<void> {
    if (this.client.connected) return Promise.resolve();
    this.connecting ??= this.client.connect().finally(() => {
      this.connecting = null;
    });
    return this.connecting;
  }

  close(): void {
    this.client.close();
  }

  private async evaluate(key: string, args: string[]): Promise<[number, string?]> {
    if (!this.client.connected) await this.connect();
    try {
      return await this.client.send("EVALSHA", [SCRIPT_SHA, "1", key, ...args]);
    } catch (error) {
      // A Redis that restarted (or never saw the script) loads it with the first EVAL.
      if (!String((error as Error).message).includes("NOSCRIPT")) throw error;
      return await this.client.send("EVAL", [SCRIPT, "1", key, ...args]);
    }
  }

  private failed(error: Error): null {
    this.downUntil = this.clock() + this.retryMs;
    if (!this.down) {
      this.down = true;
      this.logFailure("shared rate limits: Redis does not answer; each instance enforces the limits alone until it does", {
        error: error.message,
        retryMs: this.retryMs,
      });
    }
    return this.fallback();
  }

  private fallback(): null {
    this.options.onFallback?.();
    return null;
  }
}
