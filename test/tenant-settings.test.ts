import { afterAll, describe, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { logger } from "../src/logger";
import { parseSettings } from "../src/modules/tenants/settings";
import { spawnServer } from "./helpers/process";
import { cli, exportEvents, tempDir } from "./helpers/server";

logger.setLevel("silent");
const dir = tempDir();
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("tenant settings from stored JSON", () => {
  test("valid values are kept", () => {
    expect(parseSettings(JSON.stringify({ ipPolicy: "anonymize", bots: "drop" }))).toMatchObject({ ipPolicy: "anonymize", bots: "drop" });
  });

  test("missing values take the defaults, field by field; so do invalid ones, except privacy", () => {
    const defaults = parseSettings(null);
    expect(defaults).toMatchObject({ ipPolicy: "full", bots: "flag" });
    expect(parseSettings(JSON.stringify({ bots: "keep" }))).toEqual({ ...defaults, bots: "keep" });
    expect(parseSettings(JSON.stringify({ ipPolicy: "anonymize", bots: 3 }))).toEqual({ ...defaults, ipPolicy: "anonymize" });
  });

  test("an unreadable privacy setting fails closed: the strictest IP policy (drop)", () => {
    const defaults = parseSettings(null);
    // A value this version does not know (a newer version wrote it), a wrong type, unreadable JSON, not an object.
    expect(parseSettings(JSON.stringify({ ipPolicy: "pseudonymize", bots: "keep" }))).toEqual({ ...defaults, ipPolicy: "drop", bots: "keep" });
    expect(parseSettings(JSON.stringify({ ipPolicy: 1 }))).toEqual({ ...defaults, ipPolicy: "drop" });
    expect(parseSettings("{not json")).toEqual({ ...defaults, ipPolicy: "drop" });
    expect(parseSettings("[]")).toEqual({ ...defaults, ipPolicy: "drop" });
  });
});

test("through the real server: a tenant whose settings row is damaged stores no IP, and the log names the tenant", async () => {
  const db = join(dir, "damaged.db");
  const tenant = JSON.parse((await cli(["tenant", "create", "t"], { INLET_DB: db })).stdout);
  const sqlite = new Database(db);
  // Set to drop, then damaged (a truncated write).
  sqlite.run("UPDATE tenants SET settings = ? WHERE id = ?", ['{"ipPolicy":"drop","bots":"fl', tenant.tenantId]);
  sqlite.close();
  const server = await spawnServer({ INLET_DB: db });
  try {
    const res = await fetch(`${server.url}/v1/events/track`, {
      method: "POST",
      headers: { authorization: `Bearer ${tenant.key}`, "x-forwarded-for": "81.2.69.142" },
      body: JSON.stringify({ event: "E", anonymousId: "a", context: { ip: "81.2.69.142" } }),
    });
    expect(res.status).toBe(200);
  } finally {
    server.proc.kill("SIGTERM");
    await server.proc.exited;
  }
  const events = await exportEvents(db, tenant.tenantId);
  expect(events).toHaveLength(1);
  expect(events[0]!.context.ip).toBeUndefined();
  const warning = server
    .output()
    .split("\n")
    .filter((line) => line.startsWith("{"))
    .map((line) => JSON.parse(line))
    .find((line) => line.level === "warn" && String(line.msg).includes("privacy setting"));
  expect(warning).toMatchObject({ tenantId: tenant.tenantId, settings: { ipPolicy: "drop" } });
});
