/**
 * The baseline: the least an HTTP JSON endpoint can do on this runtime. A bare Bun.serve that
 * reads the request body, JSON.parses it and answers {"ok":true}. No auth, validation or storage.
 * bench/run.ts drives it with the same wrk script, bodies and connections as the real server,
 * and reports Inlet's rate as a ratio of this one, measured in the same run.
 *
 *   PORT=<port> bun run bench/baseline-server.ts
 */
const server = Bun.serve({
  hostname: "127.0.0.1",
  port: Number(process.env.PORT ?? 0),
  async fetch(request) {
    if (request.method === "GET") return new Response("ok");
    JSON.parse(await request.text());
    return Response.json({ ok: true });
  },
});

process.stderr.write(`baseline listening on ${server.url.href}\n`);
process.on("SIGTERM", () => {
  server.stop(true);
  process.exit(0);
});
