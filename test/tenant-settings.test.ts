import { describe, expect, test } from "bun:test";
import { parseSettings } from "../src/modules/tenants/settings";

describe("tenant settings from stored JSON", () => {
  test("valid values are kept", () => {
    expect(parseSettings(JSON.stringify({ ipPolicy: "anonymize", bots: "drop" }))).toMatchObject({ ipPolicy: "anonymize", bots: "drop" });
  });

  test("missing, invalid or unreadable values take the defaults, field by field", () => {
    const defaults = parseSettings(null);
    expect(defaults).toMatchObject({ ipPolicy: "full", bots: "flag" });
    expect(parseSettings("{not json")).toEqual(defaults);
    expect(parseSettings(JSON.stringify({ ipPolicy: "FULL", bots: 3 }))).toEqual(defaults);
    expect(parseSettings(JSON.stringify({ bots: "keep" }))).toEqual({ ...defaults, bots: "keep" });
  });
});
