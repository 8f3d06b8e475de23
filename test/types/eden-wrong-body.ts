/**
 * Compile-time proof that the `App` type checks request bodies: `tsc` (bun run typecheck, in CI)
 * fails if any of these wrong calls is ever accepted, because each `@ts-expect-error` then has
 * no error to expect. Never run; only type-checked.
 */
import type { treaty } from "@elysiajs/eden";
import type { App } from "../../src/app";

export function wrongBodies(api: ReturnType<typeof treaty<App>>) {
  // @ts-expect-error `event` is a string, not a number
  void api.v1.events.track.post({ event: 42, anonymousId: "a" });
  // @ts-expect-error a track call needs its `event`
  void api.v1.events.track.post({ anonymousId: "a" });
  // @ts-expect-error a batch is `{ batch: [...] }`, not an array
  void api.v1.events.batch.post([{ type: "track", event: "E" }]);
  // @ts-expect-error there is no such route
  void api.v1.events.trak.post({ event: "E", anonymousId: "a" });
}
