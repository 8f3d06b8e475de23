import { rateLimitedLog } from "../logger.ts";
import { resolveCampaign, type Campaign } from "./campaign.ts";
import { deriveChannel, type Channel } from "./channel.ts";
import { ClientIpResolver, type ClientIpSources, type HeaderGetter, type PeerIp } from "./client-ip.ts";
import { GeoLookup, type GeoLocation, type GeoStats } from "./geo.ts";
import { applyIpPolicy } from "./privacy.ts";
import type { EnrichSettings } from "./settings.ts";
import {
  clientHintsFromHeaders,
  clientHintsFromUserAgentData,
  MAX_USER_AGENT_LENGTH,
  UserAgentParser,
  type ClientHints,
  type ParsedUserAgent,
  type UserAgentCacheStats,
} from "./user-agent.ts";
import { asNonEmptyString, preferPayload, type PlainObject } from "./values.ts";

/**
 * Server-side enrichment of one event's `context`: client IP (after the tenant's privacy policy),
 * location, user agent details, bot flag, campaign and acquisition channel. Pure: no HTTP, no
 * storage; the pipeline calls `enrich` once per event. See docs/enrichment.md.
 */

export { CHANNELS, CHANNEL_RULES, type Channel } from "./channel.ts";
export type { Campaign } from "./campaign.ts";
export type { HeaderGetter } from "./client-ip.ts";
export { TrustedProxies } from "./client-ip.ts";
export type { GeoLocation, GeoStats } from "./geo.ts";
export type { ParsedUserAgent, UserAgentCacheStats } from "./user-agent.ts";
export { BOT_POLICIES, IP_POLICIES, type BotPolicy, type EnrichSettings, type IpPolicy } from "./settings.ts";

/**
 * The context key of the acquisition channel. Not `channel`: Segment's spec already uses
 * `context.channel` for where a request came from ("server", "browser", "mobile"), and SDKs send it.
 */
export const ACQUISITION_CHANNEL_KEY = "acquisitionChannel";

export interface EnricherOptions {
  /** GEOIP_DB: City or Country mmdb replacing the embedded country database. */
  geoDbPath?: string;
  /** GEOIP_ASN_DB: optional ASN mmdb. */
  asnDbPath?: string;
  /** TRUST_PROXY: CIDRs of our own proxies. Throws at construction on an invalid entry. */
  trustProxy?: string[];
  /** Distinct user agents (+ client hints) whose parse is cached. Default 10 000. */
  uaCacheSize?: number;
  /** How often configured geo files are checked for changes, in ms; 0 = never. Default 5000. */
  geoWatchIntervalMs?: number;
}

export interface EnrichInput {
  /** The payload's `context`; never modified. */
  context: Record<string, unknown> | undefined;
  /** TCP peer address of the request (or its lookup, done only when needed). */
  peerIp: PeerIp;
  header: HeaderGetter;
  settings: EnrichSettings;
}

export interface EnrichResult {
  /** A new object: the payload context plus enrichment. */
  context: Record<string, unknown>;
  /** True when the tenant drops bots and this event is one: do not store it. */
  drop: boolean;
}

export interface Attribution {
  campaign?: Campaign & PlainObject;
  channel: Channel;
}

/** The separate enrichers; a test (or a caller) can replace any of them. */
export interface EnricherParts {
  clientIp: { resolve(sources: ClientIpSources): string | null };
  geo: { lookup(ip: string): GeoLocation | undefined; reload(): void; close(): void; stats(): GeoStats };
  userAgent: { parse(userAgent: string, hints?: ClientHints): ParsedUserAgent; stats(): UserAgentCacheStats };
  attribution(context: PlainObject): Attribution;
}

export interface EnricherStats {
  userAgent: UserAgentCacheStats;
  geo: GeoStats;
}

type EnricherName = "ip" | "geo" | "userAgent" | "attribution";

export class Enricher {
  private readonly parts: EnricherParts;
  /** One limiter per enricher, so a noisy one does not hide the failures of another. */
  private readonly failureLogs: Record<EnricherName, ReturnType<typeof rateLimitedLog>> = {
    ip: rateLimitedLog("warn"),
    geo: rateLimitedLog("warn"),
    userAgent: rateLimitedLog("warn"),
    attribution: rateLimitedLog("warn"),
  };

