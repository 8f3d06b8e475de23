/**
 * Per-tenant rate limits: two token buckets per tenant, one for requests and one for events (a
 * batch costs one request and as many events as it has items). Without Redis the buckets live in
 * memory, one process, so the limits hold per server; with Redis (`shared`) the buckets live
 * there and the limits hold across every instance (src/http/shared-rate-limit.ts), this process's
 * buckets deciding only while Redis cannot answer. Over a limit the request is refused with 429
 * and a `Retry-After` computed from the bucket: the seconds until enough tokens are back.
 *
 * Why per tenant and in memory: the point is that one noisy tenant cannot take the writer's
 * capacity from the others; refusing early (before validation and the pipeline) costs almost
 * nothing, and a restart forgetting the buckets only grants one extra burst.
 */
import { LRUCache } from "lru-cache";
import { ipFamily, ipv6Words } from "../enrich/ip-address";
import { type ApiError, tooManyRequests } from "./errors";
import { SharedBuckets, type SharedBucketsOptions } from "./shared-rate-limit";

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

  private refill(now: number): void {
    const elapsed = (now - this.updatedAt) / 1000;
    if (elapsed > 0) this.tokens = Math.min(this.capacity, this.tokens + elapsed * this.rate);
    this.updatedAt = now;
  }
}

interface TenantBuckets {
  requests: TokenBucket | null;
  events: TokenBucket | null;
}

export type Admission = { admitted: true } | { admitted: false; retryAfter: number; limit: "requests" | "events"; rate: number };

export class TenantRateLimiter {
  private readonly buckets = new Map<string, TenantBuckets>();
  /** The buckets every instance shares (Redis); null: this process's buckets only. */
  readonly shared: SharedBuckets | null;
  /** Refusals since start, for metrics. */
  refused = 0;
  private readonly clock: () => number;
  /** Whether the clock was injected (tests): then Redis is told the time instead of reading its own. */
  private readonly injectedClock: boolean;

  constructor(
    private readonly defaults: RateLimits,
    /** The burst: how many seconds' worth of tokens a full bucket holds. */
    private readonly burstSeconds: number,
    clock?: () => number,
    shared?: SharedBucketsOptions,
  ) {
    this.clock = clock ?? (() => performance.now());
    this.injectedClock = clock !== undefined;
    this.shared = shared ? new SharedBuckets(shared, this.clock) : null;
  }

  /** The limits that apply to a tenant: its overrides, else the defaults. */
  limitsFor(overrides: RateLimitOverrides = {}): RateLimits {
    return {
      requestsPerSecond: overrides.rateLimitRps ?? this.defaults.requestsPerSecond,
      eventsPerSecond: overrides.rateLimitEps ?? this.defaults.eventsPerSecond,
    };
  }

  /**
   * Admits one request carrying `events` events against the tenant's shared buckets (a promise)
   * when Redis is configured, else (and while Redis cannot answer) against this process's.
   */
  check(tenantId: string, events: number, overrides?: RateLimitOverrides): Admission | Promise<Admission> {
    if (!this.shared) return this.admit(tenantId, events, overrides);
    const limits = this.limitsFor(overrides);
    if (limits.requestsPerSecond <= 0 && limits.eventsPerSecond <= 0) return { admitted: true };
    return this.admitShared(this.shared, tenantId, events, limits, overrides);
  }

  /** Admits one request carrying `events` events against this process's buckets, taking its tokens, or says how long to wait. */
  admit(tenantId: string, events: number, overrides?: RateLimitOverrides): Admission {
    const now = this.clock();
    const buckets = this.bucketsFor(tenantId, this.limitsFor(overrides), now);
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
    return { admitted: true };
  }

  /** Throws (or rejects with) the 429 answer when the request is over the tenant's limits. */
  enforce(tenantId: string, events: number, overrides?: RateLimitOverrides): void | Promise<void> {
    const admission = this.check(tenantId, events, overrides);
    if (admission instanceof Promise) return admission.then(refuseOver);
    refuseOver(admission);
  }

  /** Closes the connection to Redis, if any. */
  close(): void {
    this.shared?.close();
  }

  private async admitShared(shared: SharedBuckets, tenantId: string, events: number, limits: RateLimits, overrides?: RateLimitOverrides): Promise<Admission> {
    const requests = this.spec(limits.requestsPerSecond);
    const eventSpec = this.spec(limits.eventsPerSecond);
    const verdict = await shared.take(tenantId, requests, eventSpec, events, this.burstSeconds * 1000, this.injectedClock ? this.clock() : undefined);
    if (verdict === null) return this.admit(tenantId, events, overrides);
    if (verdict.admitted) return verdict;
    this.refused++;
    return {
      admitted: false,
      retryAfter: Math.max(1, Math.ceil(verdict.wait)),
      limit: verdict.limit,
      rate: verdict.limit === "requests" ? requests.rate : eventSpec.rate,
    };
  }

  private spec(rate: number): { rate: number; capacity: number } {
    return rate <= 0 ? { rate: 0, capacity: 0 } : { rate, capacity: this.capacity(rate) };
  }

  private capacity(rate: number): number {
    return Math.max(1, rate * this.burstSeconds);
  }

  private bucketsFor(tenantId: string, limits: RateLimits, now: number): TenantBuckets {
    let buckets = this.buckets.get(tenantId);
    // A changed override (from the CLI, seen once the key cache refreshes) starts fresh buckets.
    if (!buckets || (buckets.requests?.rate ?? 0) !== limits.requestsPerSecond || (buckets.events?.rate ?? 0) !== limits.eventsPerSecond) {
      buckets = {
        requests: this.bucket(limits.requestsPerSecond, now),
        events: this.bucket(limits.eventsPerSecond, now),
      };
      this.buckets.set(tenantId, buckets);
    }
    return buckets;
  }

  private bucket(rate: number, now: number): TokenBucket | null {
    if (rate <= 0) return null;
    return new TokenBucket(rate, this.capacity(rate), now);
  }
}

function refuseOver(admission: Admission): void {
  if (admission.admitted) return;
  throw tooManyRequests(
    `Rate limit exceeded: this tenant may send ${admission.rate} ${admission.limit} per second; retry after ${admission.retryAfter} s.`,
    admission.retryAfter,
  );
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
