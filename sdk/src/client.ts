import { context, pageInfo } from "./context";
import { clearIdentity, loadAnonymousId, UID } from "./identity";
import { createQueue, type Item } from "./queue";
import { backoff, retryAfter } from "./retry";
import { store } from "./store";
import type { EventType, Inlet, InletEnv, InletEvent, InletOptions, Properties } from "./types";
import { bytes, hash, uuid } from "./util";

/** Largest request body (UTF-8 bytes): under the 64 KB a beacon or keepalive fetch may carry. */
export const MAX_BODY = 60000;
/** Events larger than this are dropped when made (the server rejects events over 32 KB). */
export const MAX_EVENT = 32000;
/** localStorage key of the opt-out flag. */
export const OPT_OUT = "inlet_optout";
/** How often a visible tab refreshes its heartbeat and looks for orphaned queues (ms). */
export const TICK = 5000;

/** Split items, in order, into request bodies of at most maxBytes (UTF-8) and maxCount events. */
export function chunks(items: Item[], overhead: number, maxBytes: number, maxCount: number): Item[][] {
  const out: Item[][] = [];
  let cur: Item[] = [],
    size = overhead;
  for (const i of items) {
    if (cur.length && (size + i.s + 1 > maxBytes || cur.length >= maxCount)) {
      out.push(cur);
      cur = [];
      size = overhead;
    }
    cur.push(i);
    size += i.s + 1;
  }
  if (cur.length) out.push(cur);
  return out;
}

const ids = (items: Item[]) => new Set(items.map((i) => i.e.messageId));

