/**
 * Inlet browser SDK.
 *
 *   import { init, track } from "@inlet/sdk";
 *   init({ writeKey: "wk_...", host: "https://inlet.example.com" });
 *   track("Signed Up", { plan: "pro" });
 *
 * The functions below drive one shared instance; calls made before init() are kept and replayed by it.
 * createInlet() makes independent instances.
 */
import { createInlet } from "./client";
import type { Inlet, InletOptions } from "./types";

export { createInlet } from "./client";
export { VERSION } from "./version";
export type * from "./types";

let inst: Inlet | undefined;
const early: [keyof Inlet, unknown[]][] = [];

/** Start the shared instance (a second call returns the first instance). */
export function init(options: InletOptions): Inlet {
  if (!inst) {
    inst = createInlet(options);
    for (const [m, a] of early.splice(0)) (inst[m] as Function)(...a);
  }
  return inst;
}

const call =
  <K extends keyof Inlet>(m: K) =>
  (...a: Parameters<Inlet[K]>): any =>
    inst ? (inst[m] as Function)(...a) : m == "flush" ? Promise.resolve() : void early.push([m, a]);

export const track: Inlet["track"] = call("track");
export const identify: Inlet["identify"] = call("identify");
export const page: Inlet["page"] = call("page");
export const group: Inlet["group"] = call("group");
export const alias: Inlet["alias"] = call("alias");
export const reset: Inlet["reset"] = call("reset");
export const flush: Inlet["flush"] = call("flush");
export const optOut: Inlet["optOut"] = call("optOut");
export const optIn: Inlet["optIn"] = call("optIn");
export const user: () => ReturnType<Inlet["user"]> | undefined = () => inst?.user();
