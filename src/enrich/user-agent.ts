import { createIsbotFromList, list as isbotList } from "isbot";
import { LRUCache } from "lru-cache";
import { UAParser } from "ua-parser-js";
import { applyClientHints, CLIENT_HINT_HEADERS, type ClientHints, type UserAgentParts } from "./client-hints.ts";

export {
  CLIENT_HINT_HEADERS,
  clientHintsFromHeaders,
  clientHintsFromUserAgentData,
  type ClientHintHeader,
  type ClientHints,
} from "./client-hints.ts";

/**
 * User agent → browser, OS, device, engine and a bot flag: ua-parser-js 1.x for the string, our
 * client-hints.ts for the Sec-CH-UA hints, isbot for crawlers. One parse costs tens of
 * microseconds and a site sees a few hundred distinct user agents, so results are kept in a
 * bounded LRU and the per-event cost is a map lookup.
 */

/**
 * User agents are cut to this many characters before parsing and before use as a cache key: no
 * real one is longer (ua-parser-js itself only reads 500), and it bounds both the regex work a
 * hostile 10 KB header can cause and the memory one cache entry can hold.
 */
export const MAX_USER_AGENT_LENGTH = 512;
export const DEFAULT_UA_CACHE_SIZE = 10_000;

export interface ParsedUserAgent {
  browser?: { name?: string; version?: string; major?: string };
  os?: { name?: string; version?: string };
  /** `manufacturer` is Segment's name for what ua-parser-js calls `vendor`. */
  device?: { type?: string; manufacturer?: string; model?: string };
  engine?: { name?: string; version?: string };
  bot: boolean;
}

/**
 * Command-line tools and HTTP libraries, named by the first token of their user agent. For an
 * ingestion API they are the server-side SDKs (Segment's analytics-node, RudderStack's node SDK,
 * a backend's own HTTP client) sending on a backend's behalf, not crawlers visiting a site: isbot
 * counts them as bots, and flagging them would drop every server-side event under the "drop bots"
 * setting. Named with their version, never a bot, no device.
 */
export const SERVER_CLIENT_PATTERN =
  /^(curl|wget|python-requests|python-httpx|python-urllib\d*|aiohttp|httpx|axios|node-fetch|node|undici|got|ky|bun|deno|go-http-client|okhttp|java|apache-httpclient|jakarta commons-httpclient|libwww-perl|ruby|faraday(?: v)?|guzzlehttp|php|dart|restsharp|httpie|postmanruntime|insomnia|analytics-[\w-]+|rudder[\w-]*)(?:\/v?(\d[\w.-]*))?(?![\w-])/i;

/**
 * For user agents isbot calls bots: ua-parser-js 1.x names no crawler, so the crawler's own
 * product token names it ("Googlebot/2.1" inside a smartphone Chrome string, "bingbot/2.0"), else
 * the string's first product token that is not "Mozilla" ("facebookexternalhit/1.1").
 */
const CRAWLER_NAMES = {
  browser: [
    [/\b([\w-]*(?:bot|crawler|spider))\/v?(\d[\w.]*)/i, /^(?!mozilla\/)([\w.-]+)[/ ]v?(\d[\w.]*)/i],
    [UAParser.BROWSER.NAME, UAParser.BROWSER.VERSION],
  ],
};

/**
 * isbot's community-kept list, less its rule that any string of 50 characters or more without a
 * space is a bot: such a string is junk we cannot read, not a sign of a crawler, and under the
 * "drop bots" setting calling it one would lose the event.
 */
export const UNREADABLE_AS_BOT_PATTERN = "^[^ ]{50,}$";
const isBot = createIsbotFromList(isbotList.filter((pattern) => pattern !== UNREADABLE_AS_BOT_PATTERN));

/**
 * Bots isbot's list may miss, kept from Inlet's earlier parser: headless and scripted browsers,
 * audits (Lighthouse) and any future "...bot/1.0". `(?<!cu)` keeps Cubot phones ("CUBOT X30")
 * from matching "bot".
 */
export const FALLBACK_BOT_PATTERN = /(?<!cu)bot\b|crawl|spider|slurp|headless|phantomjs|lighthouse/i;

