import { describe, expect, test } from "bun:test";
import { ConfigError, loadConfig, settings } from "../src/config";

describe("configuration", () => {
  test("defaults are the embedded ones", () => {
    const config = loadConfig({}, {});
    expect(config).toMatchObject({ port: 3000, db: "./data/inlet.db", sessionTimeoutMinutes: 30, synchronous: "NORMAL", demo: true });
  });

  test("environment is read and flags override it", () => {
    const config = loadConfig({ PORT: "8080", TRUST_PROXY: "10.0.0.0/8, 192.168.0.0/16", INLET_DEMO: "false" }, { port: "9090" });
    expect(config.port).toBe(9090);
    expect(config.trustProxy).toEqual(["10.0.0.0/8", "192.168.0.0/16"]);
    expect(config.demo).toBe(false);
  });

  test("REDIS_URL: empty by default (each instance alone), a redis:// or rediss:// URL, --redis-url wins", () => {
    expect(loadConfig({}, {}).redisUrl).toBe("");
    expect(loadConfig({ REDIS_URL: " redis://:secret@10.0.0.5:6379/2 " }, {}).redisUrl).toBe("redis://:secret@10.0.0.5:6379/2");
    expect(loadConfig({ REDIS_URL: "redis://a:6379" }, { "redis-url": "rediss://b:6380" }).redisUrl).toBe("rediss://b:6380");
  });

  test.each([
    [{ PORT: "abc" }, /PORT = "abc": expected a whole number/],
    [{ PORT: "70000" }, /PORT.*0\.\.65535/],
    [{ SESSION_TIMEOUT_MINUTES: "0" }, /SESSION_TIMEOUT_MINUTES/],
    [{ INLET_SYNCHRONOUS: "sometimes" }, /expected one of NORMAL, FULL/],
    [{ INLET_DEMO: "maybe" }, /INLET_DEMO.*true or false/],
    [{ HOST: "not a host" }, /HOST/],
    [{ REDIS_URL: "http://127.0.0.1:6379" }, /REDIS_URL = "http:\/\/127.0.0.1:6379": expected a redis:\/\/ or rediss:\/\/ URL/],
  ])("rejects %p with a clear message", (env, message) => {
    expect(() => loadConfig(env, {})).toThrow(ConfigError);
    expect(() => loadConfig(env, {})).toThrow(message);
  });

  test("the operations guide documents every setting", async () => {
    const readme = await Bun.file(new URL("../docs/operations.md", import.meta.url)).text();
    for (const spec of Object.values(settings)) {
      expect(readme).toContain(`\`${spec.env}\``);
      expect(readme).toContain(`\`--${spec.flag}\``);
    }
  });
});
