/**
 * Serves a file shipped inside the executable (imported `with { type: "file" }`, so `bun build
 * --compile` embeds it): read once on first request, then answered from memory with an ETag so
 * browsers revalidate with a 304 instead of downloading it again.
 */
import { ApiError } from "./errors";
import { NOSNIFF } from "./html-page";

export interface StaticAssetOptions {
  contentType: string;
  cacheControl: string;
  /** Said in the 404 when the file is not there (e.g. the SDK was never built in a source checkout). */
  missing: string;
}

interface Loaded {
  body: ArrayBuffer;
  etag: string;
}

/** `path` resolves to the file's location: on disk when run from source, in the executable when compiled. */
export function staticAsset(path: () => Promise<string>, options: StaticAssetOptions) {
  let loaded: Promise<Loaded> | null = null;
  const load = async (): Promise<Loaded> => {
    const body = await Bun.file(await path()).arrayBuffer();
    return { body, etag: `"${Bun.hash(body).toString(36)}"` };
  };
  return async ({ request }: { request: Request }): Promise<Response> => {
    let asset: Loaded;
    try {
      asset = await (loaded ??= load());
    } catch {
      loaded = null; // it may appear later (e.g. built while the server runs from source)
      throw new ApiError(404, "not_found", options.missing);
    }
    const headers = { "content-type": options.contentType, "cache-control": options.cacheControl, etag: asset.etag, ...NOSNIFF };
    if (request.headers.get("if-none-match") === asset.etag) return new Response(null, { status: 304, headers });
    return new Response(asset.body, { headers });
  };
}
