/**
 * The write path without HTTP: track events through Pipeline.ingest (normalize, enrich, group
 * commit with visitor, session, identity and insert) on a fresh database, in groups of concurrent
 * single-event requests like the HTTP benchmark produces. Prints µs per event, to find where the
 * per-event cost goes without wrk and the network in the way.
 *
 *   bun run bench/pipeline.ts [events=60000] [concurrency=32] [visitors=20000] [track|identify]
 *
 * identify: 30% new users, 50% returning ones, 20% anonymous (traits only), like bench/run.ts.
 */
import { logger } from "../src/logger";
import type { Validated } from "../src/pipeline";
import { startInProcess } from "./lib/in-process";

const [events = 60_000, concurrency = 32, visitors = 20_000] = process.argv.slice(2, 5).map(Number);
const kind = process.argv[5] === "identify" ? "identify" : "track";
logger.setLevel("silent");
const inlet = startInProcess("pipeline", { LOG_LEVEL: "silent" });
const { services, auth } = inlet;
const ua = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";
const facts = { peerIp: "81.2.69.142", header: (name: string) => (name === "user-agent" ? ua : null) };

const identifyCall = (i: number): Validated => {
  const roll = (i * 2654435761) % 10;
  const anonymousId = `visitor-${(i * 7919) % visitors}`;
  const traits = { plan: roll % 2 ? "pro" : "free", seen: i };
  if (roll < 3) return <Validated>{ call: { type: "identify" as const, userId: `new-${i}`, anonymousId, messageId: crypto.randomUUID(), traits: { ...traits, email: `new-${i}@example.com` } } };
  if (roll < 8) return <Validated>{ call: { type: "identify" as const, userId: `user-${i % 2000}`, anonymousId, messageId: crypto.randomUUID(), traits: { ...traits, email: `user-${i % 2000}@example.com` } } };
  return <Validated>{ call: { type: "identify" as const, anonymousId, messageId: crypto.randomUUID(), traits } };
};

const call = (i: number): Validated => kind === "identify" ? identifyCall(i) : ({
  call: {
    type: "track" as const,
    event: "Product Viewed",
    anonymousId: `visitor-${(i * 7919) % visitors}`,
    messageId: crypto.randomUUID(),
    properties: { sku: `sku-${i % 500}`, price: 19.99, currency: "EUR", category: "shoes", position: i % 20 },
    context: { page: { url: `https://shop.example/p/${i % 500}?utm_source=news&utm_medium=email`, referrer: "https://www.google.com/" }, locale: "en-GB" },
  },
});

async function run(count: number, offset: number): Promise<number> {
  const started = performance.now();
  for (let i = 0; i < count; i += concurrency) {
    const group = [];
    for (let k = 0; k < concurrency && i + k < count; k++) {
      group.push(services.pipeline.ingest(auth, [call(offset + i + k)], { receivedAt: Date.now() }, facts));
    }
    await Promise.all(group);
  }
  return performance.now() - started;
}

await run(Math.min(10_000, events / 5), 10_000_000); // warm-up
const cpuBefore = process.cpuUsage();
const ms = await run(events, 0);
// CPU time (this process, all threads) per event: steadier than wall time on a shared machine.
const cpu = process.cpuUsage(cpuBefore);
const stats = services.writer.stats;
console.log(
  JSON.stringify({
    kind,
    events,
    concurrency,
    visitors,
    eventsPerSecond: Math.round((events / ms) * 1000),
    usPerEvent: Math.round((ms * 1000) / events),
    cpuUsPerEvent: Math.round((cpu.user + cpu.system) / events),
    commits: stats.commits,
    sessionCacheHitRate: services.sessions.hits / (services.sessions.hits + services.sessions.misses),
  }),
);
await inlet.close();
process.exit(0);
