/**
 * Keys in logs: the request log of a real `inlet serve` never carries a whole key, wherever the
 * request put it (the settings route's path, a `writeKey=` query parameter); a prefix is enough
 * to tell keys apart.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { join } from "node:path";
import { cli, ndjson, storeEnv, TEST_STORE, tempDir } from "../helpers/server";
import { createTestDatabase, type TestDatabase } from "../helpers/postgres";
import { spawnServer, type ServerProcess } from "../helpers/process";

let server: ServerProcess;
let key: string;
let database: TestDatabase | null = null;

beforeAll(async () => {
  if (TEST_STORE === "postgres") database = await createTestDatabase("logkeys");
  const store = storeEnv(database?.url ?? join(tempDir("inlet-logkeys-"), "inlet.db"));
  const created = await cli(["tenant", "create", "logs"], store);
  key = JSON.parse(created.stdout).key;
  server = await spawnServer({ ...store, INLET_DEMO: "false", LOG_LEVEL: "info" });
});
afterAll(async () => {
  server.proc.kill();
  await server.proc.exited;
  await database?.drop();
});

test("the request log shows key prefixes only: settings path, writeKey in the query, and a key that is not one", async () => {
  const requests = [
    `/v1/projects/${key}/settings`,
    `/v1/projects/${encodeURIComponent(key)}/settings?x=1`,
    `/v1/projects/not-a-real-key-but-secret-anyway/settings`,
    `/v1/t?writeKey=${key}`,
  ];
  for (const path of requests) {
    const response = await fetch(server.url + path, {
      method: path.startsWith("/v1/t") ? "POST" : "GET",
      body: path.startsWith("/v1/t") ? JSON.stringify({ event: "e", anonymousId: "a" }) : undefined,
    });
    await response.arrayBuffer();
  }
  // The log is flushed on the next tick; wait until the four lines are there.
  const deadline = Date.now() + 10_000;
  const lines = () =>
    ndjson(
      server
        .output()
        .split("\n")
        .filter((l) => l.startsWith("{"))
        .join("\n"),
    ).filter((l) => l.msg === "request");
  while (lines().length < requests.length && Date.now() < deadline) await Bun.sleep(20);
  const logged = lines();
  expect(logged.length).toBeGreaterThanOrEqual(requests.length);
  const output = server.output();
  expect(output).not.toContain(key);
  expect(output).not.toContain(encodeURIComponent(key));
  expect(output).not.toContain("not-a-real-key-but-secret-anyway");
  // What is there: the prefix `inlet key list` shows.
  expect(logged.some((l) => l.path === `/v1/projects/${key.slice(0, 11)}…/settings`)).toBe(true);
});
