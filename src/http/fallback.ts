/**
 * What answers a request that no route takes: 405 with `Allow` when the path exists for other
 * methods (a GET on /v1/track), else 404, both in the one error format.
 */
import { Elysia } from "elysia";
import { ApiError, methodNotAllowed } from "./errors";

/** The route template of this fallback (the metrics label it as unmatched). */
export const FALLBACK_ROUTE = "/*";

interface RouteLike {
  method: string;
  path: string;
}

/** `routes` is read once, at the first unmatched request, when every route is registered. */
export function fallback(routes: () => readonly RouteLike[]) {
  let table: { pattern: RegExp; methods: string[] }[] | null = null;
  const build = () => {
    const byPath = new Map<string, Set<string>>();
    for (const { method, path } of routes()) {
      // CORS answers preflights (OPTIONS) on every path; they say nothing about a path's methods.
      if (path === FALLBACK_ROUTE || method === "ALL" || method === "OPTIONS") continue;
      let methods = byPath.get(path);
      if (!methods) byPath.set(path, (methods = new Set()));
      methods.add(method);
      if (method === "GET") methods.add("HEAD");
    }
    return [...byPath].map(([path, methods]) => ({ pattern: templatePattern(path), methods: [...methods].sort() }));
  };
  return new Elysia({ name: "fallback" }).all(
    FALLBACK_ROUTE,
    ({ request, set }) => {
      const path = new URL(request.url).pathname;
      table ??= build();
      const allowed = [...new Set(table.filter((route) => route.pattern.test(path)).flatMap((route) => route.methods))];
      if (allowed.length > 0 && !allowed.includes(request.method)) {
        set.headers.allow = allowed.join(", ");
        throw methodNotAllowed(request.method, path, allowed);
      }
      throw new ApiError(404, "not_found", `No route for ${request.method} ${path}.`);
    },
    { detail: { hide: true }, parse: "none" },
  );
}

/** `/v1/projects/:writeKey/settings` → a pattern matching its paths. */
function templatePattern(template: string): RegExp {
  const escaped = template
    .split("/")
    .map((part) => (part.startsWith(":") ? "[^/]+" : part === "*" ? ".*" : part.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")))
    .join("/");
  return new RegExp(`^${escaped}/?$`);
}
