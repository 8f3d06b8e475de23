/**
 * Test harness for the SDK: a happy-dom Window per test (no globals touched, so the server's tests in
 * the same `bun test` run are unaffected), an injected clock and timers, and a scripted fake fetch.
 */
import { Window } from "happy-dom";
import { createInlet } from "../src/client";
import { store } from "../src/store";
import type { InletEnv, InletEvent, InletOptions } from "../src/types";

export const T0 = Date.parse("2026-03-01T10:00:00.000Z");
export const URL0 = "https://shop.example/pricing?utm_source=Newsletter&utm_medium=email&utm_campaign=spring&utm_term=shoes&utm_content=hero";

export interface Sent {
  /** the tab (tabId) that sent it */
  from?: string;
  url: string;
  init: RequestInit;
  body: { batch: InletEvent[]; sentAt: string; writeKey: string };
  bytes: number;
  at: number;
}

/** What the fake server answers: a status (and headers), or "network" for a failed fetch. */
export type Reply = number | "network" | { status: number; headers?: Record<string, string>; body?: (batch: InletEvent[]) => unknown };

/** A fake clock with timers: advance() runs due timers in time order. */
export class Clock {
  t = T0;
  private seq = 0;
  timers = new Map<number, { at: number; fn: () => void }>();
  now = () => this.t;
  setTimeout = (fn: () => void, ms: number) => {
    const id = ++this.seq;
    this.timers.set(id, { at: this.t + Math.max(0, ms), fn });
    return id;
  };
  clearTimeout = (id: number) => void this.timers.delete(id);
  /** Move time forward by ms, running every timer that falls due, then let promises settle. */
  async advance(ms: number) {
    const end = this.t + ms;
    for (;;) {
      await settle();
      let next: [number, { at: number; fn: () => void }] | undefined;
      for (const e of this.timers) if (e[1].at <= end && (!next || e[1].at < next[1].at)) next = e;
      if (!next) break;
      this.timers.delete(next[0]);
      this.t = next[1].at;
      next[1].fn();
    }
    this.t = end;
    await settle();
  }
}

/** Let pending promise chains (fake fetch answers, async steps) run. */
export async function settle() {
  for (let i = 0; i < 5; i++) await new Promise<void>((r) => setImmediate(r));
}

/** A fake Inlet server: records each request, answers from a script (default 200, all accepted). */
export class FakeServer {
  requests: Sent[] = [];
  replies: Reply[] = [];
  constructor(private clock: Clock) {}
  fetch = async (url: string, init: RequestInit, from?: string): Promise<Response> => {
    const text = init.body as string;
    const body = JSON.parse(text);
    this.requests.push({ from, url, init, body, bytes: new TextEncoder().encode(text).length, at: this.clock.t });
    const r = this.replies.shift() ?? 200;
    if (r == "network") throw new TypeError("Failed to fetch");
    const { status, headers, body: out } = typeof r == "number" ? { status: r, headers: {}, body: undefined } : r;
    const json = out
      ? out(body.batch)
      : status == 200
        ? { success: true, results: body.batch.map((e: InletEvent) => ({ messageId: e.messageId, status: "accepted" })) }
        : { error: { code: "x", message: "x", details: [] }, requestId: "r" };
    return new Response(JSON.stringify(json), { status, headers });
  };
  /** Every event received, in order. */
  get events(): InletEvent[] {
    return this.requests.flatMap((r) => r.body.batch);
  }
}

const opened: Window[] = [];
/** Close every window opened by newWindow (call in afterEach). */
export async function closeWindows() {
  for (const w of opened.splice(0)) await w.happyDOM.close();
}

export function newWindow(url = URL0): Window {
  const w = new Window({ url, width: 1280, height: 800 });
  opened.push(w);
  w.document.title = "Pricing";
  return w;
}

/** Make window B share window A's localStorage (two tabs of one origin). */
export function shareStorage(a: Window, b: Window) {
  Object.defineProperty(b, "localStorage", { value: a.localStorage, configurable: true });
}

/** Record every write to document.cookie (happy-dom hides the attributes on read). */
export function spyCookies(w: Window): string[] {
  const writes: string[] = [];
  let proto: any = w.document;
  let desc: PropertyDescriptor | undefined;
  while (proto && !(desc = Object.getOwnPropertyDescriptor(proto, "cookie"))) proto = Object.getPrototypeOf(proto);
  Object.defineProperty(w.document, "cookie", {
    configurable: true,
    get: () => desc!.get!.call(w.document),
    set: (v: string) => {
      writes.push(v);
      desc!.set!.call(w.document, v);
    },
  });
  return writes;
}

/** Disable cookies in a window: reads give "", writes are ignored. */
export function blockCookies(w: Window) {
  Object.defineProperty(w.document, "cookie", { configurable: true, get: () => "", set: () => {} });
}

export function setNavigator(w: Window, props: Record<string, unknown>) {
  for (const [k, v] of Object.entries(props)) Object.defineProperty(w.navigator, k, { value: v, configurable: true });
}

export interface Tab {
  window: Window;
  clock: Clock;
  server: FakeServer;
  inlet: ReturnType<typeof createInlet>;
  env: Partial<InletEnv>;
  /** The page is gone: its timers stop. */
  close(): void;
}

/** One page with an SDK instance. Pass `share` to put it in the same origin storage (and clock/server) as another tab. */
export function tab(
  options: Partial<InletOptions> = {},
  from?: { window?: Window; clock?: Clock; server?: FakeServer; share?: Tab; tabId?: string; random?: () => number },
): Tab {
  const window = from?.window ?? newWindow();
  if (from?.share) shareStorage(from.share.window, window);
  const clock = from?.clock ?? from?.share?.clock ?? new Clock();
  const server = from?.server ?? from?.share?.server ?? new FakeServer(clock);
  let alive = true;
  const env: Partial<InletEnv> = {
    window: window as unknown as globalThis.Window,
    now: clock.now,
    random: from?.random ?? (() => 0.5),
    // a closed page's timers never fire
    setTimeout: (fn, ms) => clock.setTimeout(() => alive && fn(), ms),
    clearTimeout: clock.clearTimeout,
    fetch: (u, i) => server.fetch(u, i, from?.tabId),
    tabId: from?.tabId,
  };
  const inlet = createInlet({ writeKey: "wk_test", host: "https://inlet.example", ...options }, env);
  return { window, clock, server, inlet, env, close: () => void (alive = false) };
}

/** The queue records of a window's localStorage: key -> parsed record. */
export function queues(w: Window): Record<string, { h: number; r?: 1; c?: string; q: { e: InletEvent }[] }> {
  const out: Record<string, any> = {};
  const s = store(w as unknown as globalThis.Window);
  for (const k of s.keys()) if (k.startsWith("inlet.") && k.includes(".", 6)) out[k] = JSON.parse(s.get(k)!);
  return out;
}

export function queuedIds(w: Window): string[] {
  return Object.values(queues(w)).flatMap((r) => r.q.map((i) => i.e.messageId));
}

export function fire(w: Window, type: string, target: "window" | "document" = "window") {
  (target == "window" ? w : w.document).dispatchEvent(new w.Event(type));
}

export function hidePage(w: Window) {
  Object.defineProperty(w.document, "visibilityState", { value: "hidden", configurable: true });
  fire(w, "visibilitychange", "document");
}
