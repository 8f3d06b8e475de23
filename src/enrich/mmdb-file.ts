import { readFileSync, statSync } from "node:fs";
import { LRUCache } from "lru-cache";
import { Reader, type Response } from "maxmind";
import { logger } from "../logger.ts";

/**
 * One MaxMind-format database file that can be replaced while the server runs.
 *
 * A new file is read and parsed completely before it replaces the old reader, in a single
 * assignment: a lookup sees either the old data or the new, never a half-loaded file, and a new
 * file that does not parse (still being written, corrupt) leaves the old data in service.
 * We do this ourselves rather than use maxmind's `open(path, {watchForUpdates})` because that
 * one is asynchronous to open and, on a corrupt replacement, throws from inside its watcher
 * instead of keeping the previous data.
 */

export interface MmdbFileOptions {
  /** How the file is named in log lines ("GEOIP_DB", "embedded country database"). */
  label: string;
  /** Check the file every this many ms and reload it when it changed; 0 = no watching. */
  watchIntervalMs: number;
}

/** Decoded records per database, keyed by their offset in the file; most lookups repeat. */
const DECODED_RECORD_CACHE_SIZE = 10_000;

export class MmdbFile {
  private reader: Reader<Response> | null = null;
  /** Goes up each time other data is swapped in: results derived from older data are stale. */
  generation = 0;
  /** The file as it was when last read (loaded or not): the watcher reloads when it differs. */
  private readStat?: FileIdentity;
  private readonly watcher?: ReturnType<typeof setInterval>;

  constructor(
    readonly path: string,
    private readonly options: MmdbFileOptions,
  ) {
    const error = this.load();
    if (error !== undefined) {
      logger.warn(`${options.label}: database could not be loaded; events are stored without this data until it is fixed`, {
        path,
        error: error.message,
      });
    }
    if (options.watchIntervalMs > 0) {
      // Polling the file's identity survives the file being replaced by rename (how geoipupdate
      // and deploy tools install a database) and a file that only appears later. Comparing with
      // the file as it was read, rather than with the previous poll as fs.watchFile does, cannot
      // miss a change made between loading and the first poll. unref: never keeps the process up.
      this.watcher = setInterval(() => this.reloadIfChanged(), options.watchIntervalMs);
      this.watcher.unref();
    }
  }

  get loaded(): boolean {
    return this.reader !== null;
  }

  /** The database's own name for itself, e.g. "GeoLite2-City" (for logs and stats). */
  get databaseType(): string | undefined {
    return this.reader?.metadata.databaseType;
  }

  /** The record for `ip`, or null when there is none, no database, or `ip` does not parse. */
  get(ip: string): unknown {
    const reader = this.reader;
    if (reader === null) return null;
    try {
      return reader.get(ip);
    } catch {
      // mmdb-lib throws for text that is not an address, or an IPv6 address in an IPv4-only file.
      return null;
    }
  }

  /** Read the file again and swap it in if it parses. Returns whether the new data is in service. */
  reload(): boolean {
    const error = this.load();
    if (error === undefined) {
      logger.info(`${this.options.label}: database reloaded`, { path: this.path, type: this.databaseType });
      return true;
    }
    logger.warn(`${this.options.label}: database reload failed; ${this.reader ? "still serving the previously loaded data" : "no data loaded"}`, {
      path: this.path,
      error: error.message,
    });
    return false;
  }

  /** Stop watching the file. Lookups keep working on the data already loaded. */
  close(): void {
    if (this.watcher) clearInterval(this.watcher);
  }

  private reloadIfChanged(): void {
    const current = fileIdentity(this.path);
    // A file that is gone (deleted, or between unlink and rename) keeps the data we have.
    if (current === undefined || sameFile(current, this.readStat)) return;
    this.reload();
  }

  /** Parse the file into a new reader and swap it in; returns the error instead on failure. */
  private load(): Error | undefined {
    // Taken before reading: a change during the read then shows as a difference at the next poll.
    this.readStat = fileIdentity(this.path);
    try {
      const bytes = readFileSync(this.path);
      if (bytes[0] === 0x1f && bytes[1] === 0x8b) {
        throw new Error("the file is gzip-compressed; extract the .mmdb file from the download first");
      }
      const reader = new Reader<Response>(bytes, { cache: new LRUCache<string | number, object>({ max: DECODED_RECORD_CACHE_SIZE }) });
      // The metadata parsing above catches most corruption; one lookup walks the search tree too.
      reader.get("1.1.1.1");
      this.reader = reader;
      this.generation++;
      return undefined;
    } catch (error) {
      return error instanceof Error ? error : new Error(String(error));
    }
  }
}

interface FileIdentity {
  ino: number;
  size: number;
  mtimeMs: number;
}

function fileIdentity(path: string): FileIdentity | undefined {
  try {
    const { ino, size, mtimeMs } = statSync(path);
    return { ino, size, mtimeMs };
  } catch {
    return undefined;
  }
}

function sameFile(a: FileIdentity, b: FileIdentity | undefined): boolean {
  return b !== undefined && a.ino === b.ino && a.size === b.size && a.mtimeMs === b.mtimeMs;
}
