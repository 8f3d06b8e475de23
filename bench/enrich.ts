/**
 * Cost of enrichment per event: `bun run bench/enrich.ts`.
 * Prints µs/op for an uncached user agent parse, for a geo lookup, and for a whole `enrich()`
 * call on the load's realistic mix (bench/lib/bodies.ts: 300 user agents and 300 addresses,
 * popular ones more often, plus bots and server-side clients), with the user agent cache hit rate
 * of that mix from a cold start. Not a test: numbers depend on the machine.
 */
import { Enricher, type EnrichInput } from "../src/enrich/index.ts";
import { GeoLookup } from "../src/enrich/geo.ts";
import { parseUserAgent } from "../src/enrich/user-agent.ts";
import { ipAddresses, rng, userAgents, zipf } from "./lib/bodies";

const EVENTS = 200_000;

function timeIt(label: string, ops: number, run: () => void): void {
  const start = Bun.nanoseconds();
  run();
  const us = (Bun.nanoseconds() - start) / 1000 / ops;
  console.log(`${label.padEnd(44)} ${us.toFixed(2).padStart(8)} µs/op  (${ops.toLocaleString()} ops)`);
}

const agents = [...userAgents(), "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", "curl/8.5.0", "python-requests/2.31.0"];
const addresses = ipAddresses();
const rand = rng(42);
const pickUa = zipf(agents.length);
const pickIp = zipf(addresses.length);
const hintHeaders = {
  "sec-ch-ua": '"Chromium";v="124", "Google Chrome";v="124", "Not-A.Brand";v="99"',
  "sec-ch-ua-mobile": "?0",
  "sec-ch-ua-platform": '"Windows"',
};
console.log(`${agents.length} distinct user agents, ${addresses.length} addresses, ${EVENTS.toLocaleString()} events\n`);

// Warm the JIT on a few parses first, so the cold number is about parsing, not compiling.
for (let i = 0; i < 200; i++) parseUserAgent(agents[i % agents.length]!);
const rounds = 5;
timeIt("cold user agent parse (no cache)", agents.length * rounds, () => {
  for (let r = 0; r < rounds; r++) for (const ua of agents) parseUserAgent(ua);
});

const geo = new GeoLookup();
timeIt("geo lookup (embedded country db)", EVENTS, () => {
  for (let i = 0; i < EVENTS; i++) geo.lookup(addresses[i % addresses.length]!);
});

// Events as the pipeline sees them: one header getter per request, a typical browser context.
const events: EnrichInput[] = [];
for (let i = 0; i < EVENTS; i++) {
  const h = new Headers({ "user-agent": agents[pickUa(rand)]!, ...(i % 3 === 0 ? hintHeaders : {}) });
  events.push({
    context: {
      library: { name: "analytics.js", version: "5.0.0" },
      page: { url: `https://shop.example/p/${i % 50}?utm_source=google&utm_medium=cpc`, referrer: "https://www.google.com/" },
    },
    peerIp: addresses[pickIp(rand)]!,
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
