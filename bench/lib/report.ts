/** Formatting of the printed report. */
import type { LoadResult } from "./wrk";

const int = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });
export const n0 = (x: number) => (Number.isFinite(x) ? int.format(x) : "-");
export const f1 = (x: number) => (Number.isFinite(x) ? x.toFixed(1) : "-");
export const f2 = (x: number) => (Number.isFinite(x) ? x.toFixed(2) : "-");
export const pct = (x: number) => (Number.isFinite(x) ? `${Math.round(x * 100)}%` : "-");

export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ");
  return [line(header), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(line)].join("\n");
}

export interface PhaseRow {
  name: string;
  load?: LoadResult;
  /** Events per request (100 for batches). */
  perRequest?: number;
  /** For rows that are not HTTP (the storage limit): its rate and CPU share. */
  eventsPerSecond?: number;
  cpu?: number;
}

export function phaseTable(rows: PhaseRow[]): string {
  return table(
    ["phase", "req/s", "events/s", "p50 ms", "p99 ms", "p99.9 ms", "non-2xx", "sock err", "CPU server", "wrk", "others", "idle"],
    rows.map(({ name, load, perRequest = 1, eventsPerSecond, cpu }) => {
      if (!load) return [name, "-", n0(eventsPerSecond ?? NaN), "-", "-", "-", "-", "-", cpu === undefined ? "-" : pct(cpu), "-", "-", "-"];
      const socket = load.socketErrors.connect + load.socketErrors.read + load.socketErrors.write + load.socketErrors.timeout;
      return [
        name,
        n0(load.rps),
        n0((load.ok / load.seconds) * perRequest),
        f2(load.latencyMs.p50),
        f2(load.latencyMs.p99),
        f2(load.latencyMs.p999),
        n0(load.non2xx),
        n0(socket),
        pct(load.cpu.server),
        pct(load.cpu.wrk),
        pct(load.cpu.others),
        pct(load.cpu.idle),
      ];
    }),
  );
}

export interface Verdict {
  what: string;
  value: string;
  target: string;
  met: boolean | null;
}

export function verdictTable(verdicts: Verdict[]): string {
  return table(
    ["target", "measured", "goal", ""],
    verdicts.map((v) => [v.what, v.value, v.target, v.met === null ? "n/a" : v.met ? "met" : "MISSED"]),
  );
}
