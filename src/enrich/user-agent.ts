import { LRUCache } from "lru-cache";
import { UAParser, type IResult } from "ua-parser-js";
import { isBot } from "ua-parser-js/bot-detection";
import { Bots } from "ua-parser-js/extensions";
import type { HeaderGetter } from "./client-ip.ts";
import { asNonEmptyString, asObject } from "./values.ts";

/**
 * User agent → browser, OS, device, engine and a bot flag, with ua-parser-js v2 and User-Agent
 * Client Hints. One parse costs tens of microseconds and a site sees a few hundred distinct user
 * agents, so results are kept in a bounded LRU and the per-event cost is a map lookup.
 */

/**
 * User agents are cut to this many characters before parsing and before use as a cache key: no
 * real one is longer (ua-parser-js itself only reads 500), and it bounds both the regex work a
 * hostile 10 KB header can cause and the memory one cache entry can hold.
 */
export const MAX_USER_AGENT_LENGTH = 512;
/** A client hint value longer than this is cut likewise (real ones are well under 200). */
const MAX_HINT_LENGTH = 256;
export const DEFAULT_UA_CACHE_SIZE = 10_000;

/** The Sec-CH-UA request headers we read, in their lower-case HTTP names. */
export const CLIENT_HINT_HEADERS = [
  "sec-ch-ua",
  "sec-ch-ua-mobile",
  "sec-ch-ua-platform",
  "sec-ch-ua-platform-version",
  "sec-ch-ua-model",
  "sec-ch-ua-full-version-list",
  "sec-ch-ua-arch",
] as const;
export type ClientHintHeader = (typeof CLIENT_HINT_HEADERS)[number];
export type ClientHints = Partial<Record<ClientHintHeader, string>>;

export interface ParsedUserAgent {
  browser?: { name?: string; version?: string; major?: string };
  os?: { name?: string; version?: string };
  /** `manufacturer` is Segment's name for what ua-parser-js calls `vendor`. */
  device?: { type?: string; manufacturer?: string; model?: string };
  engine?: { name?: string; version?: string };
  bot: boolean;
}

/**
 * Bots that ua-parser-js (2.0.10) does not classify: headless and scripted browsers present
 * themselves as ordinary browsers to it. Also catches any future "...bot/1.0" it does not list
 * yet. `(?<!cu)` keeps Cubot phones ("CUBOT X30") from matching "bot".
 */
export const FALLBACK_BOT_PATTERN = /(?<!cu)bot\b|crawl|spider|slurp|headless|phantomjs|lighthouse/i;

/**
 * ua-parser-js counts command-line tools and HTTP libraries (curl, axios, python-requests, Bun,
 * Go-http-client...) as bots. For an ingestion API they are the server-side SDKs (Segment's
 * analytics-node, RudderStack's node SDK) sending on a backend's behalf, not crawlers visiting a
 * site: flagging them would drop every server-side event under the "drop bots" setting.
 */
const SERVER_CLIENT_TYPES = new Set(["cli", "library"]);

/** Client hints sent as request headers, or undefined when the request has none. */
export function clientHintsFromHeaders(header: HeaderGetter): ClientHints | undefined {
  let hints: ClientHints | undefined;
  for (const name of CLIENT_HINT_HEADERS) {
    const value = header(name);
    if (value !== null && value !== "") (hints ??= {})[name] = value.slice(0, MAX_HINT_LENGTH);
  }
  return hints;
}

/**
 * Client hints from a payload's `context.userAgentData` (what analytics.js reads from
 * `navigator.userAgentData`: brands, mobile, platform, and the high-entropy values when the site
 * asked for them), rewritten as the headers they stand for.
 */
export function clientHintsFromUserAgentData(value: unknown): ClientHints | undefined {
  const data = asObject(value);
  if (data === undefined) return undefined;
  const quoted = (text: unknown) => {
    const s = asNonEmptyString(text);
    return s === undefined ? undefined : `"${s.replaceAll('"', "")}"`;
  };
  const brandList = (list: unknown) => {
    if (!Array.isArray(list)) return undefined;
    const items = list
      .map(asObject)
      .filter((item) => item !== undefined && typeof item.brand === "string")
      .map((item) => `${quoted(item!.brand)};v=${quoted(String(item!.version ?? ""))}`);
    return items.length > 0 ? items.join(", ") : undefined;
  };
  const candidates: ClientHints = {
    "sec-ch-ua": brandList(data.brands),
    "sec-ch-ua-mobile": typeof data.mobile === "boolean" ? (data.mobile ? "?1" : "?0") : undefined,
    "sec-ch-ua-platform": quoted(data.platform),
    "sec-ch-ua-platform-version": quoted(data.platformVersion),
    "sec-ch-ua-model": quoted(data.model),
    "sec-ch-ua-full-version-list": brandList(data.fullVersionList),
    "sec-ch-ua-arch": quoted(data.architecture),
  };
  let hints: ClientHints | undefined;
  for (const name of CLIENT_HINT_HEADERS) {
    const hint = candidates[name];
    if (hint !== undefined) (hints ??= {})[name] = hint.slice(0, MAX_HINT_LENGTH);
  }
  return hints;
}

