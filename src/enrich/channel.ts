import type { Campaign } from "./campaign.ts";
import { asNonEmptyString, asObject, type PlainObject } from "./values.ts";

/**
 * The acquisition channel of an event: how the visitor came to the page. A simplified version
 * of GA4's default channel grouping, as an ordered table: the first rule that matches wins.
 * docs/enrichment.md shows the same table; change both together.
 */

export const CHANNELS = ["paid_search", "organic_search", "paid_social", "organic_social", "email", "referral", "direct", "other"] as const;
export type Channel = (typeof CHANNELS)[number];

/** What the rules look at, computed once per event. */
export interface ChannelSignals {
  /** Lower-cased utm_source / utm_medium (campaign.source / campaign.medium). */
  source?: string;
  medium?: string;
  /** The URL or payload carries a campaign: a source, medium or campaign name. */
  tagged: boolean;
  gclid: boolean;
  msclkid: boolean;
  fbclid: boolean;
  /** Where the referrer points: nowhere, this same site, a search engine, a social network, elsewhere. */
  referrer: "none" | "internal" | "search" | "social" | "external";
}

export interface ChannelRule {
  channel: Channel;
  /** The rule in words, as docs/enrichment.md shows it. */
  when: string;
  matches(signals: ChannelSignals): boolean;
}

// Google Ads and Microsoft Ads add their click ids to paid clicks only; Facebook adds fbclid to
// every outbound link, organic shares included, so fbclid alone means organic social.
export const CHANNEL_RULES: readonly ChannelRule[] = [
  {
    channel: "paid_social",
    when: "medium is paid_social/paidsocial/paid-social, or a paid medium (cpc, ppc, cpm, any *cp*, paid*, retargeting) with a social source or an fbclid",
    matches: (s) => PAID_SOCIAL_MEDIUMS.has(s.medium ?? "") || (isPaidMedium(s.medium) && (isSocialSource(s.source) || s.fbclid)),
  },
  {
    channel: "paid_search",
    when: "a gclid or msclkid, or medium cpc/ppc/paidsearch/paid_search, or a paid medium with a search-engine source",
    matches: (s) => s.gclid || s.msclkid || PAID_SEARCH_MEDIUMS.has(s.medium ?? "") || (isPaidMedium(s.medium) && isSearchSource(s.source)),
  },
  {
    channel: "email",
    when: "medium or source is email/e-mail/e_mail/newsletter",
    matches: (s) => EMAIL_TAGS.has(s.medium ?? "") || EMAIL_TAGS.has(s.source ?? ""),
  },
  {
    channel: "organic_search",
    when: "source is a search engine, or medium is organic, or (untagged) the referrer is a search engine",
    matches: (s) => isSearchSource(s.source) || s.medium === "organic" || (!s.tagged && s.referrer === "search"),
  },
  {
    channel: "organic_social",
    when: "source is a social network, or medium is social/social-network/social-media/sm, or an fbclid, or (untagged) the referrer is a social network",
    matches: (s) => isSocialSource(s.source) || SOCIAL_MEDIUMS.has(s.medium ?? "") || s.fbclid || (!s.tagged && s.referrer === "social"),
  },
  {
    channel: "referral",
    when: "medium is referral, or (untagged) the referrer is another site",
    matches: (s) => s.medium === "referral" || (!s.tagged && s.referrer === "external"),
  },
  {
    channel: "other",
    when: "tagged, but no rule above matched",
    matches: (s) => s.tagged,
  },
  {
    channel: "direct",
    when: "everything else: no referrer, or a referrer on the same site (internal navigation)",
    matches: () => true,
  },
];

/** The channel for a payload context and its resolved campaign (see resolveCampaign). */
export function deriveChannel(context: PlainObject, campaign: Campaign | undefined): Channel {
  const signals = channelSignals(context, campaign);
  for (const rule of CHANNEL_RULES) if (rule.matches(signals)) return rule.channel;
  return "direct";
}

