/**
 * Entry of the script-tag bundle (dist/inlet.js): installs `window.inlet` and replays the calls the
 * snippet's stub queued before the script arrived. The stub is an array of [method, ...args].
 */
import * as api from "./index";
import type { InletOptions } from "./types";

const w = window as any,
  stub = w.inlet,
  src = (document.currentScript as HTMLScriptElement | null)?.src;

/** The default host is the origin this script was loaded from (Inlet serves it at /sdk/inlet.js). */
const inlet = {
  ...api,
  init: (o: InletOptions) => api.init({ host: src ? new URL(src).origin : "", ...o }),
};

if (!stub || !stub.init || Array.isArray(stub)) {
  w.inlet = inlet;
  if (Array.isArray(stub)) for (const [m, ...a] of stub) (inlet as any)[m]?.(...a);
}
