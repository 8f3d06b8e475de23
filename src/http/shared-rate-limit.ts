/**
 * The ledger of every instance's rate-limit tokens in Redis (REDIS_URL), so that a tenant's
 * limits hold across all instances sharing it. A request is still decided at once by this
 * process's buckets, which mirror the shared ones: what it takes is sent to Redis at the next
 * event-loop turn (one Lua call per tenant per turn, carrying every request of that turn), and
 * Redis's answer, the shared bucket's level after every instance's takings, becomes the mirror's
 * level (less what this process took since). So a request waits for no round trip; what the
 * instances can take beyond the limit together is bounded by what arrives during one round trip
 * (a mirror is that much behind the others' takings), and the ledger charges it back: an
 * over-taken bucket goes into debt and the mirrors refuse until it is repaid.
 *
 * Fail-open: when Redis does not answer (not reachable, an error, or a call unanswered after
 * `timeoutMs`), the mirrors simply go on as this process's own buckets (each instance enforces
 * the limits alone), their takings are not sent, and Redis is tried again after `retryMs`. The
 * failure is logged (at most once a minute) and each request decided while Redis is away is
 * counted (`onFallback`, a metric).
 */
import { RedisClient } from "bun";
import { logger, rateLimitedLog } from "../logger";

/** What Redis mirrors: one tenant's two buckets (null: no limit) and what was taken but not yet confirmed. */
export interface Mirror {
  readonly tenantId: string;
  readonly requests: MirroredBucket | null;
  readonly events: MirroredBucket | null;
  /** Takings sent or to be sent, not yet in an answer from Redis. */
  unconfirmed: { requests: number; events: number };
}

export interface MirroredBucket {
  readonly rate: number;
  readonly capacity: number;
  /** Sets the level (as Redis has it) at `now`. */
  sync(tokens: number, now: number): void;
}

export interface SharedBucketsOptions {
  /** redis:// or rediss:// URL. */
  url: string;
  /** Prefix of every key (tests use one per run). */
  keyPrefix?: string;
  /** A call unanswered for this long means Redis is away. */
  timeoutMs?: number;
  /** How long the mirrors stay alone after a failure before Redis is tried again. */
  retryMs?: number;
  /** Called for each request decided while Redis is away. */
  onFallback?: () => void;
}

export const DEFAULT_KEY_PREFIX = "inlet:rl:";
const DEFAULT_TIMEOUT_MS = 1_000;
const DEFAULT_RETRY_MS = 1_000;
/** An idle tenant's key outlives a refill (a missing key is a full bucket) by at least this much. */
const MIN_TTL_MS = 60_000;

/**
 * KEYS[1]: the tenant's hash {r: request tokens, e: event tokens, t: updated at (ms)}.
 * ARGV: now (ms; empty: Redis's TIME, the one clock every instance shares), request rate and
 * capacity, event rate and capacity (a rate of 0: no bucket), requests and events taken, TTL (ms).
 * Refills both buckets, takes what was taken (into debt if need be: the instances have admitted
 * it already) and returns both levels ('' for no bucket).
 */
const SCRIPT = `
local now = tonumber(ARGV[1])
if not now then
  local time = redis.call('TIME')
  now = tonumber(time[1]) * 1000 + tonumber(time[2]) / 1000
end
local state = redis.call('HMGET', KEYS[1], 'r', 'e', 't')
local updated = tonumber(state[3])
local function level(stored, rate, capacity, taken)
  if rate <= 0 then return nil end
  local tokens = tonumber(stored)
  if not tokens or not updated then
    tokens = capacity
  else
    local elapsed = (now - updated) / 1000
    if elapsed > 0 then tokens = math.min(capacity, tokens + elapsed * rate) end
  end
  return tokens - taken
end
local r = level(state[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[6]))
local e = level(state[2], tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[7]))
local out = {r and tostring(r) or '', e and tostring(e) or ''}
redis.call('HSET', KEYS[1], 't', tostring(now), 'r', out[1], 'e', out[2])
redis.call('PEXPIRE', KEYS[1], ARGV[8])
return out
`;
const SCRIPT_SHA = new Bun.CryptoHasher("sha1").update(SCRIPT).digest("hex");

interface Takings {
  requests: number;
  events: number;
}

export class SharedBuckets {
  readonly keyPrefix: string;
  private readonly client: RedisClient;
  private readonly timeoutMs: number;
  private readonly retryMs: number;
  private readonly ttlMs: number;
  /** What each mirror took this turn, sent at the next. */
  private pending = new Map<Mirror, Takings>();
  private scheduled = false;
  /** When each unanswered call was started (answers come in order): the oldest is first. */
  private inFlight: { at: number }[] = [];
  private settledWaiters: (() => void)[] = [];
  /** Until when (clock ms) the mirrors stay alone after a failure. */
  private downUntil = Number.NEGATIVE_INFINITY;
  private connecting: Promise<void> | null = null;
  private failing = false;
  private closed = false;
  private readonly logFailure = rateLimitedLog("warn", 1);

