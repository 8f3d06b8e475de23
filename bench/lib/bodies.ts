/**
 * Realistic request bodies for the load generator, generated from a fixed seed (the same bodies
 * every run). Written as data files that bench/wrk/post.lua reads: one template per line,
 * `<User-Agent>\t<JSON body>`, where the Lua script replaces `{{MID}}` with a unique messageId
 * and `{{NEW}}` with a fresh id on every request.
 *
 * The mix: 20,000 visitors (about 20% logged in), each with one of ~300 real-looking user agents
 * (Zipf-distributed, as real traffic is) and one of ~300 public-looking IP addresses; page URLs
 * with UTM parameters and click ids on about a third; a handful of e-commerce/content events
 * with properties of realistic size.
 */

export const MID = "{{MID}}";
export const NEW = "{{NEW}}";

/** mulberry32: small, fast, seeded. */
export function rng(seed: number): () => number {
  let s = seed | 0;
  return () => {
    s = (s + 0x6d2b79f5) | 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Rand = () => number;
const pick = <T>(r: Rand, list: readonly T[]): T => list[Math.floor(r() * list.length)]!;
const int = (r: Rand, min: number, max: number) => min + Math.floor(r() * (max - min + 1));

/** Picks index i of n with probability ∝ 1/(i+1)^s: a few values dominate, the tail is long. */
export function zipf(n: number, s = 1): (r: Rand) => number {
  const cumulative: number[] = [];
  let total = 0;
  for (let i = 0; i < n; i++) cumulative.push((total += 1 / Math.pow(i + 1, s)));
  return (r) => {
    const x = r() * total;
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cumulative[mid]! < x) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
}

function uuid(r: Rand): string {
  const hex = (n: number) => Array.from({ length: n }, () => Math.floor(r() * 16).toString(16)).join("");
  return `${hex(8)}-${hex(4)}-4${hex(3)}-${"89ab"[int(r, 0, 3)]}${hex(3)}-${hex(12)}`;
}

/** Distinct user agents from a table of browsers, versions and operating systems. */
export function userAgents(count = 300, seed = 1): string[] {
  const webkit = "AppleWebKit/537.36 (KHTML, like Gecko)";
  const desktops = ["Windows NT 10.0; Win64; x64", "Macintosh; Intel Mac OS X 10_15_7", "X11; Linux x86_64"];
  const androids = [
    "Android 14; SM-S921B",
    "Android 14; Pixel 8",
    "Android 13; SM-A536B",
    "Android 13; Pixel 7",
    "Android 12; M2101K20AG",
    "Android 14; CPH2581",
    "Android 10; K",
  ];
  const ios = ["15_8", "16_6", "16_7_8", "17_4_1", "17_5", "17_6_1", "18_0", "18_1", "18_2"];
  const all = new Set<string>();
  for (let v = 112; v <= 131; v++) {
    for (const os of desktops) {
      all.add(`Mozilla/5.0 (${os}) ${webkit} Chrome/${v}.0.0.0 Safari/537.36`);
      if (!os.startsWith("X11")) all.add(`Mozilla/5.0 (${os}) ${webkit} Chrome/${v}.0.0.0 Safari/537.36 Edg/${v}.0.${2000 + v * 3}.${(v % 7) * 11}`);
    }
    for (const device of androids) all.add(`Mozilla/5.0 (Linux; ${device}) ${webkit} Chrome/${v}.0.0.0 Mobile Safari/537.36`);
    if (v % 2 === 0) all.add(`Mozilla/5.0 (Windows NT 10.0; Win64; x64) ${webkit} Chrome/${v}.0.0.0 Safari/537.36 OPR/${v - 14}.0.0.0`);
  }
  for (let v = 115; v <= 133; v++) {
    all.add(`Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:${v}.0) Gecko/20100101 Firefox/${v}.0`);
    all.add(`Mozilla/5.0 (Macintosh; Intel Mac OS X 10.15; rv:${v}.0) Gecko/20100101 Firefox/${v}.0`);
    all.add(`Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:${v}.0) Gecko/20100101 Firefox/${v}.0`);
    all.add(`Mozilla/5.0 (Android 14; Mobile; rv:${v}.0) Gecko/${v}.0 Firefox/${v}.0`);
  }
  for (const v of ios) {
    const safari = v.split("_").slice(0, 2).join(".");
    all.add(`Mozilla/5.0 (iPhone; CPU iPhone OS ${v} like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/${safari} Mobile/15E148 Safari/604.1`);
    all.add(`Mozilla/5.0 (iPad; CPU OS ${v} like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/${safari} Mobile/15E148 Safari/604.1`);
    all.add(`Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/${safari} Safari/605.1.15`);
    all.add(`Mozilla/5.0 (iPhone; CPU iPhone OS ${v} like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/126.0.6478.54 Mobile/15E148 Safari/604.1`);
    all.add(
      `Mozilla/5.0 (iPhone; CPU iPhone OS ${v} like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 Instagram 344.0.0.34.86 (iPhone14,5; iOS ${v}; en_US; en; scale=3.00; 1170x2532)`,
    );
  }
  for (const v of ["23.0", "24.0", "25.0", "26.0"]) {
    for (const device of androids.slice(0, 3))
      all.add(`Mozilla/5.0 (Linux; ${device}) ${webkit} SamsungBrowser/${v} Chrome/${115 + Number.parseInt(v)}.0.0.0 Mobile Safari/537.36`);
  }
  // Shuffle (seeded) so the most frequent user agents are a mix of browsers, then cut.
  const list = [...all];
  const r = rng(seed);
  for (let i = list.length - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [list[i], list[j]] = [list[j]!, list[i]!];
  }
  if (list.length < count) throw new Error(`only ${list.length} user agents in the table`);
  return list.slice(0, count);
}

/** Public-looking addresses: real-world ISP prefixes across continents, documentation ranges, some IPv6. */
export function ipAddresses(count = 300, seed = 2): string[] {
  const v4 = [
    "24.5",
    "73.162",
    "98.207",
    "108.28",
    "174.63",
    "216.160.83",
    "81.2.69",
    "89.160.20",
    "86.134",
    "90.12",
    "92.184",
    "2.220",
    "31.16",
    "37.120",
    "46.114",
    "62.210",
    "77.88",
    "78.46",
    "79.140",
    "80.215",
    "82.165",
    "84.17",
    "85.214",
    "87.120",
    "88.198",
    "91.65",
    "93.184",
    "94.130",
    "95.91",
    "5.9",
    "41.203",
    "102.89",
    "105.112",
    "101.53",
    "110.33",
    "112.134",
    "114.119",
    "118.99",
    "121.200",
    "122.161",
    "124.122",
    "125.212",
    "49.36",
    "58.182",
    "59.89",
    "60.241",
    "61.245",
    "175.45",
    "177.72",
    "179.125",
    "181.44",
    "186.10",
    "187.62",
    "189.4",
    "190.210",
    "191.96",
    "200.152",
    "201.17",
    "192.0.2",
    "198.51.100",
    "203.0.113",
  ];
  const v6 = ["2001:db8", "2a01:cb00", "2600:1700", "2a02:8070", "2001:218", "2406:da14", "2803:9800", "2c0f:f8f0"];
  const r = rng(seed);
  const out = new Set<string>();
  while (out.size < count) {
    if (r() < 0.1) {
      const p = pick(r, v6);
      out.add(`${p}:${int(r, 1, 0xffff).toString(16)}:${int(r, 1, 0xffff).toString(16)}::${int(r, 1, 0xffff).toString(16)}`);
    } else {
      const p = pick(r, v4);
      const parts = p.split(".").length;
      const rest = Array.from({ length: 4 - parts }, (_, i) => int(r, i === 3 - parts ? 1 : 0, 254));
      out.add([p, ...rest].join("."));
    }
  }
  return [...out];
}

const SITE = "https://shop.example.com";
const UTMS = [
  { source: "google", medium: "cpc", click: "gclid" },
  { source: "facebook", medium: "paid_social", click: "fbclid" },
  { source: "newsletter", medium: "email" },
  { source: "linkedin", medium: "social" },
  { source: "bing", medium: "cpc", click: "msclkid" },
  { source: "instagram", medium: "social" },
  { source: "partner-blog", medium: "referral" },
];
const CAMPAIGNS = ["winter_sale_2026", "spring_launch", "retargeting_q4", "weekly_digest_48", "brand_search", "free_shipping"];
const REFERRERS = [
  "https://www.google.com/",
  "https://www.bing.com/",
  "https://duckduckgo.com/",
  "https://l.facebook.com/",
  "https://t.co/",
  "https://www.linkedin.com/",
  "https://news.ycombinator.com/",
  "https://www.reddit.com/",
];
const PRODUCTS = [
  ["Merino Wool Sweater", "Apparel", 89.5],
  ["Trail Running Shoes", "Footwear", 129],
  ["Insulated Water Bottle", "Accessories", 24.99],
  ["Rain Shell Jacket", "Apparel", 179],
  ["Canvas Weekender Bag", "Bags", 95],
  ["Organic Cotton Tee", "Apparel", 29],
  ["Leather Belt", "Accessories", 45],
  ["Down Vest", "Apparel", 149],
  ["Wool Socks (3 pack)", "Accessories", 19.5],
] as const;
const ARTICLES = ["how-to-layer-for-winter-hikes", "choosing-trail-shoes", "care-guide-merino", "packing-list-weekend-trip", "our-sustainability-report-2026"];
const LOCALES = ["en-US", "en-GB", "de-DE", "fr-FR", "es-ES", "pt-BR", "ja-JP", "nl-NL", "it-IT", "en-AU"];

function pageUrl(r: Rand, path: string): string {
  if (r() >= 0.35) return SITE + path;
  const u = pick(r, UTMS);
  let q = `utm_source=${u.source}&utm_medium=${u.medium}&utm_campaign=${pick(r, CAMPAIGNS)}`;
  if (r() < 0.3) q += `&utm_content=${pick(r, ["hero", "banner_a", "banner_b", "footer"])}`;
  if (u.click) q += `&${u.click}=${uuid(r).replaceAll("-", "").slice(0, 22)}`;
  return `${SITE}${path}?${q}`;
}

function trackEvent(r: Rand): { event: string; path: string; properties: Record<string, unknown> } {
  const [name, category, price] = pick(r, PRODUCTS);
  const sku = `SKU-${int(r, 10000, 99999)}`;
  const slug = name
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/-$/, "");
  switch (int(r, 0, 7)) {
    case 0:
      return {
        event: "Product Viewed",
        path: `/products/${slug}`,
        properties: { product_id: sku, name, category, price, currency: "EUR", position: int(r, 1, 24) },
      };
    case 1:
      return {
        event: "Product Added",
        path: `/products/${slug}`,
        properties: { cart_id: uuid(r), product_id: sku, name, price, quantity: int(r, 1, 3), currency: "EUR" },
      };
    case 2:
      return {
        event: "Checkout Started",
        path: "/checkout",
        properties: { order_id: `ORD-${int(r, 100000, 999999)}`, value: price * 2, currency: "EUR", products: 2 },
      };
    case 3: {
      const revenue = Math.round(price * int(r, 1, 3) * 100) / 100;
      return {
        event: "Order Completed",
        path: "/checkout/thank-you",
        properties: {
          order_id: `ORD-${int(r, 100000, 999999)}`,
          total: revenue + 4.9,
          revenue,
          shipping: 4.9,
          tax: Math.round(revenue * 19) / 100,
          currency: "EUR",
          coupon: r() < 0.3 ? "WINTER10" : null,
        },
      };
    }
    case 4:
      return {
        event: "Signed Up",
        path: "/signup",
        properties: { method: pick(r, ["email", "google", "apple"]), plan: pick(r, ["free", "plus"]), newsletter: r() < 0.5 },
      };
    case 5: {
      const article = pick(r, ARTICLES);
      return {
        event: "Article Read",
        path: `/blog/${article}`,
        properties: { slug: article, author: pick(r, ["Ana Ruiz", "Tom Becker", "Mei Chen"]), read_seconds: int(r, 20, 600), scroll_depth: int(r, 10, 100) },
      };
    }
    case 6:
      return {
        event: "Search Performed",
        path: "/search",
        properties: { query: pick(r, ["rain jacket", "wool socks", "trail shoes women", "gift card", "down vest men"]), results: int(r, 0, 120) },
      };
    default:
      return {
        event: "Button Clicked",
        path: pick(r, ["/", "/pricing", "/about", "/stores"]),
        properties: { label: pick(r, ["Subscribe", "Find a store", "Chat with us", "See all"]), location: pick(r, ["header", "hero", "footer"]) },
      };
  }
}

export interface Visitor {
  anonymousId: string;
  userId?: string;
  ua: string;
  ip: string;
  locale: string;
}

export function visitors(count = 20_000, seed = 3): Visitor[] {
  const uas = userAgents();
  const ips = ipAddresses();
  const uaRank = zipf(uas.length, 1);
  const ipRank = zipf(ips.length, 0.6);
  const r = rng(seed);
  return Array.from({ length: count }, (_, i) => ({
    anonymousId: uuid(r),
    userId: r() < 0.2 ? `usr_${100000 + i}` : undefined,
    ua: uas[uaRank(r)]!,
    ip: ips[ipRank(r)]!,
    locale: pick(r, LOCALES),
  }));
}

function context(r: Rand, v: Visitor, path: string) {
  const internal = r() < 0.2;
  return {
    page: { url: pageUrl(r, path), referrer: internal ? `${SITE}/` : r() < 0.5 ? "" : pick(r, REFERRERS) },
    userAgent: v.ua,
    ip: v.ip,
    locale: v.locale,
  };
}

const iso = (ms: number) => new Date(ms).toISOString();

/**
 * One track call per visitor (so all 20,000 anonymousIds appear). As a browser sends it, with
 * its own User-Agent and sentAt; or as an item of a batch from a server-side SDK (`type`, no
 * sentAt: the batch has one), with the SDK's User-Agent and timestamps up to a minute old.
 */
export function trackTemplates(vs: Visitor[], now: number, options: { batchItem?: boolean; seed?: number } = {}): string[] {
  const r = rng(options.seed ?? (options.batchItem ? 5 : 4));
  return vs.map((v) => {
    const e = trackEvent(r);
    const body = {
      ...(options.batchItem ? { type: "track" } : {}),
      event: e.event,
      anonymousId: v.anonymousId,
      ...(v.userId ? { userId: v.userId } : {}),
      properties: e.properties,
      context: context(r, v, e.path),
      timestamp: iso(now - int(r, 5, options.batchItem ? 60_000 : 1500)),
      ...(options.batchItem ? {} : { sentAt: iso(now) }),
      messageId: MID,
    };
    return `${options.batchItem ? "analytics-node-next/1.4.1" : v.ua}\t${JSON.stringify(body)}`;
  });
}

/**
 * Identify calls: 30% new users (fresh userId, anonymousId and email on every request), 50%
 * returning users (5,000 known users, each always from the same device), 20% anonymous visitors
 * leaving an email (a lead keyed by email).
 */
export function identifyTemplates(vs: Visitor[], now: number, seed = 6): string[] {
  const r = rng(seed);
  const out: string[] = [];
  const plans = ["free", "plus", "pro", "team"];
  const line = (v: Visitor, call: Record<string, unknown>) =>
    `${v.ua}\t${JSON.stringify({ ...call, context: context(r, v, pick(r, ["/signup", "/account", "/checkout", "/"])), timestamp: iso(now - int(r, 5, 1500)), sentAt: iso(now), messageId: MID })}`;
  for (let i = 0; i < 3000; i++) {
    const v = vs[int(r, 0, vs.length - 1)]!;
    out.push(
      line(v, {
        userId: `new_${NEW}`,
        anonymousId: NEW,
        traits: { email: `${NEW}@mail.example.net`, name: "New Customer", plan: "free", createdAt: iso(now) },
      }),
    );
  }
  for (let i = 0; i < 5000; i++) {
    const v = vs[i]!;
    out.push(
      line(v, {
        userId: `usr_${100000 + i}`,
        anonymousId: v.anonymousId,
        traits: {
          email: `customer${i}@mail.example.net`,
          name: `Customer ${i}`,
          plan: pick(r, plans),
          company: pick(r, ["Acme GmbH", "Globex", "Initech", null]),
          logins: int(r, 1, 400),
        },
      }),
    );
  }
  for (let i = 0; i < 2000; i++) {
    const v = vs[5000 + i]!;
    out.push(line(v, { anonymousId: v.anonymousId, traits: { email: `reader${i}@mail.example.net`, newsletter: true, source: "footer_form" } }));
  }
  return out;
}

export interface BodyFiles {
  track: string;
  batch: string;
  identify: string;
  /** Sizes of the track bodies (bytes), for the report. */
  trackBytes: { min: number; mean: number; max: number };
  distinct: { visitors: number; userAgents: number; ips: number };
}

export async function writeBodyFiles(dir: string, now = Date.now()): Promise<BodyFiles> {
  const vs = visitors();
  const track = trackTemplates(vs, now);
  const sizes = track.map((l) => Buffer.byteLength(l.slice(l.indexOf("\t") + 1)) - MID.length + 16);
  const files = { track: `${dir}/track.tsv`, batch: `${dir}/batch.tsv`, identify: `${dir}/identify.tsv` };
  await Bun.write(files.track, track.join("\n") + "\n");
  await Bun.write(files.batch, trackTemplates(vs, now, { batchItem: true }).join("\n") + "\n");
  await Bun.write(files.identify, identifyTemplates(vs, now).join("\n") + "\n");
  return {
    ...files,
    trackBytes: { min: Math.min(...sizes), mean: Math.round(sizes.reduce((a, b) => a + b, 0) / sizes.length), max: Math.max(...sizes) },
    distinct: { visitors: new Set(vs.map((v) => v.anonymousId)).size, userAgents: new Set(vs.map((v) => v.ua)).size, ips: new Set(vs.map((v) => v.ip)).size },
  };
}
