import type { HeaderGetter } from "./client-ip.ts";
import { asNonEmptyString, asObject } from "./values.ts";

/**
 * User-Agent Client Hints: what Chromium browsers send beside a user agent string whose versions
 * they have frozen ("Windows NT 10.0" on Windows 11, "Android 10; K" on every Android phone).
 * They arrive as `Sec-CH-UA-*` request headers, or in a payload's `context.userAgentData` (what
 * analytics.js copies from `navigator.userAgentData`), which is rewritten here as the headers it
 * stands for, so that both are read, cached and tested the same way.
 */

/** A client hint value longer than this is cut (real ones are well under 200 characters). */
export const MAX_HINT_LENGTH = 256;

/** The Sec-CH-UA request headers we read, in their lower-case HTTP names. */
export const CLIENT_HINT_HEADERS = [
  "sec-ch-ua",
  "sec-ch-ua-mobile",
  "sec-ch-ua-platform",
  "sec-ch-ua-platform-version",
  "sec-ch-ua-model",
  "sec-ch-ua-full-version-list",
] as const;
export type ClientHintHeader = (typeof CLIENT_HINT_HEADERS)[number];
export type ClientHints = Partial<Record<ClientHintHeader, string>>;

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
 * Client hints from a payload's `context.userAgentData` (brands, mobile, platform, and the
 * high-entropy values when the site asked for them), rewritten as the headers they stand for.
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
  };
  let hints: ClientHints | undefined;
  for (const name of CLIENT_HINT_HEADERS) {
    const hint = candidates[name];
    if (hint !== undefined) (hints ??= {})[name] = hint.slice(0, MAX_HINT_LENGTH);
  }
  return hints;
}

export interface Brand {
  brand: string;
  version: string;
}

/** What a set of client hints says, read from their structured-header text. */
export interface HintValues {
  /** `Sec-CH-UA-Full-Version-List`, else `Sec-CH-UA` (major versions only); GREASE brands left out. */
  brands: Brand[];
  /** True when the brands came from the full version list. */
  fullVersions: boolean;
  mobile?: boolean;
  platform?: string;
  platformVersion?: string;
  model?: string;
}

/**
 * An RFC 8941 string (`"Windows"`) → its text; a bare token is taken as it is. Empty → undefined.
 */
export function hintString(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const trimmed = value.trim();
  const match = /^"((?:[^"\\]|\\.)*)"/.exec(trimmed);
  const text = match ? match[1]!.replace(/\\(.)/g, "$1") : trimmed;
  return text === "" ? undefined : text;
}

/** An RFC 8941 boolean: `?1` → true, `?0` → false, anything else → undefined. */
export function hintBoolean(value: string | undefined): boolean | undefined {
  const trimmed = value?.trim();
  return trimmed === "?1" ? true : trimmed === "?0" ? false : undefined;
}

/**
 * A brand list (`"Chromium";v="124", "Google Chrome";v="124", "Not-A.Brand";v="99"`) → its brands,
 * without the GREASE entries browsers add to keep servers from parsing the list too strictly
 * ("Not-A.Brand", "Not A(Brand", "Not/A)Brand"...). Malformed entries are skipped.
 */
export function hintBrands(value: string | undefined): Brand[] {
  if (value === undefined) return [];
  const brands: Brand[] = [];
  for (const match of value.matchAll(/"((?:[^"\\]|\\.)*)"\s*;\s*v\s*=\s*"((?:[^"\\]|\\.)*)"/g)) {
    const brand = match[1]!.replace(/\\(.)/g, "$1").trim();
    const version = match[2]!.replace(/\\(.)/g, "$1").trim();
    if (brand === "" || /not.a.brand/i.test(brand)) continue;
    brands.push({ brand, version });
  }
  return brands;
}

/** Everything the hints say, parsed. */
export function readClientHints(hints: ClientHints): HintValues {
  const fullList = hintBrands(hints["sec-ch-ua-full-version-list"]);
  const platform = hintString(hints["sec-ch-ua-platform"]);
  return {
    brands: fullList.length > 0 ? fullList : hintBrands(hints["sec-ch-ua"]),
    fullVersions: fullList.length > 0,
    mobile: hintBoolean(hints["sec-ch-ua-mobile"]),
    // "Unknown" is what Chromium sends when it cannot tell: no information.
    platform: platform === "Unknown" ? undefined : platform,
    platformVersion: hintString(hints["sec-ch-ua-platform-version"]),
    model: hintString(hints["sec-ch-ua-model"]),
  };
}

/**
 * The Windows release a `Sec-CH-UA-Platform-Version` stands for (it is the Windows.Foundation
 * UniversalApiContract version, not the release): 13 and above is Windows 11, 1 to 10 is
 * Windows 10, 0.1 / 0.2 / 0.3 are Windows 7 / 8 / 8.1. Undefined when it does not parse.
 */
