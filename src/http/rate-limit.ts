/**
 * Per-tenant rate limits: two token buckets per tenant, one for requests and one for events (a
 * batch costs one request and as many events as it has items). Buckets live in memory, one
 * process, so the limits hold per server. Over a limit the request is refused with 429 and a
 * `Retry-After` computed from the bucket: the seconds until enough tokens are back.
 *
 * Why per tenant and in memory: the point is that one noisy tenant cannot take the writer's
 * capacity from the others; refusing early (before validation and the pipeline) costs almost
 * nothing, and a restart forgetting the buckets only grants one extra burst.
 */
import { tooManyRequests } from "./errors";

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
  /** Refusals since start, for metrics. */
  refused = 0;

  constructor(
    private readonly defaults: RateLimits,
    /** The burst: how many seconds' worth of tokens a full bucket holds. */
    private readonly burstSeconds: number,
    private readonly clock: () => number = () => performance.now(),
  ) {}

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

  /** Throws the 429 answer when the request is over the tenant's limits. */
  enforce(tenantId: string, events: number, overrides?: RateLimitOverrides): void {
    const admission = this.admit(tenantId, events, overrides);
    if (admission.admitted) return;
    throw tooManyRequests(
      `Rate limit exceeded: this tenant may send ${admission.rate} ${admission.limit} per second; retry after ${admission.retryAfter} s.`,
      admission.retryAfter,
    );
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
