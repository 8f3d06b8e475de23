/**
 * The live debugger: `GET /debugger` (a page served by Inlet itself, ./page.ts and app/debugger.ts)
 * and its feed `GET /v1/debugger/stream`, Server-Sent Events of the admin key's tenant's calls
 * (the last 500 first, then each as it is answered) from the ring in ./service.ts.
 */
import { Elysia, t } from "elysia";
import type { keyAuth } from "../../http/auth";
import { ApiError, errorResponses } from "../../http/errors";
import { htmlHeaders, NOSNIFF } from "../../http/html-page";
import { staticAsset } from "../../http/static-asset";
import { StoredEvent } from "../export/model";
import type { ExportService } from "../export/service";
import { buildPageScript, fromSource } from "./bundle";
import { PAGE_CSS, PAGE_HTML } from "./page";
import type { DebuggerEntry, DebuggerService } from "./service";

export interface DebuggerDeps {
  /** The key-auth plugin (src/http/auth.ts): these routes take `{ adminKey: true }`. */
  auth: ReturnType<typeof keyAuth>;
  exports: ExportService;
  debugger: DebuggerService;
}

/** Chunks a stream may queue for a client that reads slowly; past it, calls are skipped for that client. */
const STREAM_QUEUE = 1000;
/** A comment line this often keeps proxies from closing a quiet stream. */
const HEARTBEAT_MS = 15_000;
/** How long calls gather before they are written to a stream together. */
const FLUSH_MS = 50;
/** Rejection counts are sent at most this often (after a rejection). */
const COUNTS_EVERY_MS = 250;

// The page's own script and style only; never framed, never sniffed (src/http/html-page.ts).
const PAGE_HEADERS = { ...htmlHeaders(), "cache-control": "no-cache" };

// From source the script is bundled from app/debugger.ts on first request; the executable
// embeds the bundle `bun run build` made (a dynamic import, so that a checkout without one runs).
const scriptPath = async (): Promise<string> =>
  fromSource() ? buildPageScript() : (await import("../../../dist/debugger/debugger.js", { with: { type: "file" } })).default;

const security: Record<string, string[]>[] = [{ bearer: [] }, { basic: [] }, { apiKey: [] }];

export function debuggerController({ auth, exports, debugger: debug }: DebuggerDeps) {
  const page = new Elysia({ name: "debugger-page" })
    .get("/debugger", () => new Response(PAGE_HTML, { headers: PAGE_HEADERS }), { detail: { hide: true } })
    .get(
      "/debugger/debugger.css",
      () => new Response(PAGE_CSS, { headers: { "content-type": "text/css; charset=utf-8", "cache-control": "no-cache", ...NOSNIFF } }),
      {
        detail: { hide: true },
      },
    )
    .get(
      "/debugger/debugger.js",
      staticAsset(scriptPath, {
        contentType: "application/javascript; charset=utf-8",
        cacheControl: "no-cache",
        missing: "The debugger page's script is not built into this server.",
      }),
      { detail: { hide: true } },
    );

  const api = new Elysia({ prefix: "/v1/debugger", tags: ["Debugger"] })
    .use(auth)
    .get(
      "/stream",
      ({ admin, request, server }) => {
        // A stream lasts as long as the page is open: no idle timeout for it.
        server?.timeout(request, 0);
        return stream(debug, admin.tenantId, request.signal);
      },
      {
        adminKey: true,
        response: { 200: t.String({ description: "text/event-stream" }), ...errorResponses(401, 403) },
        detail: {
          summary: "Live calls (Server-Sent Events)",
          description:
            "The admin key's tenant's calls as Server-Sent Events: first the last 500 (oldest first), then each call as it is answered. `event: call` carries one call (see the DebuggerEntry schema): accepted, duplicate, rejected (with every error path and message and the payload as received, truncated), dropped, rate-limited; `event: rejections` carries `{reasons: [{reason, count}]}`, the rejections of the last 24 hours by reason. Memory is bounded: 500 calls per tenant, payloads cut at 2,048 characters, context.ip shown as the tenant's IP policy stores it. Browsers cannot set headers on EventSource: read it with fetch() (as /debugger does). Write keys get 403.",
          security,
        },
      },
    )
    .get(
      "/events/:messageId",
      async ({ admin, params }) => {
        const event = await exports.findEvent(admin.tenantId, params.messageId);
        if (!event) throw new ApiError(404, "not_found", "No stored event with this messageId in this tenant.");
        return event as typeof StoredEvent.static;
      },
      {
        params: t.Object({ messageId: t.String({ minLength: 1, maxLength: 255 }) }),
        adminKey: true,
        response: { 200: StoredEvent, ...errorResponses(401, 403, 404) },
        detail: {
          summary: "One stored event",
          description: "The stored (enriched) event with this messageId, as `inlet export` writes it. Admin key.",
          security,
        },
      },
    );
  return new Elysia().use(page).use(api);
}

function stream(debug: DebuggerService, tenantId: string, signal: AbortSignal): Response {
  const encoder = new TextEncoder();
  let stop = () => {};
  const body = new ReadableStream<Uint8Array>(
    {
      start(controller) {
        let closed = false;
        // Calls are written together every FLUSH_MS, not one write each: at thousands of calls a
        // second, a write per call costs the server more than the call's own recording.
        let pending: string[] = [];
        let flushDue: ReturnType<typeof setTimeout> | null = null;
        const flush = () => {
          flushDue = null;
          const text = pending.join("");
          pending = [];
          // A client that does not read: what does not fit its queue is skipped, memory stays bounded.
          if (!closed && text && (controller.desiredSize ?? 1) > 0) controller.enqueue(encoder.encode(text));
        };
        const send = (text: string) => {
          if (closed || pending.length >= STREAM_QUEUE) return;
          pending.push(text);
          flushDue ??= setTimeout(flush, FLUSH_MS);
        };
        const sendCall = (entry: DebuggerEntry) => send(`id: ${entry.seq}\nevent: call\ndata: ${JSON.stringify(entry)}\n\n`);
        const sendCounts = () => send(`event: rejections\ndata: ${JSON.stringify({ reasons: debug.rejections(tenantId) })}\n\n`);
        let countsDue: ReturnType<typeof setTimeout> | null = null;
        send("retry: 2000\n\n");
        for (const entry of debug.recent(tenantId)) sendCall(entry);
        sendCounts();
        const unsubscribe = debug.subscribe(tenantId, (entry) => {
          sendCall(entry);
          if ((entry.status === "rejected" || entry.status === "rate-limited") && !countsDue) {
            countsDue = setTimeout(() => {
              countsDue = null;
              sendCounts();
            }, COUNTS_EVERY_MS);
          }
        });
        const heartbeat = setInterval(() => send(": keep-alive\n\n"), HEARTBEAT_MS);
        stop = () => {
          if (closed) return;
          closed = true;
          unsubscribe();
          clearInterval(heartbeat);
          if (countsDue) clearTimeout(countsDue);
          if (flushDue) clearTimeout(flushDue);
        };
        signal.addEventListener("abort", () => {
          stop();
          try {
            controller.close();
          } catch {
            // already closed
          }
        });
      },
      cancel: () => stop(),
    },
    { highWaterMark: STREAM_QUEUE },
  );
  return new Response(body, { headers: { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-store", "x-accel-buffering": "no" } });
}