export function channelSignals(context: PlainObject, campaign: Campaign | undefined): ChannelSignals {
  const page = asObject(context.page);
  const referrerUrl = asNonEmptyString(page?.referrer) ?? asNonEmptyString(asObject(context.referrer)?.url);
  return {
    source: campaign?.source,
    medium: campaign?.medium,
    tagged: Boolean(campaign?.source || campaign?.medium || campaign?.name),
    gclid: Boolean(campaign?.gclid),
    msclkid: Boolean(campaign?.msclkid),
    fbclid: Boolean(campaign?.fbclid),
    referrer: classifyReferrer(hostOf(referrerUrl), hostOf(page?.url)),
  };
}

const PAID_MEDIUM = /^(.*cp.*|ppc|retargeting|paid.*)$/;
const PAID_SEARCH_MEDIUMS: ReadonlySet<string> = new Set(["cpc", "ppc", "paidsearch", "paid_search", "paid-search"]);
const PAID_SOCIAL_MEDIUMS: ReadonlySet<string> = new Set(["paid_social", "paidsocial", "paid-social", "social_paid", "social-paid"]);
const EMAIL_TAGS: ReadonlySet<string> = new Set(["email", "e-mail", "e_mail", "newsletter"]);
const SOCIAL_MEDIUMS: ReadonlySet<string> = new Set(["social", "social-network", "social_network", "social-media", "social_media", "sm"]);

const SEARCH_ENGINES = ["google", "bing", "duckduckgo", "yahoo", "baidu", "yandex", "ecosia"];
const SOCIAL_NETWORKS = ["facebook", "instagram", "twitter", "linkedin", "reddit", "youtube", "tiktok", "pinterest"];
/** Short forms people put in utm_source. */
const SOCIAL_SOURCE_ALIASES = ["fb", "ig", "x", "t.co", "x.com"];
/**
 * A name followed by a public suffix of one or two short labels (google.com, google.co.uk,
 * cn.bing.com), so that an app id like "com.google.android.gm" (the Gmail app) is not Google search.
 */
const hostPattern = (names: readonly string[]) => new RegExp(`(^|\\.)(${names.join("|")})(\\.[a-z]{2,3}){1,2}$`);
const SEARCH_HOST = hostPattern(SEARCH_ENGINES);
const SOCIAL_HOST = hostPattern(SOCIAL_NETWORKS);
/** Link shorteners and short domains of the social networks. */
const SOCIAL_SHORT_HOST = /(^|\.)(t\.co|x\.com|lnkd\.in|youtu\.be|fb\.me|pin\.it)$/;

function isPaidMedium(medium: string | undefined): boolean {
  return medium !== undefined && PAID_MEDIUM.test(medium);
}

function isSearchSource(source: string | undefined): boolean {
  return source !== undefined && (SEARCH_ENGINES.includes(source) || SEARCH_HOST.test(source));
}

function isSocialSource(source: string | undefined): boolean {
  return source !== undefined && (SOCIAL_NETWORKS.includes(source) || SOCIAL_SOURCE_ALIASES.includes(source) || isSocialHost(source));
}

function isSocialHost(host: string): boolean {
  return SOCIAL_HOST.test(host) || SOCIAL_SHORT_HOST.test(host);
}

function classifyReferrer(referrerHost: string | undefined, pageHost: string | undefined): ChannelSignals["referrer"] {
  if (referrerHost === undefined) return "none";
  if (pageHost !== undefined && withoutWww(referrerHost) === withoutWww(pageHost)) return "internal";
  if (SEARCH_HOST.test(referrerHost)) return "search";
  if (isSocialHost(referrerHost)) return "social";
  return "external";
}

/** Lower-case host name of an absolute URL; undefined for anything that does not parse as one. */
function hostOf(url: unknown): string | undefined {
  if (typeof url !== "string" || url === "") return undefined;
  try {
    const host = new URL(url).hostname.toLowerCase();
    return host === "" ? undefined : host;
  } catch {
    return undefined;
  }
}

function withoutWww(host: string): string {
  return host.startsWith("www.") ? host.slice(4) : host;
}
