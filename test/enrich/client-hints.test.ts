import { describe, expect, test } from "bun:test";
import {
  applyClientHints,
  clientHintsFromUserAgentData,
  hintBoolean,
  hintBrands,
  hintString,
  readClientHints,
  windowsRelease,
  type ClientHints,
  type UserAgentParts,
} from "../../src/enrich/client-hints.ts";
import { parseUserAgent } from "../../src/enrich/user-agent.ts";

const CHROME_WINDOWS = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";
const CHROME_MAC = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";
const ANDROID_REDUCED = "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36";
const SAMSUNG_INTERNET = "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/27.0 Chrome/125.0.0.0 Mobile Safari/537.36";

describe("structured header values", () => {
  test.each([
    ['"Windows"', "Windows"],
    [' "macOS" ', "macOS"],
    ['"a \\"quoted\\" name"', 'a "quoted" name'],
    ["Linux", "Linux"],
    ['""', undefined],
    [undefined, undefined],
  ])("string %p is %p", (value, expected) => {
    expect(hintString(value)).toBe(expected);
  });

  test.each([
    ["?1", true],
    [" ?0", false],
    ["1", undefined],
    ["true", undefined],
    [undefined, undefined],
  ])("boolean %p is %p", (value, expected) => {
    expect(hintBoolean(value)).toBe(expected);
  });

  test("a brand list without its GREASE entries, whatever their spelling", () => {
    expect(hintBrands('"Chromium";v="131", "Google Chrome";v="131", "Not_A Brand";v="24"')).toEqual([
      { brand: "Chromium", version: "131" },
      { brand: "Google Chrome", version: "131" },
    ]);
    expect(hintBrands('" Not A;Brand";v="99", "Microsoft Edge";v="131.0.2903.70", "Not/A)Brand";v="8.0.0.0"')).toEqual([
      { brand: "Microsoft Edge", version: "131.0.2903.70" },
    ]);
    expect(hintBrands('"Not-A.Brand";v="99"')).toEqual([]);
  });

  test("malformed brand entries are skipped, the others kept", () => {
    expect(hintBrands('Chromium;v=131, "Opera";v="116", "Broken";v=, "";v="1"')).toEqual([{ brand: "Opera", version: "116" }]);
    expect(hintBrands("")).toEqual([]);
    expect(hintBrands(undefined)).toEqual([]);
  });

  test("the full version list is preferred to the major-only list; Unknown is no platform", () => {
    const values = readClientHints({
      "sec-ch-ua": '"Chromium";v="131", "Google Chrome";v="131"',
      "sec-ch-ua-full-version-list": '"Chromium";v="131.0.6778.86", "Google Chrome";v="131.0.6778.86"',
      "sec-ch-ua-platform": '"Unknown"',
      "sec-ch-ua-mobile": "?0",
    });
    expect(values).toEqual({
      brands: [
        { brand: "Chromium", version: "131.0.6778.86" },
        { brand: "Google Chrome", version: "131.0.6778.86" },
      ],
      fullVersions: true,
      mobile: false,
      platform: undefined,
      platformVersion: undefined,
      model: undefined,
    });
  });
});

describe("the Windows release from Sec-CH-UA-Platform-Version", () => {
  test.each([
    ["15.0.0", "11"],
    ["13.0.0", "11"],
    ["19.0.0", "11"],
    ["10.0.0", "10"],
    ["1.0.0", "10"],
    ["0.3.0", "8.1"],
    ["0.2.0", "8"],
    ["0.1.0", "7"],
    ["0.0.0", undefined],
    ["", undefined],
    ["eleven", undefined],
  ])("%p is Windows %p", (platformVersion, release) => {
    expect(windowsRelease(platformVersion)).toBe(release);
  });
});

