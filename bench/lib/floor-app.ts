/**
 * The Elysia floor's app (bench/elysia-floor-server.ts, bench/parallel-floor-server.ts): a route
 * with Inlet's own track schema (`t`, the same compiled validation) behind a derive reading the
 * Authorization header, answering Inlet's shape; optionally Inlet's enrichment of the context
 * and a durable store (`add(row)`, settled after the COMMIT, bench/lib/floor-store.ts) before the answer. No key
 * lookup, visitors, sessions, metrics or log lines.
 */
import { Elysia } from "elysia";
import { Enricher } from "../../src/enrich";
import { callSchemas, TrackResponse } from "../../src/modules/events/model";
import { parseSettings } from "../../src/modules/tenants/settings";
import { toRow, type Row } from "./floor-store";

export function floorApp(options: { enrich: boolean; add: ((row: Row) => Promise<void>) | null; reusePort: boolean }) {
  const enricher = options.enrich ? new Enricher() : null;
  /** A new tenant's settings (the defaults). */
  const settings = parseSettings(null);
  const { add } = options;
  return new Elysia({ normalize: false, serve: { reusePort: options.reusePort } })
    .derive(({ headers }) => ({ key: headers.authorization ?? null }))
    .get("/ready", () => "ok")
    .post(
      "/v1/events/track",
      async ({ body, request, server }) => {
        const messageId = body.messageId === undefined ? "generated" : String(body.messageId);
        let context: unknown = body.context;
        if (enricher) {
          const header = (name: string) => request.headers.get(name);
          context = enricher.enrich({ context: body.context as Record<string, unknown> | undefined, peerIp: () => server?.requestIP(request)?.address ?? null, header, settings }).context;
        }
        if (add) {
          await add(toRow(body as Record<string, unknown>, Date.now(), context));
        }
        return { success: true, messageId, status: "accepted" as const };
      },
      { body: callSchemas.track, response: { 200: TrackResponse } },
    );
}