/** Long-lived parsers: ua-parser-js merges its rules with the extensions once, in the constructor. */
const browserParser = new UAParser();
const crawlerParser = new UAParser(CRAWLER_NAMES);
/** Names a device from a client-hint model alone, as the model would appear in an Android string. */
const modelParser = new UAParser();

/**
 * Parse without caching. Choices:
 * - the UA is cut to MAX_USER_AGENT_LENGTH first;
 * - an empty UA gives no browser/os/device/engine and `bot: false`: server-side SDKs often send
 *   none, and calling them bots would drop every server event under the "drop bots" setting;
 * - a server-side client (SERVER_CLIENT_PATTERN) is named, and is not a bot;
 * - `bot` is isbot's verdict (crawlers, fetchers, headless and scripted browsers) or
 *   FALLBACK_BOT_PATTERN's;
 * - names as Inlet has always stored them (see renameAsStored): "macOS", "Chrome OS",
 *   "Mobile Chrome" and "Mobile Firefox";
 * - client hints refine the parse (see applyClientHints in client-hints.ts);
 * - a browser we recognise on a device of unknown type is a `desktop` (ua-parser-js only names
 *   mobile, tablet, smarttv, console, wearable, embedded); bots and unrecognised strings get
 *   no device type.
 */
export function parseUserAgent(userAgent: string, hints?: ClientHints): ParsedUserAgent {
  const ua = userAgent.slice(0, MAX_USER_AGENT_LENGTH);
  if (ua.trim() === "") return { bot: false };
  const client = SERVER_CLIENT_PATTERN.exec(ua);
  if (client) {
    const version = client[2];
    return deepFreeze({ bot: false, browser: version ? { name: client[1]!, version, major: /^\d+/.exec(version)![0] } : { name: client[1]! } });
  }

  const bot = isBot(ua) || FALLBACK_BOT_PATTERN.test(ua);
  const result = (bot ? crawlerParser : browserParser).setUA(ua).getResult();
  const parts: UserAgentParts = {
    browser: { name: result.browser.name, version: result.browser.version, major: result.browser.major },
    os: { name: result.os.name, version: result.os.version },
    device: { type: result.device.type, vendor: result.device.vendor, model: result.device.model },
    engine: { name: result.engine.name, version: result.engine.version },
  };
  renameAsStored(parts, ua);
  if (hints !== undefined) applyClientHints(parts, hints, modelDevice);

  const parsed: ParsedUserAgent = { bot };
  const browser = definedFields(parts.browser);
  const os = definedFields(parts.os);
  const engine = definedFields(parts.engine);
  const deviceType = parts.device.type ?? (browser?.name && !bot ? "desktop" : undefined);
  const device = definedFields({ type: deviceType, manufacturer: parts.device.vendor, model: parts.device.model });
  if (browser) parsed.browser = browser;
  if (os) parsed.os = os;
  if (device) parsed.device = device;
  if (engine) parsed.engine = engine;
  return deepFreeze(parsed);
}

/**
 * The names Inlet has always stored (those of ua-parser-js 2.x, which it used before), where 1.x
 * spells them otherwise: stored events stay comparable across versions.
 */
function renameAsStored(parts: UserAgentParts, ua: string): void {
  if (parts.os.name === "Mac OS") parts.os.name = "macOS";
  else if (parts.os.name === "Chromium OS") parts.os.name = "Chrome OS";
  if (parts.browser.name === "Chrome" && /\b(?:crmo|crios)\/|\bchrome\/[\w.]+ mobile/i.test(ua)) parts.browser.name = "Mobile Chrome";
  else if (parts.browser.name === "Firefox" && /\bfxios\/|(?:mobile|tablet);.*firefox\//i.test(ua)) parts.browser.name = "Mobile Firefox";
}

function modelDevice(model: string): { type?: string; vendor?: string } {
  const device = modelParser.setUA(`Mozilla/5.0 (Linux; Android 9; ${model}) AppleWebKit/537.36 (KHTML, like Gecko)`).getDevice();
  return { type: device.type, vendor: device.vendor };
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
