/**
 * HTML pages Inlet serves (Swagger UI at /swagger; any other page uses the same helper): a page
 * may not be framed (clickjacking), its type may not be sniffed, it tells no other site where the
 * reader came from, and it runs only the scripts it names.
 */
import { createHash } from "node:crypto";

/** Headers for every response whose type is fixed (HTML, scripts, styles): no content sniffing. */
export const NOSNIFF = { "x-content-type-options": "nosniff" } as const;

/** The CSP source for an inline `<script>`: its SHA-256 hash, so nothing else inline runs. */
export function scriptHash(script: string): string {
  return `'sha256-${createHash("sha256").update(script, "utf8").digest("base64")}'`;
}

/**
 * The headers of an HTML page. `scripts` are CSP sources allowed to run besides this origin's
 * files (e.g. `scriptHash(inline)`). Styles may be inline: UI libraries set style attributes.
 */
export function htmlHeaders(options: { scripts?: string[] } = {}): Record<string, string> {
  const csp = [
    "default-src 'self'",
    `script-src 'self' ${(options.scripts ?? []).join(" ")}`.trim(),
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data:",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
  ].join("; ");
  return {
    "content-type": "text/html; charset=utf-8",
    ...NOSNIFF,
    "content-security-policy": csp,
    "referrer-policy": "no-referrer",
    // For browsers that predate frame-ancestors.
    "x-frame-options": "DENY",
  };
}
