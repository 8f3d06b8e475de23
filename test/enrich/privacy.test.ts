import { describe, expect, test } from "bun:test";
import { anonymizeIp, applyIpPolicy } from "../../src/enrich/privacy.ts";
import type { IpPolicy } from "../../src/enrich/settings.ts";

describe("IP policy", () => {
  test.each([
    ["1.2.3.4", "1.2.3.0"],
    ["81.2.69.142", "81.2.69.0"],
    ["2001:db8:abcd:12:3456::1", "2001:db8:abcd::"],
    ["2001:218::1", "2001:218::"],
    ["::1", "::"],
  ])("anonymize keeps only the network part: %p → %p", (ip, expected) => {
    expect(applyIpPolicy(ip, "anonymize")).toBe(expected);
  });

  test("full stores the address as resolved", () => {
    expect(applyIpPolicy("2001:218::1", "full")).toBe("2001:218::1");
  });

  test("drop stores nothing, IPv4 or IPv6", () => {
    expect(applyIpPolicy("81.2.69.142", "drop")).toBeUndefined();
    expect(applyIpPolicy("2001:218::1", "drop")).toBeUndefined();
  });

  test("no address stays no address", () => {
    expect(applyIpPolicy(null, "full")).toBeUndefined();
  });

  test("text that is not an address is never stored as if anonymized", () => {
    expect(anonymizeIp("secret-hostname.internal")).toBeUndefined();
  });

  test("an unknown policy value stores nothing rather than leak", () => {
    expect(applyIpPolicy("81.2.69.142", "partial" as IpPolicy)).toBeUndefined();
  });
});
