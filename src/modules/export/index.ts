/**
 * `GET /v1/events`: a tenant's stored events for pipelines that pull data out, the same shape as
 * `inlet export` (./service.ts), keyset-paginated with an opaque cursor (stable while new events
 * arrive), as JSON pages or, with `Accept: application/x-ndjson`, streamed page by page in
 * bounded memory. Needs the tenant's admin key.
 */
import { Elysia } from "elysia";
import type { Db } from "../../db/client";
import type { keyAuth } from "../../http/auth";
import { errorResponses, invalidRequest } from "../../http/errors";
import { DEFAULT_PAGE, EventsPage, EventsQuery, MAX_PAGE } from "./model";
import { decodeCursor, encodeCursor, ndjsonLine, readEvents, type ExportFilter, type Position } from "./service";

export interface ReadEventsDeps {
  /** The key-auth plugin (src/http/auth.ts): these routes take `{ adminKey: true }`. */
  auth: ReturnType<typeof keyAuth>;
  db: Db;
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

export function readEventsController({ auth, db }: ReadEventsDeps) {
  return new Elysia({ prefix: "/v1", tags: ["Read"] }).use(auth).get(
    "/events",
    ({ admin, query, headers }) => {
      let after: Position | undefined;
      if (query.cursor !== undefined) {
        after = decodeCursor(query.cursor) ?? undefined;
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
      if ((headers.accept ?? "").includes("application/x-ndjson")) return ndjson(db, filter, query.limit);
      const limit = query.limit ?? DEFAULT_PAGE;
      // One more than asked tells whether another page follows.
      const page = readEvents(db, filter, limit + 1);
      const hasMore = page.events.length > limit;
      const events = hasMore ? page.events.slice(0, limit) : page.events;
      const last = page.positions[events.length - 1];
      return { events, nextCursor: last ? encodeCursor(last) : (query.cursor ?? null), hasMore } as typeof EventsPage.static;
    },
    {
      query: EventsQuery,
      adminKey: true,
      response: { 200: EventsPage, ...errorResponses(400, 401, 403) },
      detail: {
        summary: "Read stored events",
        description: `The admin key's tenant's events, oldest first, in the shape \`inlet export\` writes. JSON pages of \`limit\` events (default ${DEFAULT_PAGE}, at most ${MAX_PAGE}); pass \`nextCursor\` as \`cursor\` for the next. The cursor is a position in the order (timestamp, then arrival), so paging neither skips nor repeats events while new ones arrive; an event that arrives later with a timestamp before the cursor is not in later pages (read a closed range with \`until\` in the past to be sure of having everything). With \`Accept: application/x-ndjson\` the whole range (or \`limit\` events) is streamed, one event per line, in constant memory. \`userId\` and \`anonymousId\` filter within the time range (not indexed: narrow large ranges with \`since\`/\`until\`). Write keys get 403.`,
        security,
      },
    },
  );
}

function ndjson(db: Db, filter: ExportFilter, limit: number | undefined): Response {
  let after = filter.after;
  let left = limit ?? Number.POSITIVE_INFINITY;
  const encoder = new TextEncoder();
  // pull() runs when the client has read what was sent: at most one page is in memory.
  const stream = new ReadableStream<Uint8Array>(
    {
      pull(controller) {
        const size = Math.min(STREAM_PAGE, left);
        const page = size > 0 ? readEvents(db, { ...filter, after }, size) : { events: [], positions: [] };
        if (page.events.length > 0) {
          let text = "";
          for (const event of page.events) text += ndjsonLine(event) + "\n";
          controller.enqueue(encoder.encode(text));
          left -= page.events.length;
          after = page.positions[page.positions.length - 1];
        }
        if (page.events.length < size || left <= 0 || size === 0) controller.close();
      },
    },
    { highWaterMark: 1 },
  );
  return new Response(stream, { headers: { "content-type": "application/x-ndjson; charset=utf-8", "cache-control": "no-store" } });
}
