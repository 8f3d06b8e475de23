import defaultGeoDb from "@ip-location-db/geo-whois-asn-country-mmdb/geo-whois-asn-country.mmdb" with { type: "file" };
import { MmdbFile } from "./mmdb-file.ts";
import { asNonEmptyString, asObject, type PlainObject } from "./values.ts";

/**
 * IP geolocation from MaxMind-format databases. With no configuration it uses the country-level
 * database embedded in the executable (ip-location-db geo-whois-asn-country), so geo works out of
 * the box; a GeoLite2/GeoIP2 City or Country file replaces it, and an optional ASN file adds the
 * network. Lookups never throw: without a database they return nothing.
 */

/** What we store under `context.location`; a field is present only when the database has it. */
export interface GeoLocation {
  /** ISO 3166-1 alpha-2 country code. */
  country?: string;
  /** Subdivision ISO code ("ENG", "WA") when the database has one, else its name. */
  region?: string;
  city?: string;
  postalCode?: string;
  /** IANA time zone of the location, e.g. "Europe/London". */
  timezone?: string;
  /** Rounded to 2 decimals (about 1 km): more precision than the data has, and less to leak. */
  latitude?: number;
  longitude?: number;
  asn?: number;
  asOrganization?: string;
}

export interface GeoOptions {
  /** GEOIP_DB: a City or Country mmdb replacing the embedded country database. */
  dbPath?: string;
  /** GEOIP_ASN_DB: an ASN mmdb (GeoLite2-ASN or ip-location-db asn). */
  asnDbPath?: string;
  /** How often configured files are checked for a new version; 0 = never. Default 5000 ms. */
  watchIntervalMs?: number;
}

export interface GeoStats {
  lookups: number;
  /** Lookups that found a record. */
  found: number;
  database: string;
  databaseLoaded: boolean;
  asnDatabase?: string;
  asnDatabaseLoaded?: boolean;
}

export const DEFAULT_GEO_WATCH_INTERVAL_MS = 5_000;
/**
 * Addresses whose location is remembered. A site's traffic repeats addresses (one visitor sends
 * many events), and a hit skips the search-tree walk and the record conversion; when full, the
 * cache starts over (a flood of distinct addresses costs what it did without a cache).
 */
const LOOKUP_CACHE_SIZE = 10_000;

export class GeoLookup {
  private readonly location: MmdbFile;
  private readonly asn?: MmdbFile;
  private lookups = 0;
  private found = 0;
  /** Locations by address (null: none), valid for the database generations in `cachedFor`. */
  private readonly cache = new Map<string, GeoLocation | null>();
  private cachedFor = { location: -1, asn: -1 };

  constructor(options: GeoOptions = {}) {
    const watchIntervalMs = options.watchIntervalMs ?? DEFAULT_GEO_WATCH_INTERVAL_MS;
    this.location = options.dbPath
      ? new MmdbFile(options.dbPath, { label: "GEOIP_DB", watchIntervalMs })
      : // The embedded file never changes, so there is nothing to watch.
        new MmdbFile(defaultGeoDb, { label: "embedded country database", watchIntervalMs: 0 });
    if (options.asnDbPath) {
      this.asn = new MmdbFile(options.asnDbPath, { label: "GEOIP_ASN_DB", watchIntervalMs });
    }
  }

  /**
   * Location of a normalized IP address, or undefined when no database knows it. The result is
   * shared between lookups of the same address and frozen: copy it to change it.
   */
  lookup(ip: string): GeoLocation | undefined {
    this.lookups++;
    const asnGeneration = this.asn?.generation ?? 0;
    if (this.location.generation !== this.cachedFor.location || asnGeneration !== this.cachedFor.asn) {
      // A database was (re)loaded since these were looked up.
      this.cache.clear();
      this.cachedFor = { location: this.location.generation, asn: asnGeneration };
    }
    let result = this.cache.get(ip);
    if (result === undefined) {
      const location = toGeoLocation(this.location.get(ip));
      const network = this.asn ? toGeoLocation(this.asn.get(ip)) : undefined;
      const merged = location && network ? { ...location, ...network } : (location ?? network);
      result = merged ? Object.freeze(merged) : null;
      if (this.cache.size >= LOOKUP_CACHE_SIZE) this.cache.clear();
      this.cache.set(ip, result);
    }
    if (result === null) return undefined;
    this.found++;
    return result;
  }

