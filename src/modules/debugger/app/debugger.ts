/**
 * The debugger page's script (bundled for browsers by ../bundle.ts). It reads the tenant's calls
 * from GET /v1/debugger/stream, Server-Sent Events read with fetch() so that the admin key
 * travels in the Authorization header (EventSource cannot send one) and never in a URL. The key
 * is kept in sessionStorage only: it is gone when the tab closes.
 */

// Types only: erased by the bundler, nothing of the server is bundled.
import type { DebuggerEntry as Entry } from "../service";

const KEY_STORAGE = "inlet.debugger.key";
const MAX_ROWS = 500;
const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

const entries: Entry[] = [];
let paused: Entry[] = [];
let isPaused = false;
let selected: number | null = null;
let connection: AbortController | null = null;

function setState(text: string, kind: "" | "live" | "error" | "paused" = ""): void {
  const state = $("state");
  state.textContent = text;
  state.className = `state ${kind}`;
}

function el(tag: string, attrs: Record<string, string> = {}, ...children: (Node | string)[]): HTMLElement {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
  node.append(...children);
  return node;
}

function matches(entry: Entry): boolean {
  const status = $<HTMLSelectElement>("f-status").value;
  const type = $<HTMLSelectElement>("f-type").value;
  const user = $<HTMLInputElement>("f-user").value.trim().toLowerCase();
  if (status && entry.status !== status) return false;
  if (type && entry.type !== type) return false;
  if (user && !`${entry.userId ?? ""}\n${entry.anonymousId ?? ""}`.toLowerCase().includes(user)) return false;
  return true;
}

function row(entry: Entry): HTMLElement {
  const time = new Date(entry.at).toLocaleTimeString(undefined, { hour12: false });
  const tr = el(
    "tr",
    { "data-seq": String(entry.seq), "data-status": entry.status },
    el("td", { title: entry.at }, time),
    el("td", {}, entry.type),
    el("td", { title: entry.event ?? "" }, entry.event ?? ""),
    el("td", { title: entry.userId ?? entry.anonymousId ?? "" }, entry.userId ?? entry.anonymousId ?? ""),
    el("td", {}, el("span", { class: `status s-${entry.status}` }, entry.status)),
    el("td", { class: "muted" }, entry.endpoint),
  );
  if (entry.seq === selected) tr.classList.add("selected");
  tr.addEventListener("click", () => show(entry));
  return tr;
}

function render(): void {
  const rows = $("rows");
  const shown = entries.filter(matches).reverse();
  rows.replaceChildren(...shown.map(row));
  $("empty").hidden = entries.length > 0;
  $("count").textContent = `${shown.length} of ${entries.length} calls`;
}

function add(entry: Entry): void {
  if (isPaused) {
    paused.push(entry);
    if (paused.length > MAX_ROWS) paused.shift();
    $("buffered").textContent = `${paused.length} new while paused`;
    return;
  }
  entries.push(entry);
  if (entries.length > MAX_ROWS) entries.shift();
  if (!matches(entry)) {
    $("count").textContent = `${entries.filter(matches).length} of ${entries.length} calls`;
    return;
  }
  const rows = $("rows");
  rows.prepend(row(entry));
  while (rows.children.length > MAX_ROWS) rows.lastElementChild!.remove();
  $("empty").hidden = true;
  $("count").textContent = `${rows.children.length} of ${entries.length} calls`;
}

function details(entry: Entry): HTMLElement {
  const facts: [string, string | undefined][] = [
    ["Time", entry.at],
    ["Status", entry.code ? `${entry.status} (${entry.code})` : entry.status],
    ["Type", entry.type],
    ["Event / name", entry.event],
    ["userId", entry.userId],
    ["anonymousId", entry.anonymousId],
    ["messageId", entry.messageId],
    ["Endpoint", entry.endpoint],
    ["Key", entry.keyPrefix ? `${entry.keyPrefix}…` : undefined],
    ["Library", entry.library],
    ["User agent", entry.userAgent],
  ];
  const dl = el("dl");
  for (const [name, value] of facts) if (value) dl.append(el("dt", {}, name), el("dd", {}, value));
  return dl;
}

