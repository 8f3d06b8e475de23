/**
 * Request bodies: JSON sent as application/json or text/plain (sendBeacon cannot set a JSON
 * content type), read with a byte limit that is enforced while reading, never after buffering
 * an unbounded body. Invalid UTF-8 and invalid JSON are client errors.
 */
import { ApiError, invalidRequest, payloadTooLarge, unsupportedMediaType } from "./errors";
import { findJsonViolation } from "../lib/json-limits";
import { step, stepTimes } from "../lib/step-times";

const BODY = step("body");

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** Content encodings of request bodies that are decompressed (several Segment clients gzip). */
const DECOMPRESSED = new Set(["gzip", "deflate"]);

/**
 * Reads at most `limit` bytes of the body; more gives 413 without reading the rest. A gzip or
 * deflate body is decompressed as it streams and the limit applies to the decompressed size,
 * so a gzip bomb costs at most `limit` bytes of memory before its 413.
 */
export async function readBodyLimited(request: Request, limit: number): Promise<Uint8Array> {
  const stream = request.body;
  const encoding = request.headers.get("content-encoding")?.trim().toLowerCase() || "identity";
  if (encoding !== "identity") {
    if (!DECOMPRESSED.has(encoding)) {
      throw new ApiError(415, "unsupported_encoding", `Content-Encoding ${encoding} is not supported; send gzip, deflate or none.`);
    }
    if (!stream) return new Uint8Array(0);
    try {
      return await readStreamLimited(stream.pipeThrough(new DecompressionStream(encoding as CompressionFormat)), limit);
    } catch (error) {
      if (error instanceof ApiError) throw error;
      throw new ApiError(400, "invalid_encoding", `The request body is not valid ${encoding} data.`);
    }
  }
  const declared = request.headers.get("content-length");
  if (declared !== null) {
    const length = Number(declared);
    if (Number.isFinite(length) && length > limit) throw payloadTooLarge(limit);
  }
  if (!stream) return new Uint8Array(0);
  // A declared length within the limit: the runtime will not hand us more than it.
  if (declared !== null) return new Uint8Array(await request.arrayBuffer());
  return readStreamLimited(stream, limit);
}

async function readStreamLimited(stream: ReadableStream<Uint8Array>, limit: number): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let total = 0;
  const reader = stream.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > limit) {
      reader.cancel().catch(() => {});
      throw payloadTooLarge(limit);
    }
    chunks.push(value);
  }
  return concat(chunks, total);
}

export function concat(chunks: Uint8Array[], total: number): Uint8Array {
  if (chunks.length === 1) return chunks[0]!;
  const out = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return out;
}

export function parseJsonBytes(bytes: Uint8Array): unknown {
  if (bytes.byteLength === 0) throw invalidRequest("The request body is empty; a JSON object is expected.");
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    throw new ApiError(400, "invalid_encoding", "The request body is not valid UTF-8.");
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new ApiError(400, "invalid_json", `The request body is not valid JSON: ${(error as Error).message}`);
  }
}

/** The largest body of an administration route (privacy, tenants, keys): a few fields. */
export const ADMIN_BODY_BYTES = 16 * 1024;

/**
 * An Elysia `parse` function for routes that take a JSON body of at most `limit` bytes, within
 * the shape limits of src/http/json-limits.ts (depth, keys, string lengths, no prototype keys).
 * `optional`: an empty body is no body (undefined) rather than a 400.
 * `separateItems` names a top-level array (a batch) whose items the route checks one by one
 * with `findJsonViolation`, so that a hostile item is rejected alone.
 */
export function jsonBody(limit: number, options: { separateItems?: string; optional?: boolean } = {}) {
  return async ({ request }: { request: Request }): Promise<unknown> => {
    let started = stepTimes ? performance.now() : 0;
    checkContentType(request.headers.get("content-type"));
    const reading = readBodyLimited(request, limit);
    if (stepTimes) stepTimes.add(BODY, started);
    const bytes = await reading;
    if (stepTimes) started = performance.now();
    // A route whose body is optional (all its fields have defaults) takes none.
    if (options.optional && bytes.byteLength === 0) return undefined;
    const value = parseJsonBytes(bytes);
    if (value === null || typeof value !== "object" || Array.isArray(value)) {
      throw invalidRequest("The request body must be a JSON object.");
    }
    const violation = findJsonViolation(value, options.separateItems);
    if (violation) throw invalidRequest(`The request body breaks a limit: ${violation.message} at ${violation.path}.`, [violation]);
    stepTimes?.add(BODY, started);
    return value;
  };
}

/**
 * The body is read as JSON whatever these say: real clients send JSON under each of them
 * (sendBeacon and Segment's browser library: text/plain; rudder-sdk-node's gzip and `curl -d`:
 * application/x-www-form-urlencoded; raw byte senders: application/octet-stream).
 */
const READ_AS_JSON = new Set(["", "application/json", "text/plain", "application/x-www-form-urlencoded", "application/octet-stream"]);

/** A Content-Type that names some other format (XML, a form upload, an image...) is a 415. */
export function checkContentType(header: string | null): void {
  if (header === null) return;
  const type = header.split(";")[0]!.trim().toLowerCase();
  if (READ_AS_JSON.has(type) || type.endsWith("+json")) return;
  throw unsupportedMediaType(type);
}