  constructor(
    private readonly options: SharedBucketsOptions,
    /** Milliseconds, monotonic. */
    private readonly clock: () => number,
    /** Send `now` to Redis (an injected clock, in tests) instead of Redis reading its own. */
    private readonly sendClock: boolean,
    burstSeconds: number,
  ) {
    this.keyPrefix = options.keyPrefix ?? DEFAULT_KEY_PREFIX;
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.retryMs = options.retryMs ?? DEFAULT_RETRY_MS;
    this.ttlMs = Math.max(MIN_TTL_MS, Math.ceil(burstSeconds * 1000));
    // No offline queue and no reconnect loop of the client's own: takings are never queued for a
    // Redis that is away, and reconnecting is paced by `retryMs`.
    this.client = new RedisClient(options.url, { connectionTimeout: this.timeoutMs, autoReconnect: false, enableOfflineQueue: false });
  }

  /** Whether this request is decided by this process's buckets alone, Redis being away (counted). */
  alone(): boolean {
    const now = this.clock();
    if (this.inFlight.length > 0 && now - this.inFlight[0]!.at > this.timeoutMs) this.failed(new Error(`no answer within ${this.timeoutMs} ms`));
    if (now >= this.downUntil) return false;
    this.options.onFallback?.();
    return true;
  }

  /** Records what a request took from `mirror`; sent to Redis at the next event-loop turn. */
  took(mirror: Mirror, requests: number, events: number): void {
    const takings = this.pending.get(mirror);
    if (takings) {
      takings.requests += requests;
      takings.events += events;
    } else this.pending.set(mirror, { requests, events });
    mirror.unconfirmed.requests += requests;
    mirror.unconfirmed.events += events;
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
  }

  /** Resolves once every taking so far is in Redis and its answer applied (or given up): for tests. */
  settled(): Promise<void> {
    if (this.pending.size === 0 && this.inFlight.length === 0 && !this.scheduled) return Promise.resolve();
    return new Promise((resolve) => this.settledWaiters.push(resolve));
  }

  /** Connects now (a server calls it at start; the first sending connects otherwise). */
  connect(): Promise<void> {
    if (this.client.connected) return Promise.resolve();
    this.connecting ??= this.client.connect().finally(() => {
      this.connecting = null;
    });
    return this.connecting;
  }

  /** Closes the connection for good: what is still to be sent is dropped (a stopping server takes no more requests). */
  close(): void {
    this.closed = true;
    this.client.close();
  }

  private flush(): void {
    this.scheduled = false;
    const batch = this.pending;
    this.pending = new Map();
    if (!this.closed) for (const [mirror, takings] of batch) void this.send(mirror, takings);
    this.notifyIfSettled();
  }

  private async send(mirror: Mirror, takings: Takings): Promise<void> {
    const call = { at: this.clock() };
    this.inFlight.push(call);
    const { requests, events } = mirror;
    const key = `${this.keyPrefix}${mirror.tenantId}:${requests?.rate ?? 0}:${events?.rate ?? 0}`;
    const args = [
      this.sendClock ? String(call.at) : "",
      String(requests?.rate ?? 0),
      String(requests?.capacity ?? 0),
      String(events?.rate ?? 0),
      String(events?.capacity ?? 0),
      String(takings.requests),
      String(takings.events),
      String(this.ttlMs),
    ];
    try {
      const [requestLevel, eventLevel] = await this.evaluate(key, args);
      mirror.unconfirmed.requests -= takings.requests;
      mirror.unconfirmed.events -= takings.events;
      // Redis has every instance's takings up to this call; this process's later ones are not in it yet.
      const now = this.clock();
      if (requests && requestLevel !== "") requests.sync(Number(requestLevel) - mirror.unconfirmed.requests, now);
      if (events && eventLevel !== "") events.sync(Number(eventLevel) - mirror.unconfirmed.events, now);
      if (this.failing) {
        this.failing = false;
        logger.info("shared rate limits: Redis answers again; the limits hold across instances");
      }
    } catch (error) {
      // Not sent: the mirror keeps what it took, as this process's own bucket.
      mirror.unconfirmed.requests -= takings.requests;
      mirror.unconfirmed.events -= takings.events;
      this.failed(error as Error);
    } finally {
      const index = this.inFlight.indexOf(call);
      if (index >= 0) this.inFlight.splice(index, 1);
      this.notifyIfSettled();
    }
  }

  private async evaluate(key: string, args: string[]): Promise<[string, string]> {
    if (!this.client.connected) await this.connect();
    try {
      return await this.client.send("EVALSHA", [SCRIPT_SHA, "1", key, ...args]);
    } catch (error) {
      // A Redis that restarted (or never saw the script) loads it with the first EVAL.
      if (!String((error as Error).message).includes("NOSCRIPT")) throw error;
      return await this.client.send("EVAL", [SCRIPT, "1", key, ...args]);
    }
  }

  private failed(error: Error): void {
    this.downUntil = this.clock() + this.retryMs;
    // Drops a connection that hangs (its calls fail now); the next sending after retryMs reconnects.
    this.client.close();
    this.inFlight = [];
    for (const [mirror, takings] of this.pending) {
      mirror.unconfirmed.requests -= takings.requests;
      mirror.unconfirmed.events -= takings.events;
    }
    this.pending.clear();
    if (!this.failing) {
      this.failing = true;
      this.logFailure("shared rate limits: Redis does not answer; each instance enforces the limits alone until it does", {
        redis: new URL(this.options.url).host,
        error: error.message,
        retryMs: this.retryMs,
      });
    }
    this.notifyIfSettled();
  }

  private notifyIfSettled(): void {
    if (this.pending.size > 0 || this.inFlight.length > 0 || this.scheduled || this.settledWaiters.length === 0) return;
    const waiters = this.settledWaiters;
    this.settledWaiters = [];
    for (const resolve of waiters) resolve();
  }
}
