/**
 * `GET /v1/events`: a tenant's stored events for pipelines that pull data out, the same shape as
 * `inlet export` (./service.ts), keyset-paginated with an opaque cursor (stable while new events
 * arrive), as JSON pages or, with `Accept: application/x-ndjson`, streamed page by page in
 * bounded memory. Needs the tenant's admin key.
 */
import { Elysia } from "elysia";
import type { keyAuth } from "../../http/auth";
import { errorResponses, invalidRequest } from "../../http/errors";
import { DEFAULT_PAGE, EventsPage, EventsQuery, MAX_PAGE } from "./model";
import { ndjsonLine, type ExportFilter, type ExportService, type Position } from "./service";

export interface ReadEventsDeps {
  /** The key-auth plugin (src/http/auth.ts): these routes take `{ adminKey: true }`. */
  auth: ReturnType<typeof keyAuth>;
  exports: ExportService;
}

/** Events per query while streaming NDJSON: one page of rows in memory at a time. */
const STREAM_PAGE = 1000;

const security: Record<string, string[]>[] = [{ bearer: [] }, { basic: [] }, { apiKey: [] }];

function time(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const ms = Date.parse(value);
  if (Number.isNaN(ms)) throw invalidRequest(`${name} must be an ISO 8601 date or time.`, [{ path: `/${name}`, message: "Expected an ISO 8601 date or time" }]);
  return ms;
}

export function readEventsController({ auth, exports }: ReadEventsDeps) {
  return new Elysia({ prefix: "/v1", tags: ["Read"] }).use(auth).get(
    "/events",
    ({ admin, query, headers }) => {
      let after: Position | undefined;
      if (query.cursor !== undefined) {
        after = exports.decodeCursor(query.cursor) ?? undefined;
        if (!after) throw invalidRequest("The cursor is not one this API gave.", [{ path: "/cursor", message: "Expected a nextCursor from a previous page" }]);
      }
      const filter: ExportFilter = {
        tenantId: admin.tenantId,
        since: time("since", query.since),
        until: time("until", query.until),
        type: query.type,
        userId: query.userId,
        anonymousId: query.anonymousId,
        after,
      };
      if ((headers.accept ?? "").includes("application/x-ndjson")) return ndjson(exports, filter, query.limit);
      return jsonPage(exports, filter, query.limit ?? DEFAULT_PAGE, query.cursor);
    },
    {
      query: EventsQuery,
      adminKey: true,
      response: { 200: EventsPage, ...errorResponses(400, 401, 403) },
      detail: {
        summary: "Read stored events",
        description: `The admin key's tenant's events, oldest first, in the shape \`inlet export\` writes. JSON pages of \`limit\` events (default ${DEFAULT_PAGE}, at most ${MAX_PAGE}); pass \`nextCursor\` as \`cursor\` for the next. The cursor is a position in the order (timestamp, then arrival), so paging neither skips nor repeats events while new ones arrive; an event that arrives later with a timestamp before the cursor is not in later pages (read a closed range with \`until\` in the past to be sure of having everything). A page may hold fewer than \`limit\` events while \`hasMore\` is true: events of transactions still committing alongside are held back until no earlier one can appear, so that paging never skips them. With \`Accept: application/x-ndjson\` the whole range (or \`limit\` events) is streamed, one event per line, in constant memory. \`userId\` and \`anonymousId\` filter within the time range (not indexed: narrow large ranges with \`since\`/\`until\`). Write keys get 403.`,
        security,
      },
    },
  );
}

async function jsonPage(exports: ExportService, filter: ExportFilter, limit: number, cursor: string | undefined): Promise<typeof EventsPage.static> {
  // One more than asked tells whether another page follows.
  const page = await exports.readEvents(filter, limit + 1);
  // Events held back (not final yet) follow too: the next page brings them.
  const hasMore = page.events.length > limit || page.heldBack;
  const events = page.events.slice(0, limit);
  const last = page.positions[events.length - 1];
  return { events, nextCursor: last ? exports.encodeCursor(last) : (cursor ?? null), hasMore } as typeof EventsPage.static;
}

function ndjson(exports: ExportService, filter: ExportFilter, limit: number | undefined): Response {
  const pages = exports.pages(filter, { pageSize: STREAM_PAGE, limit });
  const encoder = new TextEncoder();
  // pull() runs when the client has read what was sent: at most one page is in memory.
  const stream = new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        const next = await pages.next();
        if (next.done) {
          controller.close();
          return;
        }
        let text = "";
        for (const event of next.value) text += ndjsonLine(event) + "\n";
        controller.enqueue(encoder.encode(text));
      },
      async cancel() {
        await pages.return(undefined);
      },
    },
    { highWaterMark: 1 },
  );
  return new Response(stream, { headers: { "content-type": "application/x-ndjson; charset=utf-8", "cache-control": "no-store" } });
}
