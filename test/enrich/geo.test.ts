import { afterAll, afterEach, beforeEach, describe, expect, spyOn, test } from "bun:test";
import { copyFileSync, existsSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { GeoLookup, toGeoLocation } from "../../src/enrich/geo.ts";
import { logger } from "../../src/logger.ts";

// MaxMind's test databases live beside the repo (shared/), never copied into it.
const TESTDATA = path.resolve(import.meta.dir, "../../../shared/testdata/geo");
const db = (name: string) => path.join(TESTDATA, name);
const hasTestdata = existsSync(db("GeoLite2-City-Test.mmdb")) && existsSync(db("GeoLite2-ASN-Test.mmdb"));
if (!hasTestdata) {
  console.warn(`[enrich/geo] skipping MaxMind test-database tests: ${TESTDATA} is missing (it comes with shared/)`);
}

const tmp = mkdtempSync(path.join(tmpdir(), "inlet-geo-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

let warn: ReturnType<typeof spyOn>;
beforeEach(() => {
  warn = spyOn(logger, "warn").mockImplementation(() => {});
  spyOn(logger, "info").mockImplementation(() => {});
});
afterEach(() => {
  (logger.warn as unknown as { mockRestore(): void }).mockRestore();
  (logger.info as unknown as { mockRestore(): void }).mockRestore();
});

describe("embedded default database (no configuration)", () => {
  const geo = new GeoLookup();
  afterAll(() => geo.close());

  test.each([
    ["8.8.8.8", "US"],
    ["1.1.1.1", "AU"],
    ["81.2.69.142", "GB"],
    ["2001:4860:4860::8888", "US"],
  ])("%p is in %p, country only", (ip, country) => {
    expect(geo.lookup(ip)).toEqual({ country });
  });

  test("private and loopback addresses have no location", () => {
    expect(geo.lookup("127.0.0.1")).toBeUndefined();
    expect(geo.lookup("10.1.2.3")).toBeUndefined();
  });

  test("text that is not an address gives nothing instead of throwing", () => {
    expect(geo.lookup("not-an-ip")).toBeUndefined();
  });

  test("loaded without a warning", () => {
    expect(geo.stats().databaseLoaded).toBe(true);
    expect(warn).not.toHaveBeenCalled();
  });
});

describe.skipIf(!hasTestdata)("MaxMind City and ASN databases", () => {
  const geo = new GeoLookup({ dbPath: db("GeoLite2-City-Test.mmdb"), asnDbPath: db("GeoLite2-ASN-Test.mmdb"), watchIntervalMs: 0 });
  afterAll(() => geo.close());

  test("81.2.69.142 is London, GB, coordinates rounded to 2 decimals", () => {
    expect(geo.lookup("81.2.69.142")).toEqual({
      country: "GB",
      region: "ENG",
      city: "London",
      timezone: "Europe/London",
      latitude: 51.51,
      longitude: -0.09,
    });
  });

  test("2.125.160.216 is Boxford, GB with its postal code", () => {
    expect(geo.lookup("2.125.160.216")).toMatchObject({ country: "GB", city: "Boxford", postalCode: "OX1" });
  });

  test("89.160.20.112 is Linköping, SE on AS29518 Bredband2", () => {
    expect(geo.lookup("89.160.20.112")).toMatchObject({
      country: "SE",
      city: "Linköping",
      timezone: "Europe/Stockholm",
      asn: 29518,
      asOrganization: "Bredband2 AB",
    });
  });

  test("216.160.83.56 is Milton, WA, US on AS209", () => {
    const location = geo.lookup("216.160.83.56");
    expect(location).toMatchObject({ country: "US", region: "WA", city: "Milton", postalCode: "98354", asn: 209 });
    expect(location?.asOrganization).toBeUndefined();
  });

  test("2001:218::1 is JP (IPv6)", () => {
    expect(geo.lookup("2001:218::1")).toMatchObject({ country: "JP", timezone: "Asia/Tokyo" });
  });

  test("1.2.3.4 and 127.0.0.1 have no record", () => {
    expect(geo.lookup("1.2.3.4")).toBeUndefined();
    expect(geo.lookup("127.0.0.1")).toBeUndefined();
  });

  test("GeoIP2 City gives the same answers as GeoLite2 City", () => {
    const geoip2 = new GeoLookup({ dbPath: db("GeoIP2-City-Test.mmdb"), watchIntervalMs: 0 });
    expect(geoip2.lookup("216.160.83.56")).toMatchObject({ country: "US", region: "WA", city: "Milton" });
    expect(geoip2.lookup("81.2.69.142")).toMatchObject({ country: "GB", city: "London" });
  });

  test("a Country database gives the country and nothing it does not have", () => {
    const country = new GeoLookup({ dbPath: db("GeoLite2-Country-Test.mmdb"), watchIntervalMs: 0 });
    expect(country.lookup("81.2.69.142")).toEqual({ country: "GB" });
  });

  test("stats count lookups and hits", () => {
    const counted = new GeoLookup({ dbPath: db("GeoLite2-Country-Test.mmdb"), watchIntervalMs: 0 });
    counted.lookup("81.2.69.142");
    counted.lookup("1.2.3.4");
    expect(counted.stats()).toMatchObject({ lookups: 2, found: 1, databaseLoaded: true });
  });
});

describe("ip-location-db city layout", () => {
  test("flat records map to the same fields", () => {
    const record = {
      country_code: "US",
      state1: "Washington",
      city: "Milton",
      postcode: "98354",
      latitude: 47.25129,
      longitude: -122.31487,
      timezone: "America/Los_Angeles",
    };
    expect(toGeoLocation(record)).toEqual({
      country: "US",
      region: "Washington",
      city: "Milton",
      postalCode: "98354",
      timezone: "America/Los_Angeles",
      latitude: 47.25,
      longitude: -122.31,
    });
  });
});

describe("missing or corrupt databases", () => {
  test("a missing file: a warning naming it, no geo, no throw", () => {
    const missing = path.join(tmp, "nope.mmdb");
    const geo = new GeoLookup({ dbPath: missing, watchIntervalMs: 0 });
    expect(geo.lookup("81.2.69.142")).toBeUndefined();
    expect(geo.stats().databaseLoaded).toBe(false);
    expect(warn).toHaveBeenCalledTimes(1);
    expect(String(warn.mock.calls[0][0])).toContain("could not be loaded");
    expect(warn.mock.calls[0][1]).toMatchObject({ path: missing });
  });

  test("random bytes: a warning, no geo, no throw", () => {
    const corrupt = path.join(tmp, "corrupt.mmdb");
    writeFileSync(corrupt, crypto.getRandomValues(new Uint8Array(64 * 1024)));
    const geo = new GeoLookup({ dbPath: corrupt, watchIntervalMs: 0 });
    expect(geo.lookup("81.2.69.142")).toBeUndefined();
    expect(warn).toHaveBeenCalledTimes(1);
    expect(warn.mock.calls[0][1]).toMatchObject({ path: corrupt });
  });

  test("a gzip download not yet extracted: the warning says so", () => {
    const gz = path.join(tmp, "GeoLite2-City.mmdb.gz");
    writeFileSync(gz, Bun.gzipSync(new Uint8Array(1024)));
    new GeoLookup({ dbPath: gz, watchIntervalMs: 0 });
    expect(String(warn.mock.calls[0][1]?.error)).toContain("gzip");
  });

  test.skipIf(!hasTestdata)("a corrupt ASN database leaves the location database working", () => {
    const corrupt = path.join(tmp, "corrupt-asn.mmdb");
    writeFileSync(corrupt, "not a database");
    const geo = new GeoLookup({ dbPath: db("GeoLite2-City-Test.mmdb"), asnDbPath: corrupt, watchIntervalMs: 0 });
    expect(geo.lookup("89.160.20.112")).toMatchObject({ country: "SE", city: "Linköping" });
    expect(geo.lookup("89.160.20.112")?.asn).toBeUndefined();
  });
});

describe.skipIf(!hasTestdata)("reloading a changed database", () => {
  const cityBytes = () => readFileSync(db("GeoLite2-City-Test.mmdb"));
  const countryBytes = () => readFileSync(db("GeoLite2-Country-Test.mmdb"));
  /** Replace a file the way deploy tools do: write beside it, then rename over it. */
  const replace = (file: string, bytes: Uint8Array) => {
    writeFileSync(`${file}.new`, bytes);
    renameSync(`${file}.new`, file);
  };

  test("reload() swaps in the new file; lookups before and after all answer", () => {
    const file = path.join(tmp, "reload.mmdb");
    copyFileSync(db("GeoLite2-City-Test.mmdb"), file);
    const geo = new GeoLookup({ dbPath: file, watchIntervalMs: 0 });
    expect(geo.lookup("81.2.69.142")?.city).toBe("London");

    replace(file, countryBytes());
    // Changed on disk but not reloaded yet: the old data still answers.
    expect(geo.lookup("81.2.69.142")?.city).toBe("London");
    geo.reload();
    expect(geo.lookup("81.2.69.142")).toEqual({ country: "GB" });
  });

  test("reloading a half-written file keeps serving the old data until the file is whole", () => {
    const file = path.join(tmp, "partial.mmdb");
    copyFileSync(db("GeoLite2-City-Test.mmdb"), file);
    const geo = new GeoLookup({ dbPath: file, watchIntervalMs: 0 });

    const country = countryBytes();
    writeFileSync(file, country.subarray(0, country.length >> 1)); // a writer caught mid-copy
    geo.reload();
    expect(geo.lookup("81.2.69.142")?.city).toBe("London");
    expect(String(warn.mock.calls.at(-1)?.[0])).toContain("reload failed; still serving the previously loaded data");

    writeFileSync(file, country);
    geo.reload();
    expect(geo.lookup("81.2.69.142")).toEqual({ country: "GB" });
  });

  test("a watched file is picked up without reload(), and no lookup fails meanwhile", async () => {
    const file = path.join(tmp, "watched.mmdb");
    copyFileSync(db("GeoLite2-City-Test.mmdb"), file);
    const geo = new GeoLookup({ dbPath: file, watchIntervalMs: 20 });
    try {
      expect(geo.lookup("81.2.69.142")?.city).toBe("London");
      replace(file, countryBytes());
      const answers = new Set<string>();
      let swapped = false;
      for (let i = 0; i < 500 && !swapped; i++) {
        const location = geo.lookup("81.2.69.142");
        answers.add(JSON.stringify(location));
        expect(location?.country).toBe("GB"); // every lookup during the swap answers
        swapped = location?.city === undefined;
        await Bun.sleep(10);
      }
      expect(swapped).toBe(true);
      expect(answers.size).toBe(2); // the old answer, then the new one
    } finally {
      geo.close();
    }
  });

  test("a database that appears after start is picked up (e.g. downloaded by a sidecar)", async () => {
    const file = path.join(tmp, "late.mmdb");
    const geo = new GeoLookup({ dbPath: file, watchIntervalMs: 20 });
    try {
      expect(geo.lookup("81.2.69.142")).toBeUndefined();
      replace(file, cityBytes());
      for (let i = 0; i < 500 && geo.lookup("81.2.69.142") === undefined; i++) await Bun.sleep(10);
      expect(geo.lookup("81.2.69.142")?.city).toBe("London");
    } finally {
      geo.close();
    }
  });

  test("a watched file replaced by garbage keeps the old data and warns", async () => {
    const file = path.join(tmp, "watched-corrupt.mmdb");
    writeFileSync(file, cityBytes());
    const geo = new GeoLookup({ dbPath: file, watchIntervalMs: 20 });
    try {
      replace(file, crypto.getRandomValues(new Uint8Array(4096)));
      for (let i = 0; i < 500 && warn.mock.calls.length === 0; i++) await Bun.sleep(10);
      expect(String(warn.mock.calls[0]?.[0])).toContain("reload failed");
      expect(geo.lookup("81.2.69.142")?.city).toBe("London");
    } finally {
      geo.close();
    }
  });
});
