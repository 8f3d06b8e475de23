/**
 * Cost of enrichment per event: `bun run bench/enrich.ts`.
 * Prints µs/op for an uncached user agent parse, for a geo lookup, and for a whole `enrich()`
 * call on a realistic mix (a few hundred distinct user agents and addresses, popular ones more
 * often), with the user agent cache hit rate of that mix from a cold start. Not a test: numbers
 * depend on the machine.
 */
import { Enricher, type EnrichInput } from "../src/enrich/index.ts";
import { GeoLookup } from "../src/enrich/geo.ts";
import { parseUserAgent } from "../src/enrich/user-agent.ts";

const EVENTS = 200_000;

/** Deterministic PRNG (mulberry32), so runs compare. */
function random(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const rand = random(42);

function distinctUserAgents(): string[] {
  const list: string[] = [];
  for (let v = 100; v <= 131; v++) {
    list.push(`Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/${v}.0.0.0 Safari/537.36`);
    list.push(`Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/${v}.0.0.0 Safari/537.36`);
    list.push(`Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/${v}.0.0.0 Safari/537.36 Edg/${v}.0.0.0`);
    list.push(`Mozilla/5.0 (X11; Linux x86_64; rv:${v}.0) Gecko/20100101 Firefox/${v}.0`);
    for (const model of ["SM-S918B", "SM-A546B", "Pixel 8", "K"]) {
      list.push(`Mozilla/5.0 (Linux; Android 14; ${model}) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/${v}.0.0.0 Mobile Safari/537.36`);
    }
  }
  for (let major = 15; major <= 18; major++) {
    for (let minor = 0; minor <= 7; minor++) {
      list.push(`Mozilla/5.0 (iPhone; CPU iPhone OS ${major}_${minor} like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/${major}.${minor} Mobile/15E148 Safari/604.1`);
      list.push(`Mozilla/5.0 (iPad; CPU OS ${major}_${minor} like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/${major}.${minor} Mobile/15E148 Safari/604.1`);
      list.push(`Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/${major}.${minor} Safari/605.1.15`);
    }
  }
  list.push(
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
    "curl/8.5.0",
    "python-requests/2.31.0",
  );
  return list;
}

function publicAddresses(count: number): string[] {
  const list: string[] = [];
  while (list.length < count) {
    const a = 1 + Math.floor(rand() * 222);
    if (a === 10 || a === 127 || a === 172 || a === 192) continue;
    list.push(`${a}.${Math.floor(rand() * 256)}.${Math.floor(rand() * 256)}.${1 + Math.floor(rand() * 254)}`);
  }
  return list;
}

/** Index into a list where item i is about 1/(i+1) as likely as the first (Zipf, s = 1). */
function zipfPicker(size: number): () => number {
  const cumulative: number[] = [];
  let total = 0;
  for (let i = 0; i < size; i++) cumulative.push((total += 1 / (i + 1)));
  return () => {
    const target = rand() * total;
    let lo = 0;
    let hi = size - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cumulative[mid] < target) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
}

function timeIt(label: string, ops: number, run: () => void): number {
  const start = Bun.nanoseconds();
  run();
  const us = (Bun.nanoseconds() - start) / 1000 / ops;
  console.log(`${label.padEnd(44)} ${us.toFixed(2).padStart(8)} µs/op  (${ops.toLocaleString()} ops)`);
  return us;
}

const userAgents = distinctUserAgents();
const addresses = publicAddresses(500);
const pickUa = zipfPicker(userAgents.length);
const pickIp = zipfPicker(addresses.length);
const hintHeaders = { "sec-ch-ua": '"Chromium";v="124", "Google Chrome";v="124", "Not-A.Brand";v="99"', "sec-ch-ua-mobile": "?0", "sec-ch-ua-platform": '"Windows"' };

console.log(`${userAgents.length} distinct user agents, ${addresses.length} addresses, ${EVENTS.toLocaleString()} events\n`);

// Warm the JIT on a few parses first, so the cold number is about parsing, not compiling.
for (let i = 0; i < 200; i++) parseUserAgent(userAgents[i % userAgents.length]);
const rounds = 5;
timeIt("cold user agent parse (no cache)", userAgents.length * rounds, () => {
  for (let r = 0; r < rounds; r++) for (const ua of userAgents) parseUserAgent(ua);
});

const geo = new GeoLookup();
timeIt("geo lookup (embedded country db)", EVENTS, () => {
  for (let i = 0; i < EVENTS; i++) geo.lookup(addresses[i % addresses.length]);
});

// Events as the pipeline sees them: one header getter per request, a typical browser context.
const events: EnrichInput[] = [];
for (let i = 0; i < EVENTS; i++) {
  const h = new Headers({ "user-agent": userAgents[pickUa()], ...(i % 3 === 0 ? hintHeaders : {}) });
  events.push({
    context: {
      library: { name: "analytics.js", version: "5.0.0" },
      page: { url: `https://shop.example/p/${i % 50}?utm_source=google&utm_medium=cpc`, referrer: "https://www.google.com/" },
    },
    peerIp: addresses[pickIp()],
    header: (name) => h.get(name),
    settings: { ipPolicy: "anonymize", bots: "flag" },
  });
}

const enricher = new Enricher();
timeIt("enrich(), cold cache, realistic mix", EVENTS, () => {
  for (const event of events) enricher.enrich(event);
});
const { hits, misses } = enricher.stats().userAgent;
console.log(`user agent cache hit rate over that run: ${((100 * hits) / (hits + misses)).toFixed(2)}% (${misses} misses)`);
timeIt("enrich(), warm cache, realistic mix", EVENTS, () => {
  for (const event of events) enricher.enrich(event);
});
enricher.close();