export function createInlet(o: InletOptions, env: Partial<InletEnv> = {}): Inlet {
  const w = env.window || window,
    nav = w.navigator as Navigator & { globalPrivacyControl?: boolean },
    doc = w.document,
    now = env.now || Date.now,
    random = env.random || Math.random,
    post = env.fetch || ((u: string, i: RequestInit) => fetch(u, i)),
    later = env.setTimeout || ((f: () => void, ms: number) => setTimeout(f, ms)),
    cancel = env.clearTimeout || clearTimeout,
    s = store(w),
    writeKey = o.writeKey,
    url = (o.host || "").replace(/\/+$/, "") + "/v1/events/batch",
    flushAt = o.flushAt || 20,
    interval = o.flushInterval ?? 1000,
    batchSize = Math.min(o.batchSize || 100, 2500),
    maxRetries = o.maxRetries || 10,
    domain = o.cookieDomain,
    log = (...a: unknown[]) => o.debug && console.warn("[inlet]", ...a),
    q = createQueue({
      store: s,
      prefix: "inlet." + hash(writeKey) + ".",
      tab: env.tabId || uuid(),
      maxEvents: o.maxQueueEvents || 1000,
      maxBytes: o.maxQueueBytes || 500000,
      now,
      later,
      dropped: (n) => log("queue full, dropped the", n, "oldest events"),
      adopted: () => kick(),
    });

  let aid: string | undefined,
    uid = s.get(UID) || undefined,
    timer: any,
    running: Promise<void> | undefined,
    failures = 0,
    hold = 0, // no send before this time (backoff or Retry-After)
    serverHold = 0, // the same after a 429 or 503 (the server asked us to wait): beacons wait too
    limit = batchSize; // events per request, halved on 413 for the rest of this flush

  const off = () =>
    s.get(OPT_OUT) == "1" || (!!o.respectDoNotTrack && (nav.globalPrivacyControl === true || nav.doNotTrack == "1" || (w as any).doNotTrack == "1"));
  const online = () => nav.onLine !== false;
  const visible = () => doc.visibilityState != "hidden";
  const anon = () => (aid ||= loadAnonymousId(s, domain));
  const body = (items: Item[]) => JSON.stringify({ batch: items.map((i) => i.e), sentAt: new Date(now()).toISOString(), writeKey });
  const overhead = bytes(body([]));
  const flying = new Set<string>();
  const pending = () => q.items.filter((i) => !flying.has(i.e.messageId));

  function schedule(ms: number): void {
    cancel(timer);
    timer = later(() => {
      timer = 0;
      flush();
    }, ms);
  }

  /** After a change: send now when a batch is full, else within flushInterval. */
  function kick(): void {
    const p = pending();
    let size = overhead;
    for (const i of p) size += i.s + 1;
    if (!p.length) return;
    if (!running && now() >= hold && (p.length >= flushAt || size >= MAX_BODY)) flush();
    else if (!timer) schedule(interval);
  }

  /** Send one batch. True when the loop should go on (sent, or dropped for good). */
  async function step(): Promise<boolean> {
    if (off() || !online() || now() < hold) return false;
    q.save(); // heartbeat; also erases any claim by a tab that thought we were gone
    const batch = chunks(pending(), overhead, MAX_BODY, limit)[0];
    if (!batch) return false;
    cancel(timer);
    timer = 0;
    const sent = ids(batch);
    for (const id of sent) flying.add(id);
    let res: Response | undefined;
    try {
      res = await post(url, {
        method: "POST",
        body: body(batch),
        headers: { "Content-Type": "text/plain" }, // a "simple" request: no CORS preflight
        keepalive: true,
        credentials: "omit",
      });
    } catch (e) {
      log("network error", e);
    }
    for (const id of sent) flying.delete(id);
    const st = res ? res.status : 0;
    if (st >= 200 && st < 300) {
      failures = 0;
      if (o.debug)
        try {
          for (const r of (await res!.json()).results || []) if (r.status == "rejected") log("rejected", r.messageId, r.errors);
        } catch {}
      q.remove(sent);
      return true;
    }
    if (st == 413 && batch.length > 1) {
      limit = Math.ceil(batch.length / 2);
      return true;
    }
    if (st && st < 500 && st != 429) {
      log("dropped", batch.length, "events: HTTP", st);
      q.remove(sent);
      return true;
    }
    if (st >= 500 && st != 503) {
      const n = q.fail(sent, maxRetries);
      if (n) log("dropped", n, "events after", maxRetries, "server errors");
    }
    const ra = retryAfter(res && res.headers.get("Retry-After"), now());
    const ms = ra ?? backoff(++failures, o.retryBase || 1000, o.retryCap || 60000, random);
    hold = now() + ms;
    // The server said it is overloaded: beacons wait too. (Cross-origin, Retry-After is readable only
    // if the server lists it in Access-Control-Expose-Headers; the backoff stands in otherwise.)
    if (st == 429 || st == 503) serverHold = hold;
    schedule(ms);
    return false;
  }

  function flush(): Promise<void> {
    return (running ||= (async () => {
      try {
        while (await step());
      } finally {
        running = undefined;
        limit = batchSize;
      }
    })());
  }

  /** The page is hidden or going away: hand what waits to sendBeacon, in bodies under 64 KB, and release the rest. */
  function hide(): void {
    if (off()) return;
    q.sync();
    if (online() && now() >= serverHold && nav.sendBeacon)
      for (const c of chunks(pending(), overhead, MAX_BODY, 2500)) {
        // The browser owns a beacon once it accepts it; one it refuses (over its quota) stays queued.
        if (!nav.sendBeacon(url, body(c))) break;
        q.remove(ids(c));
      }
    q.release();
  }

  function wake(): void {
    if (!visible()) return;
    q.save();
    q.adopt();
    kick();
  }

  function tick(): void {
    wake();
    later(tick, TICK);
  }

  function make(type: EventType, fields: Partial<InletEvent>): void {
    if (off()) return;
    const e = {
      type,
      messageId: uuid(),
      timestamp: new Date(now()).toISOString(),
      anonymousId: anon(),
      ...fields,
      context: context(w),
    } as InletEvent;
    if (!e.userId && uid) e.userId = uid;
    if (type == "alias" && !e.previousId) e.previousId = uid || e.anonymousId;
    const size = bytes(JSON.stringify(e));
    if (size > MAX_EVENT) return void log("dropped an event over 32 KB", e);
    q.add(e, size);
    kick();
  }

  w.addEventListener("online", () => {
    failures = 0;
    hold = serverHold;
    flush();
  });
  w.addEventListener("pagehide", hide);
  w.addEventListener("pageshow", wake);
  doc.addEventListener("visibilitychange", () => (visible() ? wake() : hide()));
  tick();

  return {
    track: (event, properties) => make("track", { event, properties }),
    identify(userId, traits) {
      if (typeof userId == "object") (traits = userId), (userId = undefined);
      if (userId != null && !off()) s.set(UID, (uid = "" + userId));
      make("identify", { traits });
    },
    page(name, properties) {
      if (typeof name == "object") (properties = name), (name = undefined);
      make("page", { name, properties: { ...pageInfo(w), ...(name != null && { name }), ...properties } });
    },
    group: (groupId, traits) => make("group", { groupId, traits }),
    alias: (userId, previousId) => make("alias", { userId, previousId }),
    reset() {
      uid = aid = undefined;
      clearIdentity(s, domain);
    },
    flush,
    optOut() {
      s.set(OPT_OUT, "1");
      q.clearAll();
      uid = aid = undefined;
      clearIdentity(s, domain);
    },
    optIn() {
      s.del(OPT_OUT);
    },
    user: () => ({ anonymousId: off() ? undefined : anon(), userId: uid }),
  };
}

export type { Properties };
