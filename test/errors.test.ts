/**
 * Every refusal in the one error format with a request id and a log line that says why; the
 * OpenAPI document's examples are accepted by their routes ("Try it out" works); /metrics binding.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { cli, tempDir } from "./helpers/server";
import { spawnServer, type ServerProcess, freePort } from "./helpers/process";
import { join } from "node:path";

let server: ServerProcess;
let writeKey: string;
let tenantId: string;
let adminKey: string;
let db: string;
const OPERATOR_TOKEN = "operator-token-for-the-errors-test";
beforeAll(async () => {
  db = join(tempDir(), "inlet.db");
  ({ key: writeKey, tenantId } = JSON.parse((await cli(["tenant", "create", "errors"], { INLET_DB: db })).stdout));
  adminKey = JSON.parse((await cli(["key", "create", "--tenant", tenantId, "--admin"], { INLET_DB: db })).stdout).key;
  server = await spawnServer({ INLET_DB: db, LOG_LEVEL: "info", INLET_OPERATOR_TOKEN: OPERATOR_TOKEN });
});
afterAll(async () => {
  server.proc.kill("SIGTERM");
  await server.proc.exited;
});

/** The request log line of a request id (it is written after the answer: waits for it). */
async function logLine(requestId: string): Promise<Record<string, any>> {
  for (let i = 0; i < 200; i++) {
    const line = server
      .output()
      .split("\n")
      .find((l) => l.includes(`"requestId":"${requestId}"`) && l.includes('"msg":"request"'));
    if (line) return JSON.parse(line);
    await Bun.sleep(10);
  }
  throw new Error(`no log line for ${requestId}`);
}

async function expectRefusal(response: Response, status: number, code: string): Promise<Record<string, any>> {
  const body = await response.json();
  expect({ status: response.status, code: body.error?.code }).toEqual({ status, code });
  expect(body.requestId).toBe(response.headers.get("x-request-id")!);
  const line = await logLine(body.requestId);
  expect(line).toMatchObject({ status, errorCode: code });
  return { body, line };
}

describe("refusals", () => {
  test("a body over 1 MB gets the JSON 413 with a request id and a log line (not the socket's bare 413)", async () => {
    const big = JSON.stringify({ batch: [], pad: "x".repeat(3 * 1024 * 1024) });
    const response = await fetch(`${server.url}/v1/batch`, {
      method: "POST",
      headers: { authorization: `Bearer ${writeKey}`, "content-type": "application/json" },
      body: big,
    });
    await expectRefusal(response, 413, "payload_too_large");
  });

  test("an invalid event: the log line names the first failing path", async () => {
    const response = await fetch(`${server.url}/v1/track`, {
      method: "POST",
      headers: { authorization: `Bearer ${writeKey}`, "content-type": "application/json" },
      body: JSON.stringify({ anonymousId: "a" }),
    });
    const { body, line } = await expectRefusal(response, 400, "invalid_request");
    expect(body.error.details).toEqual([{ path: "/event", message: "Required: expected a non-empty string of at most 200 characters" }]);
    expect(line.errorPath).toBe("/event");
  });

  test("a Content-Type that is not JSON or text is a 415 naming the accepted types", async () => {
    const response = await fetch(`${server.url}/v1/track`, {
      method: "POST",
      headers: { authorization: `Bearer ${writeKey}`, "content-type": "application/xml" },
      body: "<track/>",
    });
    const { body } = await expectRefusal(response, 415, "unsupported_media_type");
    expect(body.error.message).toContain("application/json or text/plain");
  });

  test("a wrong method on a known route is a 405 with Allow", async () => {
    const response = await fetch(`${server.url}/v1/b`, { method: "PUT", body: "{}" });
    await expectRefusal(response, 405, "method_not_allowed");
    expect(response.headers.get("allow")).toBe("POST");
  });
});

describe("the OpenAPI document as Swagger UI uses it", () => {
  test("every request schema has an example that its route accepts (2xx), and error statuses have their own description and example", async () => {
    const doc = await (await fetch(`${server.url}/swagger/json`)).json();
    let posted = 0;
    for (const [path, operations] of Object.entries<Record<string, any>>(doc.paths)) {
      for (const [method, operation] of Object.entries<any>(operations)) {
        const descriptions = new Set<string>();
        for (const [status, response] of Object.entries<any>(operation.responses ?? {})) {
          if (Number(status) < 400) continue;
          expect({ path, status, description: response.description }).toEqual({ path, status, description: expect.any(String) });
          // Swagger UI builds the example from the properties' examples.
          const properties = response.content["application/json"].schema.properties;
          for (const [name, property] of Object.entries<any>(properties))
            expect({ path, status, name, example: property.example }).toEqual({ path, status, name, example: expect.anything() });
          if (properties.error) expect(properties.error.example.code).toBeString();
          descriptions.add(response.description);
        }
        expect(descriptions.size).toBe(Object.keys(operation.responses ?? {}).filter((s) => Number(s) >= 400).length);
        const schema = operation.requestBody?.content?.["application/json"]?.schema;
        if (!schema) continue;
        expect({ path, example: schema.example }).toEqual({ path, example: expect.any(Object) });
        // Each route with the credential it takes: ingestion a write key, the admin API the operator token or an admin key.
        const operator = (operation.security ?? []).some((s: Record<string, unknown>) => "operator" in s);
        const key = operator ? OPERATOR_TOKEN : operation.tags?.includes("Admin") || path.startsWith("/v1/privacy/") ? adminKey : writeKey;
        const url = server.url + path.replace("{tenantId}", tenantId);
        const response = await fetch(url, {
          method: method.toUpperCase(),
          headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
          body: JSON.stringify(schema.example),
        });
        // 201 for what the admin API creates.
        const created = method === "post" && operation.tags?.includes("Admin");
        expect({ path, status: response.status, body: await response.json() }).toMatchObject({ path, status: created ? 201 : 200 });
        posted++;
      }
    }
    expect(posted).toBeGreaterThanOrEqual(14);
  });
});

describe("/metrics binding", () => {
  test("loopback callers only by default: a request through a local proxy is refused", async () => {
    expect((await fetch(`${server.url}/metrics`)).status).toBe(200);
    const proxied = await fetch(`${server.url}/metrics`, { headers: { "x-forwarded-for": "198.51.100.7" } });
    await expectRefusal(proxied, 403, "forbidden");
  });

  test("with METRICS_PORT, /metrics is on its own listener only", async () => {
    const separate = await spawnServer({ INLET_DB: db, METRICS_PORT: String(await freePort()), LOG_LEVEL: "info" });
    try {
      const metricsUrl = separate.output().match(/"metricsUrl":"(http:\/\/[^"]+?)\/?"/)![1]!;
      expect((await fetch(`${metricsUrl}/metrics`)).status).toBe(200);
      expect((await fetch(`${separate.url}/metrics`)).status).toBe(404);
    } finally {
      separate.proc.kill("SIGTERM");
      await separate.proc.exited;
    }
  });

  test("with METRICS_TOKEN, /metrics on the public port needs the token", async () => {
    const open = await spawnServer({ INLET_DB: db, METRICS_TOKEN: "s3cret" });
    try {
      expect((await fetch(`${open.url}/metrics`)).status).toBe(401);
      expect((await fetch(`${open.url}/metrics`, { headers: { authorization: "Bearer s3cret", "x-forwarded-for": "198.51.100.7" } })).status).toBe(200);
    } finally {
      open.proc.kill("SIGTERM");
      await open.proc.exited;
    }
  });
});
