/** Starts `inlet serve` as a child process (as a user would) and waits until it listens. */
import { mainTs } from "./server";

export interface ServerProcess {
  proc: ReturnType<typeof Bun.spawn>;
  url: string;
  /** Everything printed so far (stdout and stderr). */
  output(): string;
  /**
   * The first match of `pattern` in the output, waiting for it (at most `timeoutMs`): what the
   * server prints after it listens (the demo tenant's key) may arrive later, on the other stream.
   */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
}

export async function spawnServer(env: Record<string, string>, timeoutMs = 10_000, flags: string[] = []): Promise<ServerProcess> {
  const proc = Bun.spawn(["bun", "run", mainTs, "serve", ...flags], {
    env: { ...process.env, PORT: "0", HOST: "127.0.0.1", ...env },
    stdout: "pipe",
    stderr: "pipe",
  });
  let text = "";
  const pump = async (stream: ReadableStream<Uint8Array>) => {
    const decoder = new TextDecoder();
    const reader = stream.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      text += decoder.decode(value, { stream: true });
    }
  };
  void pump(proc.stdout as ReadableStream<Uint8Array>);
  void pump(proc.stderr as ReadableStream<Uint8Array>);
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const match = text.match(/"msg":"listening","url":"http:\/\/[^:]+:(\d+)\//);
    if (match) {
      const waitFor = async (pattern: RegExp, ms = 10_000) => {
        const until = Date.now() + ms;
        for (;;) {
          const found = text.match(pattern);
          if (found) return found;
          if (Date.now() > until || proc.exitCode !== null) throw new Error(`${pattern} never printed:\n${text}`);
          await Bun.sleep(20);
        }
      };
      return { proc, url: `http://127.0.0.1:${match[1]}`, output: () => text, waitFor };
    }
    if (proc.exitCode !== null) break;
    await Bun.sleep(20);
  }
  proc.kill();
  throw new Error(`server did not start:\n${text}`);
}

/** A free TCP port on loopback (bind port 0, read it, release it). */
export function freePort(): number {
  const listener = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const { port } = listener;
  listener.stop(true);
  return port;
}
