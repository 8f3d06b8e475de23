/**
 * The Grafana dashboard and the Prometheus alerts in ops/ parse, and every metric they query is
 * one that a real server's /metrics exposes (a renamed metric must not leave a blank panel or an
 * alert that can never fire).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { repoRoot, startTestServer, type TestServer } from "../helpers/server";
import { exposedNames } from "./prometheus";

/** Metric names in a PromQL expression: Inlet's own and the process metrics of prom-client. */
const METRIC = /\b(?:inlet|process|nodejs)_[a-z0-9_]+\b/g;

let server: TestServer;
let exposed: Set<string>;

beforeAll(async () => {
  server = await startTestServer();
  // Some traffic, so that the scrape is what a busy server shows.
  await server.track({ event: "E", anonymousId: "ops-1" });
  await server.post("/v1/events/batch", { batch: [{ type: "track", event: "E", anonymousId: "ops-2" }] });
  exposed = exposedNames(await (await fetch(`${server.url}/metrics`)).text());
});
afterAll(async () => {
  await server.stop();
});

function metricsIn(expressions: string[]): string[] {
  return [...new Set(expressions.flatMap((expr) => expr.match(METRIC) ?? []))].sort();
}

/** Every `expr` (panel targets) and template query in a dashboard, however deeply nested. */
function dashboardExpressions(node: unknown, out: string[] = []): string[] {
  if (Array.isArray(node)) for (const item of node) dashboardExpressions(item, out);
  else if (node && typeof node === "object") {
    for (const [key, value] of Object.entries(node)) {
      if ((key === "expr" || key === "query" || key === "definition") && typeof value === "string") out.push(value);
      else dashboardExpressions(value, out);
    }
  }
  return out;
}

describe("ops/grafana/inlet.json", () => {
  test("parses, and every metric its panels use is exposed by /metrics", async () => {
    const dashboard = JSON.parse(await Bun.file(join(repoRoot, "ops/grafana/inlet.json")).text());
    expect(dashboard.title).toBe("Inlet");
    const panels = dashboard.panels.filter((p: { type: string }) => p.type !== "row");
    expect(panels.length).toBeGreaterThan(10);
    const withoutQueries = panels.filter((panel: { targets?: unknown[] }) => !panel.targets?.length).map((panel: { title: string }) => panel.title);
    expect(withoutQueries).toEqual([]);

    const used = metricsIn(dashboardExpressions(dashboard));
    // What the issue asks the dashboard to show.
    for (const name of [
      "inlet_events_total",
      "inlet_http_requests_total",
      "inlet_http_request_duration_seconds_bucket",
      "inlet_write_queue_events",
      "inlet_rate_limited_requests_total",
      "inlet_group_commit_size_bucket",
      "inlet_group_commit_duration_seconds_bucket",
      "inlet_cache_hits_total",
    ]) {
      expect(used).toContain(name);
    }
    expect(used.filter((name) => !exposed.has(name))).toEqual([]);
  });
});

describe("ops/prometheus/alerts.yml", () => {
  test("parses as alerting rules, and every metric they use is exposed by /metrics", async () => {
    const rules = Bun.YAML.parse(await Bun.file(join(repoRoot, "ops/prometheus/alerts.yml")).text()) as {
      groups: { name: string; rules: { alert: string; expr: string; for?: string; labels?: Record<string, string>; annotations?: Record<string, string> }[] }[];
    };
    const all = rules.groups.flatMap((group) => group.rules);
    for (const rule of all) {
      expect(rule.alert).toMatch(/^Inlet[A-Za-z0-9]+$/);
      expect(typeof rule.expr).toBe("string");
      expect(rule.for).toMatch(/^\d+[smh]$/);
      expect(["critical", "warning", "info"]).toContain(rule.labels?.severity ?? "(none)");
      expect(rule.annotations?.summary).toBeString();
    }
    const names = all.map((rule) => rule.alert);
    expect(new Set(names).size).toBe(names.length);
    // What the issue asks to alert on: error rate, p99 latency, readiness, disk.
    for (const alert of ["InletHighErrorRate", "InletHighLatencyP99", "InletNotReady", "InletDown", "InletDiskSpaceLow", "InletDiskFillsWithin24h"]) {
      expect(names).toContain(alert);
    }
    const used = metricsIn(all.map((rule) => rule.expr));
    expect(used).toContain("inlet_disk_free_bytes");
    expect(used.filter((name) => !exposed.has(name))).toEqual([]);
  });
});