async function show(entry: Entry): Promise<void> {
  selected = entry.seq;
  for (const tr of Array.from($("rows").querySelectorAll("tr.selected"))) tr.classList.remove("selected");
  $("rows").querySelector(`tr[data-seq="${entry.seq}"]`)?.classList.add("selected");
  const detail = $("detail");
  detail.className = "";
  const parts: Node[] = [details(entry)];
  if (entry.errors?.length) {
    parts.push(el("ul", { class: "errors" }, ...entry.errors.map((e) => el("li", {}, el("code", {}, e.path || "/"), ` ${e.message}`))));
  }
  if (entry.payload !== undefined) {
    parts.push(el("h2", {}, entry.truncated ? "Payload as received (truncated)" : "Payload as received"), el("pre", {}, pretty(entry.payload)));
  }
  detail.replaceChildren(...parts);
  if ((entry.status === "accepted" || entry.status === "duplicate") && entry.messageId) {
    const pre = el("pre", {}, "loading the stored event…");
    detail.append(el("h2", {}, "Stored event (enriched)"), pre);
    const res = await fetch(`/v1/debugger/events/${encodeURIComponent(entry.messageId)}`, { headers: { authorization: `Bearer ${key()}` } });
    pre.textContent = res.ok
      ? JSON.stringify(await res.json(), null, 2)
      : `${res.status}: ${((await res.json().catch(() => null)) as { error?: { message?: string } } | null)?.error?.message ?? "not found"}`;
  }
}

function pretty(payload: string): string {
  try {
    return JSON.stringify(JSON.parse(payload), null, 2);
  } catch {
    return payload; // truncated JSON: shown as it is
  }
}

function showReasons(reasons: { reason: string; count: number }[]): void {
  const list = $("reasons");
  if (reasons.length === 0) list.replaceChildren(el("li", { class: "muted" }, "none"));
  else list.replaceChildren(...reasons.map((r) => el("li", {}, el("span", {}, r.reason), el("b", {}, String(r.count)))));
}

const key = (): string => sessionStorage.getItem(KEY_STORAGE) ?? "";

/** Reads the stream until it ends or is aborted; reconnects after a drop (not after a refusal). */
async function connect(): Promise<void> {
  connection?.abort();
  const abort = new AbortController();
  connection = abort;
  entries.length = 0;
  paused = [];
  render();
  setState("connecting…");
  let response: Response;
  try {
    response = await fetch("/v1/debugger/stream", { headers: { authorization: `Bearer ${key()}`, accept: "text/event-stream" }, signal: abort.signal });
  } catch {
    if (!abort.signal.aborted) retry(abort);
    return;
  }
  if (!response.ok || !response.body) {
    const body = (await response.json().catch(() => null)) as { error?: { message?: string } } | null;
    setState(`${response.status}: ${body?.error?.message ?? "refused"}`, "error");
    return;
  }
  setState(isPaused ? "paused" : "live", isPaused ? "paused" : "live");
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value;
      let end: number;
      while ((end = buffer.indexOf("\n\n")) !== -1) {
        dispatch(buffer.slice(0, end));
        buffer = buffer.slice(end + 2);
      }
    }
  } catch {
    // aborted or dropped
  }
  if (!abort.signal.aborted) retry(abort);
}

function retry(abort: AbortController): void {
  setState("disconnected; retrying…", "error");
  setTimeout(() => {
    if (connection === abort) void connect();
  }, 2000);
}

function dispatch(block: string): void {
  let event = "message";
  let data = "";
  for (const line of block.split("\n")) {
    if (line.startsWith("event:")) event = line.slice(6).trim();
    else if (line.startsWith("data:")) data += line.slice(5).trim();
  }
  if (!data) return;
  const value = JSON.parse(data);
  if (event === "call") add(value as Entry);
  else if (event === "rejections") showReasons(value.reasons);
}

function init(): void {
  const input = $<HTMLInputElement>("key");
  $("key-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const value = input.value.trim();
    if (!value) return;
    sessionStorage.setItem(KEY_STORAGE, value);
    input.value = "";
    input.placeholder = `${value.slice(0, 11)}… (kept for this tab only)`;
    void connect();
  });
  $("forget").addEventListener("click", () => {
    sessionStorage.removeItem(KEY_STORAGE);
    connection?.abort();
    connection = null;
    input.placeholder = "Admin key (ak_…)";
    setState("not connected");
  });
  for (const id of ["f-status", "f-type", "f-user"]) $(id).addEventListener("input", render);
  $("pause").addEventListener("click", () => {
    isPaused = !isPaused;
    $("pause").textContent = isPaused ? "Resume" : "Pause";
    if (isPaused) setState("paused", "paused");
    else {
      const waiting = paused;
      paused = [];
      $("buffered").textContent = "";
      for (const entry of waiting) add(entry);
      if (connection) setState("live", "live");
    }
  });
  if (key()) {
    input.placeholder = `${key().slice(0, 11)}… (kept for this tab only)`;
    void connect();
  }
}

init();
