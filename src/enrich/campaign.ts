import { asObject, type PlainObject } from "./values.ts";

/**
 * `context.campaign` in Segment's shape, from the UTM parameters and ad click ids in the page URL
 * merged with the campaign the payload already carries.
 *
 * The payload wins, key by key: Segment's own libraries fill `context.campaign` from this same
 * URL, so an explicit value is either that or something the sender chose on purpose.
 */

export interface Campaign {
  name?: string;
  source?: string;
  medium?: string;
  term?: string;
  content?: string;
  gclid?: string;
  fbclid?: string;
  msclkid?: string;
}

/** Longest value kept, in UTF-16 code units; real UTM values are far shorter. */
export const MAX_CAMPAIGN_VALUE_LENGTH = 256;

/** Query parameter → campaign key. */
const URL_PARAMETERS: ReadonlyArray<readonly [string, keyof Campaign]> = [
  ["utm_campaign", "name"],
  ["utm_source", "source"],
  ["utm_medium", "medium"],
  ["utm_term", "term"],
  ["utm_content", "content"],
  ["gclid", "gclid"],
  ["fbclid", "fbclid"],
  ["msclkid", "msclkid"],
];
const CAMPAIGN_KEYS = URL_PARAMETERS.map(([, key]) => key);
/** Lower-cased so that "Google" and "google" count as one source in reports. */
const CASE_INSENSITIVE_KEYS: ReadonlySet<keyof Campaign> = new Set(["source", "medium"]);
const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f-\u009f]/g;

/**
 * The campaign for a payload context, or undefined when there is none. Known keys are
 * normalized (see normalizeCampaignValue); other keys the payload's campaign carries (custom
 * UTM parameters such as `id`) are kept as sent.
 */
export function resolveCampaign(context: PlainObject): (Campaign & PlainObject) | undefined {
  const page = asObject(context.page);
  const fromUrl = campaignFromQuery(queryOf(page?.url) ?? queryOf(page?.search));
  const fromPayload = asObject(context.campaign);

  const campaign: Campaign & PlainObject = { ...fromPayload };
  for (const key of CAMPAIGN_KEYS) {
    const value = normalizeCampaignValue(key, fromPayload?.[key]) ?? fromUrl[key];
    if (value !== undefined) campaign[key] = value;
    else delete campaign[key];
  }
  return Object.keys(campaign).length > 0 ? campaign : undefined;
}

/** Campaign fields from a query string ("?utm_source=x&..." or "utm_source=x&..."). */
export function campaignFromQuery(query: string | undefined): Campaign {
  const campaign: Campaign = {};
  if (query === undefined || !mayNameCampaign(query)) return campaign;
  const params = new URLSearchParams(query);
  for (const [parameter, key] of URL_PARAMETERS) {
    const value = normalizeCampaignValue(key, params.get(parameter));
    if (value !== undefined) campaign[key] = value;
  }
  return campaign;
}

/**
 * Whether a query string can hold one of URL_PARAMETERS: a name written out, or a percent escape
 * (`utm%5Fsource` is read as `utm_source`). Most page URLs hold neither, and parsing them was
 * about a tenth of an event's enrichment.
 */
function mayNameCampaign(query: string): boolean {
  if (query.includes("%")) return true;
  for (const [parameter] of URL_PARAMETERS) if (query.includes(parameter)) return true;
  return false;
}

/**
 * Trimmed, control characters removed, cut to MAX_CAMPAIGN_VALUE_LENGTH, source and medium
 * lower-cased; numbers become strings; anything else, or nothing left, is undefined.
 */
export function normalizeCampaignValue(key: keyof Campaign, value: unknown): string | undefined {
  if (typeof value !== "string" && typeof value !== "number") return undefined;
  let text = String(value).replace(CONTROL_CHARACTERS, "").trim();
  if (text.length > MAX_CAMPAIGN_VALUE_LENGTH) {
    text = text.slice(0, MAX_CAMPAIGN_VALUE_LENGTH);
    // Never leave half of a surrogate pair (an emoji cut in two) at the end.
    if (/[\ud800-\udbff]$/.test(text)) text = text.slice(0, -1);
    text = text.trimEnd();
  }
  if (text === "") return undefined;
  return CASE_INSENSITIVE_KEYS.has(key) ? text.toLowerCase() : text;
}

/** The query part of a URL or search string, without the fragment; undefined when there is none. */
function queryOf(value: unknown): string | undefined {
  if (typeof value !== "string") return undefined;
  const start = value.indexOf("?");
  if (start === -1) return undefined;
  const end = value.indexOf("#", start);
  return value.slice(start + 1, end === -1 ? undefined : end);
}
