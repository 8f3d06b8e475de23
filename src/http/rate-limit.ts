/**
 * Per-tenant rate limits: two token buckets per tenant, one for requests and one for events (a
 * batch costs one request and as many events as it has items). The buckets live in memory, one
 * process, and decide at once. Without Redis the limits hold per server; with Redis (REDIS_URL)
 * the buckets mirror a ledger every instance shares (src/http/shared-rate-limit.ts) and the
 * limits hold across instances. Over a limit the request is refused with 429 and a `Retry-After`
 * computed from the bucket: the seconds until enough tokens are back.
 *
 * Why per tenant and in memory: the point is that one noisy tenant cannot take the writer's
 * capacity from the others; refusing early (before validation and the pipeline) costs almost
 * nothing, and a restart forgetting the buckets only grants one extra burst.
 */
import { LRUCache } from "lru-cache";
import { ipFamily, ipv6Words } from "../enrich/ip-address";
import { type ApiError, tooManyRequests } from "./errors";
import { type Mirror, SharedBuckets, type SharedBucketsOptions } from "./shared-rate-limit";

/** Rates per second; 0 means no limit. */
export interface RateLimits {
  requestsPerSecond: number;
  eventsPerSecond: number;
}

/** The per-tenant overrides stored in the tenant's settings (absent: the server's default). */
export interface RateLimitOverrides {
  rateLimitRps?: number;
  rateLimitEps?: number;
}

/**
 * A token bucket refilling at `rate` tokens per second up to `capacity`. A cost larger than the
 * capacity (a batch bigger than the whole burst) is let through when the bucket is full and
 * leaves it in debt, so such a request is slowed down to the rate, never refused for ever.
 */
export class TokenBucket {
  private tokens: number;
  private updatedAt: number;

  constructor(
    readonly rate: number,
    readonly capacity: number,
    now: number,
  ) {
    this.tokens = capacity;
    this.updatedAt = now;
  }

  /** Seconds until `cost` tokens can be taken (0: now). Takes nothing. */
  waitFor(cost: number, now: number): number {
    this.refill(now);
    const needed = Math.min(cost, this.capacity);
    return this.tokens >= needed ? 0 : (needed - this.tokens) / this.rate;
  }

  take(cost: number, now: number): void {
    this.refill(now);
    this.tokens -= cost;
  }

  /** Sets the level (from the shared ledger) at `now`. */
  sync(tokens: number, now: number): void {
    this.tokens = Math.min(this.capacity, tokens);
    this.updatedAt = now;
  }

  private refill(now: number): void {
    const elapsed = (now - this.updatedAt) / 1000;
    if (elapsed > 0) this.tokens = Math.min(this.capacity, this.tokens + elapsed * this.rate);
    this.updatedAt = now;
  }
}

interface TenantBuckets extends Mirror {
  requests: TokenBucket | null;
  events: TokenBucket | null;
}

export type Admission = { admitted: true } | { admitted: false; retryAfter: number; limit: "requests" | "events"; rate: number };

export class TenantRateLimiter {
  private readonly buckets = new Map<string, TenantBuckets>();
  /** The ledger the buckets mirror (Redis); null: this process's buckets only. */
  readonly shared: SharedBuckets | null;
  /** Refusals since start, for metrics. */
  refused = 0;
  private readonly clock: () => number;

  constructor(
    private readonly defaults: RateLimits,
    /** The burst: how many seconds' worth of tokens a full bucket holds. */
    private readonly burstSeconds: number,
    clock?: () => number,
    shared?: SharedBucketsOptions,
  ) {
    this.clock = clock ?? (() => performance.now());
    // An injected clock (tests) is told to Redis; otherwise Redis's own clock is the one all instances share.
    this.shared = shared ? new SharedBuckets(shared, this.clock, clock !== undefined, burstSeconds) : null;
  }

  /** The limits that apply to a tenant: its overrides, else the defaults. */
  limitsFor(overrides: RateLimitOverrides = {}): RateLimits {
    return {
      requestsPerSecond: overrides.rateLimitRps ?? this.defaults.requestsPerSecond,
      eventsPerSecond: overrides.rateLimitEps ?? this.defaults.eventsPerSecond,
    };
  }

  /** Admits one request carrying `events` events, taking its tokens, or says how long to wait. */
  admit(tenantId: string, events: number, overrides?: RateLimitOverrides): Admission {
    const now = this.clock();
    const buckets = this.bucketsFor(tenantId, this.limitsFor(overrides), now);
    const shared = this.shared && (buckets.requests || buckets.events) && !this.shared.alone() ? this.shared : null;
    const requestWait = buckets.requests?.waitFor(1, now) ?? 0;
    const eventWait = buckets.events?.waitFor(events, now) ?? 0;
    if (requestWait > 0 || eventWait > 0) {
      this.refused++;
      const byRequests = requestWait >= eventWait;
      return {
        admitted: false,
        retryAfter: Math.max(1, Math.ceil(Math.max(requestWait, eventWait))),
        limit: byRequests ? "requests" : "events",
        rate: byRequests ? buckets.requests!.rate : buckets.events!.rate,
      };
    }
    // Both or neither: a refused request takes no tokens, so waiting as told is enough.
    buckets.requests?.take(1, now);
    buckets.events?.take(events, now);
    shared?.took(buckets, 1, events);
    return { admitted: true };
  }