describe("a parse refined by client hints", () => {
  const parse = (ua: string, hints: ClientHints) => parseUserAgent(ua, hints);

  test("Windows 11 and the full Chrome version, and Blink at Chromium's full version", () => {
    const parsed = parse(CHROME_WINDOWS, {
      "sec-ch-ua": '"Chromium";v="131", "Google Chrome";v="131", "Not_A Brand";v="24"',
      "sec-ch-ua-platform": '"Windows"',
      "sec-ch-ua-platform-version": '"15.0.0"',
      "sec-ch-ua-full-version-list": '"Chromium";v="131.0.6778.86", "Google Chrome";v="131.0.6778.86", "Not_A Brand";v="24.0.0.0"',
    });
    expect(parsed.os).toEqual({ name: "Windows", version: "11" });
    expect(parsed.browser).toEqual({ name: "Chrome", version: "131.0.6778.86", major: "131" });
    expect(parsed.engine).toEqual({ name: "Blink", version: "131.0.6778.86" });
  });

  test("Windows without a platform version keeps the string's 10; the major-only brand list keeps the string's version", () => {
    const parsed = parse(CHROME_WINDOWS, { "sec-ch-ua": '"Chromium";v="131", "Google Chrome";v="131"', "sec-ch-ua-platform": '"Windows"' });
    expect(parsed.os).toEqual({ name: "Windows", version: "10" });
    expect(parsed.browser).toEqual({ name: "Chrome", version: "131.0.0.0", major: "131" });
  });

  test("macOS gets its real version; without one, the frozen 10.15.7 of the string is dropped", () => {
    expect(parse(CHROME_MAC, { "sec-ch-ua-platform": '"macOS"', "sec-ch-ua-platform-version": '"14.6.1"' }).os).toEqual({ name: "macOS", version: "14.6.1" });
    expect(parse(CHROME_MAC, { "sec-ch-ua-platform": '"macOS"' }).os).toEqual({ name: "macOS" });
    expect(parse(CHROME_MAC, {}).os).toEqual({ name: "macOS", version: "10.15.7" });
  });

  test("a reduced Android string: the model names the phone and its maker, the platform version the release", () => {
    const parsed = parse(ANDROID_REDUCED, {
      "sec-ch-ua-mobile": "?1",
      "sec-ch-ua-platform": '"Android"',
      "sec-ch-ua-platform-version": '"14.0.0"',
      "sec-ch-ua-model": '"Pixel 8"',
    });
    expect(parsed.os).toEqual({ name: "Android", version: "14.0.0" });
    expect(parsed.device).toEqual({ type: "mobile", manufacturer: "Google", model: "Pixel 8" });
    expect(parsed.browser?.name).toBe("Mobile Chrome");
  });

  test("Edge and Brave, whose strings can read as Chrome, are named by their brand", () => {
    const edge = parse(CHROME_WINDOWS, {
      "sec-ch-ua-full-version-list": '"Microsoft Edge";v="131.0.2903.70", "Chromium";v="131.0.6778.86", "Not_A Brand";v="24.0.0.0"',
    });
    expect(edge.browser).toEqual({ name: "Edge", version: "131.0.2903.70", major: "131" });
    const brave = parse(CHROME_WINDOWS, { "sec-ch-ua": '"Brave";v="131", "Chromium";v="131", "Not_A Brand";v="24"' });
    expect(brave.browser).toEqual({ name: "Brave", version: "131", major: "131" });
  });

  test("a browser the string names otherwise keeps its name (Samsung Internet's brand list also says Chromium)", () => {
    const parsed = parse(SAMSUNG_INTERNET, {
      "sec-ch-ua": '"Chromium";v="125", "Not.A/Brand";v="24"',
      "sec-ch-ua-mobile": "?1",
      "sec-ch-ua-platform": '"Android"',
      "sec-ch-ua-model": '"SM-A546B"',
    });
    expect(parsed.browser).toEqual({ name: "Samsung Internet", version: "27.0", major: "27" });
    expect(parsed.device).toEqual({ type: "mobile", manufacturer: "Samsung", model: "SM-A546B" });
  });

  test("an Xbox says Windows with model Xbox", () => {
    expect(parse(CHROME_WINDOWS, { "sec-ch-ua-platform": '"Windows"', "sec-ch-ua-model": '"Xbox"' }).os).toEqual({ name: "Xbox" });
  });

  test("a payload's userAgentData with high-entropy values refines the same way", () => {
    const hints = clientHintsFromUserAgentData({
      brands: [{ brand: "Google Chrome", version: "131" }],
      fullVersionList: [
        { brand: "Chromium", version: "131.0.6778.86" },
        { brand: "Google Chrome", version: "131.0.6778.86" },
      ],
      mobile: true,
      platform: "Android",
      platformVersion: "15.0.0",
      model: "SM-S918B",
    });
    expect(parse(ANDROID_REDUCED, hints!)).toMatchObject({
      browser: { name: "Mobile Chrome", version: "131.0.6778.86" },
      os: { name: "Android", version: "15.0.0" },
      device: { type: "mobile", manufacturer: "Samsung", model: "SM-S918B" },
    });
  });

  test("applyClientHints without hints' values leaves a parse as it was", () => {
    const parts: UserAgentParts = {
      browser: { name: "Firefox", version: "133.0", major: "133" },
      os: { name: "Linux" },
      device: {},
      engine: { name: "Gecko" },
    };
    const before = structuredClone(parts);
    applyClientHints(parts, { "sec-ch-ua": "garbage", "sec-ch-ua-mobile": "maybe" }, () => ({}));
    expect(parts).toEqual(before);
  });
});
