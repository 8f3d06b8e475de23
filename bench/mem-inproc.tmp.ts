import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { heapStats } from "bun:jsc";
import { writeBodyFiles } from "./lib/bodies";
import { loadConfig } from "../src/config";
import { startServer } from "../src/server";
const dir = mkdtempSync(join(tmpdir(), "memx-"));
const bodies = await writeBodyFiles(dir);
const config = loadConfig({ PORT: "0", HOST: "127.0.0.1", INLET_DB: join(dir, "m.db"), INLET_DEMO: "false", LOG_LEVEL: "warn", RATE_LIMIT_RPS: "0", RATE_LIMIT_EPS: "0", ...(process.env.EXTRA ? JSON.parse(process.env.EXTRA) : {}) });
const running = startServer(config);
if (process.env.GCMS) setInterval(() => Bun.gc(false), Number(process.env.GCMS)).unref();
const t = running.services.tenants.createTenant("m");
const mem = () => {
  const roll = readFileSync(`/proc/self/smaps_rollup`, "utf8");
  const pick = (k: string) => Math.round(Number(new RegExp(`^${k}:\\s+(\\d+)`, "m").exec(roll)?.[1] ?? 0) / 1024);
  const h = heapStats();
  const mu = process.memoryUsage();
  return `Rss=${pick("Rss")} Anon=${pick("Anonymous")} heapSize=${Math.round(h.heapSize / 1048576)} heapCap=${Math.round(h.heapCapacity / 1048576)} extra=${Math.round(h.extraMemorySize / 1048576)} objs=${h.objectCount} muHeapTotal=${Math.round(mu.heapTotal/1048576)} external=${Math.round(mu.external/1048576)} ab=${Math.round(mu.arrayBuffers/1048576)}`;
};
Bun.gc(true); console.log('start', mem());
let ack = 0;
const total = Number(process.env.N ?? 300000);
let run = 0;
while (ack < total) {
  const p = Bun.spawn(["wrk", "-t2", "-c50", "-d10s", "--timeout", "10s", "-s", "bench/wrk/post.lua", "-H", `Authorization: Bearer ${t.writeKey}`, "-H", "Content-Type: application/json", `http://127.0.0.1:${running.port}/v1/events/track`, "--", bodies.track, `r${run++}`, "0", new Date().toISOString()], { stdout: "pipe" });
  const out = await new Response(p.stdout).text();
  const line = JSON.parse(/^BENCH_RESULT (.*)$/m.exec(out)![1]!);
  ack += line.ok ?? line.requests;
  console.log(ack, Math.round((line.ok ?? line.requests)/10), mem());
}
Bun.gc(true);
console.log("after full gc", mem());
await Bun.sleep(3000);
console.log("idle 3s", mem());
const h = heapStats();
const top = Object.entries(h.objectTypeCounts).sort((a, b) => b[1] - a[1]).slice(0, 15);
console.log(top.map(([k, v]) => `${k}:${v}`).join(" "));
await running.stop();