  /** Throws the 429 answer when the request is over the tenant's limits. */
  enforce(tenantId: string, events: number, overrides?: RateLimitOverrides): void {
    const admission = this.admit(tenantId, events, overrides);
    if (admission.admitted) return;
    throw tooManyRequests(
      `Rate limit exceeded: this tenant may send ${admission.rate} ${admission.limit} per second; retry after ${admission.retryAfter} s.`,
      admission.retryAfter,
    );
  }

  /** Resolves once what was taken so far is in the shared ledger and its answer applied (tests). */
  settled(): Promise<void> {
    return this.shared?.settled() ?? Promise.resolve();
  }

  /** Closes the connection to Redis, if any. */
  close(): void {
    this.shared?.close();
  }

  private bucketsFor(tenantId: string, limits: RateLimits, now: number): TenantBuckets {
    let buckets = this.buckets.get(tenantId);
    // A changed override (from the CLI, seen once the key cache refreshes) starts fresh buckets.
    if (!buckets || (buckets.requests?.rate ?? 0) !== limits.requestsPerSecond || (buckets.events?.rate ?? 0) !== limits.eventsPerSecond) {
      buckets = {
        tenantId,
        requests: this.bucket(limits.requestsPerSecond, now),
        events: this.bucket(limits.eventsPerSecond, now),
        unconfirmed: { requests: 0, events: 0 },
      };
      this.buckets.set(tenantId, buckets);
    }
    return buckets;
  }

  private bucket(rate: number, now: number): TokenBucket | null {
    if (rate <= 0) return null;
    return new TokenBucket(rate, Math.max(1, rate * this.burstSeconds), now);
  }
}

/** The events a request body carries: a batch's item count, else one. */
export function eventCount(body: unknown): number {
  if (body && typeof body === "object" && "batch" in body) {
    const batch = (body as { batch: unknown }).batch;
    if (Array.isArray(batch)) return batch.length;
  }
  return 1;
}

/**
 * What an unauthenticated caller can cost: each address may fail authentication `perMinute`
 * times a minute (a bucket of that many, refilling over the minute); past that, a request from
 * it that does not bring a valid key is answered 429 before any work (a body is not even read).
 * A valid key is always let through, so a client behind the same NAT as a key guesser keeps
 * working. IPv6 addresses count per /64 (one host usually holds a whole /64). The buckets live in
 * an LRU of `maxAddresses`, so a flood from many addresses costs bounded memory.
 */
export class AuthFailureLimiter {
  private readonly buckets: LRUCache<string, TokenBucket>;
  /** Requests refused with 429 since start, for metrics. */
  refused = 0;

  constructor(
    /** Failures per minute per address; 0: no limit. */
    readonly perMinute: number,
    private readonly clock: () => number = () => performance.now(),
    maxAddresses = 100_000,
  ) {
    this.buckets = new LRUCache({ max: maxAddresses });
  }

  /** Throws 429 when `address` has no failures left. */
  check(address: string | null): void {
    const bucket = this.bucketOf(address, false);
    if (!bucket) return;
    const wait = bucket.waitFor(1, this.clock());
    if (wait > 0) throw this.refuse(wait);
  }

  /** Counts a failed authentication from `address`: the error to answer (429 once over the limit, else `error`). */
  failed(address: string | null, error: ApiError): ApiError {
    const bucket = this.bucketOf(address, true);
    if (!bucket) return error;
    const now = this.clock();
    const wait = bucket.waitFor(1, now);
    if (wait > 0) return this.refuse(wait);
    bucket.take(1, now);
    return error;
  }

  private refuse(waitSeconds: number): ApiError {
    this.refused++;
    const retryAfter = Math.max(1, Math.ceil(waitSeconds));
    return tooManyRequests(`Too many failed authentications from this address; retry after ${retryAfter} s.`, retryAfter);
  }

  private bucketOf(address: string | null, create: boolean): TokenBucket | undefined {
    if (this.perMinute <= 0 || address === null) return undefined;
    const key =
      ipFamily(address) === 6
        ? ipv6Words(address)
            .slice(0, 4)
            .map((w) => w.toString(16))
            .join(":") + "::/64"
        : address;
    let bucket = this.buckets.get(key);
    if (!bucket && create) {
      bucket = new TokenBucket(this.perMinute / 60, this.perMinute, this.clock());
      this.buckets.set(key, bucket);
    }
    return bucket;
  }
}
