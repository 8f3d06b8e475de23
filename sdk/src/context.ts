import type { Campaign, EventContext } from "./types";
import { VERSION } from "./version";

const UTM = ["source", "medium", "term", "content", "campaign"] as const;

/** UTM parameters of a query string, Segment-style (utm_campaign becomes `name`). */
export function campaign(search: string): Campaign | undefined {
  const q = new URLSearchParams(search);
  let c: Campaign | undefined;
  for (const k of UTM) {
    const v = q.get("utm_" + k);
    if (v) (c ||= {})[k == "campaign" ? "name" : k] = v;
  }
  return c;
}

/** The page part of the context (and of page() properties). The URL is taken without its #fragment. */
export function pageInfo(w: Window): EventContext["page"] {
  const l = w.location,
    d = w.document;
  return { url: l.href.split("#")[0]!, path: l.pathname, title: d.title, referrer: d.referrer, search: l.search };
}

/** Context collected for every event at the time it is made. */
export function context(w: Window): EventContext {
  const n = w.navigator,
    s = w.screen,
    c: EventContext = {
      library: { name: "inlet.js", version: VERSION },
      page: pageInfo(w),
      locale: n.language,
      userAgent: n.userAgent,
    };
  try {
    c.timezone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  } catch {}
  if (s) c.screen = { width: s.width, height: s.height, density: w.devicePixelRatio };
  const camp = campaign(w.location.search);
  if (camp) c.campaign = camp;
  return c;
}