  /** Re-read the database files now (SIGHUP). A file that fails to load keeps its previous data. */
  reload(): void {
    this.location.reload();
    this.asn?.reload();
  }

  /** Stop watching the files. */
  close(): void {
    this.location.close();
    this.asn?.close();
  }

  stats(): GeoStats {
    return {
      lookups: this.lookups,
      found: this.found,
      database: this.location.path,
      databaseLoaded: this.location.loaded,
      ...(this.asn ? { asnDatabase: this.asn.path, asnDatabaseLoaded: this.asn.loaded } : {}),
    };
  }
}

/**
 * Reads a database record of either layout into a GeoLocation:
 * - MaxMind (GeoLite2/GeoIP2 City, Country, ASN, Enterprise): `country.iso_code`,
 *   `subdivisions[0]`, `city.names.en`, `postal.code`, `location.{latitude,longitude,time_zone}`,
 *   `autonomous_system_number` (or `traits.autonomous_system_number`);
 * - ip-location-db (the embedded default, and its city/asn files): flat `country_code`, `state1`,
 *   `city`, `postcode`, `latitude`, `longitude`, `timezone`, `autonomous_system_number`.
 * Returns undefined when the record yields no field at all.
 */
export function toGeoLocation(record: unknown): GeoLocation | undefined {
  const r = asObject(record);
  if (r === undefined) return undefined;
  const location = asObject(r.location);
  const traits = asObject(r.traits);
  const subdivision = asObject(Array.isArray(r.subdivisions) ? r.subdivisions[0] : undefined);

  const geo: GeoLocation = {};
  setIfPresent(geo, "country", asNonEmptyString(asObject(r.country)?.iso_code) ?? asNonEmptyString(r.country_code));
  setIfPresent(geo, "region", asNonEmptyString(subdivision?.iso_code) ?? englishName(subdivision) ?? asNonEmptyString(r.state1));
  setIfPresent(geo, "city", englishName(asObject(r.city)) ?? asNonEmptyString(r.city));
  setIfPresent(geo, "postalCode", asNonEmptyString(asObject(r.postal)?.code) ?? asNonEmptyString(r.postcode));
  setIfPresent(geo, "timezone", asNonEmptyString(location?.time_zone) ?? asNonEmptyString(r.timezone));
  setIfPresent(geo, "latitude", roundCoordinate(location?.latitude ?? r.latitude));
  setIfPresent(geo, "longitude", roundCoordinate(location?.longitude ?? r.longitude));
  const asn = r.autonomous_system_number ?? traits?.autonomous_system_number;
  setIfPresent(geo, "asn", typeof asn === "number" ? asn : undefined);
  setIfPresent(geo, "asOrganization", asNonEmptyString(r.autonomous_system_organization) ?? asNonEmptyString(traits?.autonomous_system_organization));
  return Object.keys(geo).length > 0 ? geo : undefined;
}

function englishName(record: PlainObject | undefined): string | undefined {
  return asNonEmptyString(asObject(record?.names)?.en);
}

function roundCoordinate(value: unknown): number | undefined {
  return typeof value === "number" && Number.isFinite(value) ? Math.round(value * 100) / 100 : undefined;
}

function setIfPresent<K extends keyof GeoLocation>(geo: GeoLocation, key: K, value: GeoLocation[K] | undefined): void {
  if (value !== undefined) geo[key] = value;
}
