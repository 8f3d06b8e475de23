/** Public types of the Inlet browser SDK. */

export type Properties = Record<string, unknown>;

export type EventType = "track" | "identify" | "page" | "screen" | "group" | "alias";

export interface Campaign {
  name?: string;
  source?: string;
  medium?: string;
  term?: string;
  content?: string;
}

export interface EventContext {
  library: { name: "inlet.js"; version: string };
  page: { url: string; path: string; title: string; referrer: string; search: string };
  campaign?: Campaign;
  locale?: string;
  timezone?: string;
  screen?: { width: number; height: number; density: number };
  userAgent?: string;
}

/** One event as sent in `batch[]` (Segment spec field names). */
export interface InletEvent {
  type: EventType;
  messageId: string;
  timestamp: string;
  anonymousId: string;
  userId?: string;
  event?: string;
  name?: string;
  properties?: Properties;
  traits?: Properties;
  groupId?: string;
  previousId?: string;
  context: EventContext;
}

export interface InletOptions {
  /** The tenant's write key (public; it can only ingest). Required. */
  writeKey: string;
  /** Inlet origin, e.g. "https://inlet.example.com". Default: same origin (ESM) or the origin the script was loaded from (script tag). */
  host?: string;
  /** Send as soon as this many events are waiting. Default 20. */
  flushAt?: number;
  /** Otherwise send this many ms after the first waiting event. Default 1000. */
  flushInterval?: number;
  /** At most this many events per request (the server takes 2,500). Default 100. */
  batchSize?: number;
  /** Bounds of the persistent queue of one tab; the oldest events are dropped first. Defaults 1000 events, 500,000 bytes. */
  maxQueueEvents?: number;
  maxQueueBytes?: number;
  /** Retry backoff: a delay drawn uniformly from [0, min(retryCap, retryBase * 2^(failures-1))) ms. Defaults 1000 and 60000. */
  retryBase?: number;
  retryCap?: number;
  /** An event is dropped after this many 5xx answers (other than 503). Network errors, 429 and 503 do not count. Default 10. */
  maxRetries?: number;
  /** Domain attribute of the anonymousId cookie, e.g. ".example.com" to share it across subdomains. Default: the current host only. */
  cookieDomain?: string;
  /** When true, send nothing and store no identity while Do Not Track or Global Privacy Control is on. Default false. */
  respectDoNotTrack?: boolean;
  /** Log dropped and rejected events to the console. Default false. */
  debug?: boolean;
}

/** Dependencies that tests (or unusual hosts) may replace. */
export interface InletEnv {
  window: Window;
  fetch: (url: string, init: RequestInit) => Promise<Response>;
  now: () => number;
  random: () => number;
  setTimeout: (fn: () => void, ms: number) => any;
  clearTimeout: (handle: any) => void;
  /** Identifier of this tab's queue in localStorage. Default: a new UUID per page load. */
  tabId: string;
}

export interface Inlet {
  track(event: string, properties?: Properties): void;
  identify(userId?: string | Properties, traits?: Properties): void;
  page(name?: string | Properties, properties?: Properties): void;
  group(groupId: string, traits?: Properties): void;
  alias(userId: string, previousId?: string): void;
  /** Forget the user: clears userId and starts a new anonymousId (cookie and localStorage). */
  reset(): void;
  /** Send everything waiting now (respecting a server's Retry-After); resolves when done or when a retry is scheduled. */
  flush(): Promise<void>;
  /** Stop collecting: drops the queue and the stored identity; remembered in localStorage. */
  optOut(): void;
  optIn(): void;
  /** Current identity (for the page's own use). */
  user(): { anonymousId?: string; userId?: string };
}