export function windowsRelease(platformVersion: string): string | undefined {
  const match = /^(\d+)(?:\.(\d+))?/.exec(platformVersion.trim());
  if (!match) return undefined;
  const major = Number(match[1]);
  const minor = Number(match[2] ?? 0);
  if (major >= 13) return "11";
  if (major >= 1) return "10";
  return { 1: "7", 2: "8", 3: "8.1" }[minor];
}

/** Brand names as the user agent parser spells the same browsers. */
const BRAND_NAMES: Record<string, string> = {
  "Google Chrome": "Chrome",
  "Microsoft Edge": "Edge",
  "Microsoft Edge WebView2": "Edge WebView2",
  "Android WebView": "Chrome WebView",
  HeadlessChrome: "Chrome Headless",
  HuaweiBrowser: "Huawei Browser",
  "Miui Browser": "MIUI Browser",
  OperaMobile: "Opera Mobi",
  YaBrowser: "Yandex",
};

/** Chromium itself, or a name for Google's build of it ("Chrome", "Mobile Chrome", "Chrome WebView"...). */
const isChromeName = (name: string) => /Chrom/.test(name);

export interface UserAgentParts {
  browser: { name?: string; version?: string; major?: string };
  os: { name?: string; version?: string };
  device: { type?: string; vendor?: string; model?: string };
  engine: { name?: string; version?: string };
}

/**
 * Refines a user agent string's parse with what its client hints say; `parts` is changed in place.
 * - browser: the most specific brand (Chromium only when no other is named) names the browser when
 *   the string gave none or only a Chrome/Chromium name (Edge, Opera, Brave... send a Chrome-like
 *   string). A browser the string names otherwise (Samsung Internet, say) keeps its name. The version
 *   comes from the full version list when there is one; a Chrome the string already named keeps
 *   its Mobile/WebView name.
 * - engine: a Blink engine takes the Chromium brand's full version.
 * - os: `Sec-CH-UA-Platform` names it, `-Platform-Version` versions it (Windows: 10 or 11, see
 *   windowsRelease). Without a platform version, the string's version is kept only for Windows
 *   (its "10.0" is what Windows 10 and 11 both say); for the others it is the frozen value
 *   ("Android 10", "Mac OS X 10_15_7") and is dropped. A Windows platform with model "Xbox" is an Xbox.
 * - device: `?1` mobile makes it a mobile; a model replaces the string's ("K" in reduced Android
 *   strings), and `modelDevice` names its maker and type when the string did not.
 */
export function applyClientHints(parts: UserAgentParts, hints: ClientHints, modelDevice: (model: string) => { type?: string; vendor?: string }): void {
  const values = readClientHints(hints);

  const specific = values.brands.find((b) => b.brand !== "Chromium");
  const chromium = values.brands.find((b) => b.brand === "Chromium");
  const chosen = specific ?? chromium;
  if (chosen) {
    const hinted = BRAND_NAMES[chosen.brand] ?? chosen.brand;
    const current = parts.browser.name;
    const sameBrowser = current !== undefined && (current === hinted || (isChromeName(current) && hinted === "Chrome"));
    const takeVersion = chosen.version !== "" && (values.fullVersions || parts.browser.version === undefined);
    if (sameBrowser) {
      if (takeVersion) setBrowserVersion(parts, chosen.version);
    } else if (current === undefined || (isChromeName(current) && !isChromeName(hinted))) {
      parts.browser.name = hinted;
      parts.browser.version = chosen.version || undefined;
      parts.browser.major = undefined;
      if (chosen.version) setBrowserVersion(parts, chosen.version);
    }
  }
  if (chromium && values.fullVersions && parts.engine.name === "Blink" && chromium.version !== "") parts.engine.version = chromium.version;

  if (values.platform !== undefined) {
    const windows = values.platform === "Windows";
    const stringVersion = windows && parts.os.name === "Windows" ? parts.os.version : undefined;
    const hintedVersion = values.platformVersion === undefined ? undefined : windows ? windowsRelease(values.platformVersion) : values.platformVersion;
    parts.os.name = values.platform;
    parts.os.version = hintedVersion ?? stringVersion;
    if (windows && values.model === "Xbox") {
      parts.os.name = "Xbox";
      parts.os.version = undefined;
    }
  }

  if (values.mobile === true) parts.device.type = "mobile";
  if (values.model !== undefined) {
    parts.device.model = values.model;
    if (parts.device.type === undefined || parts.device.vendor === undefined) {
      const fromModel = modelDevice(values.model);
      parts.device.type ??= fromModel.type;
      parts.device.vendor ??= fromModel.vendor;
    }
  }
}

function setBrowserVersion(parts: UserAgentParts, version: string): void {
  parts.browser.version = version;
  parts.browser.major = /^\d+/.exec(version)?.[0];
}