  /**
   * @throws Error when `trustProxy` holds an entry that is not an address or CIDR.
   * @param parts replacements for the default enrichers (tests).
   */
  constructor(options: EnricherOptions = {}, parts: Partial<EnricherParts> = {}) {
    this.parts = {
      clientIp: parts.clientIp ?? new ClientIpResolver(options.trustProxy ?? []),
      geo: parts.geo ?? new GeoLookup({ dbPath: options.geoDbPath, asnDbPath: options.asnDbPath, watchIntervalMs: options.geoWatchIntervalMs }),
      userAgent: parts.userAgent ?? new UserAgentParser(options.uaCacheSize),
      attribution: parts.attribution ?? attribute,
    };
  }

  /**
   * Adds under Segment's names: `ip`, `location`, `userAgent`, `browser`, `os`, `device`,
   * `engine`, `bot`, `campaign`, and `acquisitionChannel`. What the payload already says wins
   * (see docs/enrichment.md). An enricher that throws is logged and skipped; the others still apply.
   */
  enrich(input: EnrichInput): EnrichResult {
    const payload: PlainObject = input.context ?? {};
    const context: PlainObject = { ...payload };
    const { settings, header } = input;

    // Geo needs the full address, so it is looked up before the privacy policy truncates it.
    const ip = this.attempt("ip", () => this.parts.clientIp.resolve({ peerIp: input.peerIp, header, payloadIp: payload.ip }));
    if (ip) {
      const location = this.attempt("geo", () => this.parts.geo.lookup(ip));
      if (location) context.location = preferPayload(location, payload.location);
    }
    // Fails closed: if the policy cannot be applied, no address is stored.
    const storedIp = this.attempt("ip", () => applyIpPolicy(ip ?? null, settings.ipPolicy));
    if (storedIp === undefined) delete context.ip;
    else context.ip = storedIp;

    const parsed = this.attempt("userAgent", () => this.parseUserAgent(payload, header, context));
    let drop = false;
    if (settings.bots !== "keep") {
      // A failed parse counts as "not a bot": an event is never lost to an enrichment error.
      const bot = parsed?.bot === true || payload.bot === true;
      context.bot = bot;
      drop = bot && settings.bots === "drop";
    }

    const attribution = this.attempt("attribution", () => this.parts.attribution(payload));
    if (attribution) {
      if (attribution.campaign) context.campaign = attribution.campaign;
      context[ACQUISITION_CHANNEL_KEY] = attribution.channel;
    }
    return { context, drop };
  }

  /** Re-read the geo databases now (SIGHUP). */
  reload(): void {
    this.parts.geo.reload();
  }

  /** Stop the geo file watchers. */
  close(): void {
    this.parts.geo.close();
  }

  stats(): EnricherStats {
    return { userAgent: this.parts.userAgent.stats(), geo: this.parts.geo.stats() };
  }

  /**
   * The payload's `userAgent` wins over the User-Agent header (a server-side SDK forwarding its
   * user's browser). Client hints must describe the same client as the UA string: the request's
   * Sec-CH-UA headers go with the header UA, the payload's `userAgentData` with a payload UA.
   */
  private parseUserAgent(payload: PlainObject, header: HeaderGetter, context: PlainObject): ParsedUserAgent | undefined {
    const headerUa = header("user-agent");
    const payloadUa = asNonEmptyString(payload.userAgent);
    const userAgent = payloadUa ?? headerUa ?? "";
    if (userAgent === "") return undefined;
    const hints = payloadUa === undefined || payloadUa === headerUa ? clientHintsFromHeaders(header) : clientHintsFromUserAgentData(payload.userAgentData);
    // A header UA is stored cut like it is parsed: we do not store 10 KB of junk per event for
    // a client that sends it. A payload UA is the client's own data and is left as sent.
    context.userAgent = payloadUa ?? userAgent.slice(0, MAX_USER_AGENT_LENGTH);

    const parsed = this.parts.userAgent.parse(userAgent, hints);
    if (parsed.browser) context.browser = preferPayload(parsed.browser, payload.browser);
    if (parsed.os) context.os = preferPayload(parsed.os, payload.os);
    if (parsed.device) context.device = preferPayload(parsed.device, payload.device);
    if (parsed.engine) context.engine = preferPayload(parsed.engine, payload.engine);
    return parsed;
  }

  /** Runs one enricher; on exception logs (rate-limited) and returns undefined. */
  private attempt<T>(name: EnricherName, run: () => T): T | undefined {
    try {
      return run();
    } catch (error) {
      this.failureLogs[name](`enrichment step "${name}" failed; the event is stored without it`, { enricher: name, error });
      return undefined;
    }
  }
}

/** Campaign from the URL and payload, and the channel it implies with the referrer. */
export function attribute(context: PlainObject): Attribution {
  const campaign = resolveCampaign(context);
  return campaign ? { campaign, channel: deriveChannel(context, campaign) } : { channel: deriveChannel(context, undefined) };
}
