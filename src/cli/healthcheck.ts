/**
 * `inlet healthcheck`: GET /health of the server this configuration describes and exit 0 when
 * it answers 200, else 1. For container HEALTHCHECKs on images without curl (distroless).
 */
import type { Config } from "../config";

const TIMEOUT_MS = 3_000;

/** Where to reach the server from the same machine: a wildcard listen address means loopback. */
export function healthUrl(config: Pick<Config, "host" | "port">): string {
  const host = config.host === "0.0.0.0" || config.host === "::" ? "127.0.0.1" : config.host;
  return `http://${host.includes(":") ? `[${host}]` : host}:${config.port}/health`;
}

export async function healthcheck(config: Pick<Config, "host" | "port">): Promise<number> {
  const url = healthUrl(config);
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(TIMEOUT_MS) });
    if (response.status === 200) return 0;
    process.stderr.write(`inlet: ${url} answered ${response.status}\n`);
  } catch (error) {
    process.stderr.write(`inlet: ${url} did not answer: ${(error as Error).message}\n`);
  }
  return 1;
}