/**
 * Parse without caching. Choices:
 * - the UA is cut to MAX_USER_AGENT_LENGTH first;
 * - an empty UA gives no browser/os/device/engine and `bot: false`: server-side SDKs often send
 *   none, and calling them bots would drop every server event under the "drop bots" setting;
 * - a browser we recognise on a device of unknown type is a `desktop` (ua-parser-js only names
 *   mobile, tablet, smarttv, console, wearable, xr, embedded); bots and unrecognised strings get
 *   no device type;
 * - `bot` is ua-parser-js's isBot for crawlers and fetchers (not CLIs and HTTP libraries: see
 *   SERVER_CLIENT_TYPES) or FALLBACK_BOT_PATTERN.
 */
export function parseUserAgent(userAgent: string, hints?: ClientHints): ParsedUserAgent {
  const ua = userAgent.slice(0, MAX_USER_AGENT_LENGTH);
  if (ua.trim() === "") return { bot: false };
  // With no navigator.userAgentData (a server), withClientHints() reads the headers given
  // here and returns synchronously.
  const result = UAParser(ua, Bots, hints).withClientHints() as IResult;
  const serverClient = SERVER_CLIENT_TYPES.has(String(result.browser.type));
  const bot = (isBot(result) && !serverClient) || FALLBACK_BOT_PATTERN.test(ua);

  const parsed: ParsedUserAgent = { bot };
  const browser = definedFields({ name: result.browser.name, version: result.browser.version, major: result.browser.major });
  const os = definedFields({ name: result.os.name, version: result.os.version });
  const engine = definedFields({ name: result.engine.name, version: result.engine.version });
  const deviceType = result.device.type ?? (browser?.name && !bot && !serverClient ? "desktop" : undefined);
  const device = definedFields({ type: deviceType, manufacturer: result.device.vendor, model: result.device.model });
  if (browser) parsed.browser = browser;
  if (os) parsed.os = os;
  if (device) parsed.device = device;
  if (engine) parsed.engine = engine;
  return deepFreeze(parsed);
}

export interface UserAgentCacheStats {
  hits: number;
  misses: number;
  size: number;
}

/** parseUserAgent behind a bounded LRU keyed by the (cut) user agent and its client hints. */
export class UserAgentParser {
  private readonly cache: LRUCache<string, ParsedUserAgent>;
  private hits = 0;
  private misses = 0;

  constructor(cacheSize: number = DEFAULT_UA_CACHE_SIZE) {
    this.cache = new LRUCache({ max: Math.max(1, Math.floor(cacheSize)) });
  }

  /** The parse of `userAgent` + `hints`; shared and frozen, so callers copy before changing it. */
  parse(userAgent: string, hints?: ClientHints): ParsedUserAgent {
    const key = cacheKey(userAgent, hints);
    const cached = this.cache.get(key);
    if (cached !== undefined) {
      this.hits++;
      return cached;
    }
    this.misses++;
    const parsed = parseUserAgent(userAgent, hints);
    this.cache.set(key, parsed);
    return parsed;
  }

  stats(): UserAgentCacheStats {
    return { hits: this.hits, misses: this.misses, size: this.cache.size };
  }
}

/**
 * One key per (user agent, client hints) pair, and never the same key for two different pairs:
 * each part is preceded by its length, so no character of a part (a payload's `userAgent` is free
 * text, line breaks included) can pass for a separator. The cache is shared by every tenant: an
 * ambiguous key would let one tenant's payload decide the parse stored for another's events.
 */
function cacheKey(userAgent: string, hints: ClientHints | undefined): string {
  const ua = userAgent.slice(0, MAX_USER_AGENT_LENGTH);
  let key = `${ua.length}:${ua}`;
  if (hints === undefined) return key;
  for (const name of CLIENT_HINT_HEADERS) {
    const hint = hints[name];
    key += hint === undefined ? "-" : `${hint.length}:${hint}`;
  }
  return key;
}

/** The fields that have a value, or undefined when none has: no empty `{}` objects in context. */
function definedFields<T extends Record<string, string | undefined>>(fields: T): Partial<T> | undefined {
  const out: Partial<T> = {};
  let any = false;
  for (const key in fields) {
    if (fields[key] !== undefined && fields[key] !== "") {
      out[key] = fields[key];
      any = true;
    }
  }
  return any ? out : undefined;
}

function deepFreeze<T extends object>(value: T): T {
  for (const child of Object.values(value)) if (typeof child === "object" && child !== null) Object.freeze(child);
  return Object.freeze(value);
}
