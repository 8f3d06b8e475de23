import { describe, expect, test } from "bun:test";
import { ClientIpResolver, TrustedProxies } from "../../src/enrich/client-ip.ts";
import { normalizeIp } from "../../src/enrich/ip-address.ts";

const headers = (init: Record<string, string> = {}) => {
  const h = new Headers(init);
  return (name: string) => h.get(name);
};

describe("normalizeIp: one stored form per address", () => {
  test.each([
    ["::ffff:1.2.3.4", "1.2.3.4"],
    ["::FFFF:0102:0304", "1.2.3.4"],
    ["0:0:0:0:0:ffff:81.2.69.142", "81.2.69.142"],
    ["2001:DB8:0:0:0:0:0:1", "2001:db8::1"],
    ["2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"],
    ["[2001:db8::1]:443", "2001:db8::1"],
    ["1.2.3.4:5678", "1.2.3.4"],
    [" 8.8.8.8 ", "8.8.8.8"],
    ["fe80::1%eth0", "fe80::1"],
  ])("%p → %p", (raw, expected) => {
    expect(normalizeIp(raw)).toBe(expected);
  });

  test.each([["not-an-ip"], [""], ["1.2.3"], ["999.1.1.1"], [12345], [null], [undefined], ["1".repeat(100)]])("%p is not an address", (raw) => {
    expect(normalizeIp(raw)).toBeNull();
  });
});

describe("TrustedProxies", () => {
  const proxies = new TrustedProxies(["10.0.0.0/8", "192.168.1.7", "fd00::/8", "2001:db8:1::/48"]);

  test.each([
    ["10.200.3.4", true],
    ["11.0.0.1", false],
    ["192.168.1.7", true],
    ["192.168.1.8", false],
    ["fd12:3456::1", true],
    ["fe80::1", false],
    ["2001:db8:1:ffff::1", true],
    ["2001:db8:2::1", false],
  ])("%p trusted: %p", (ip, trusted) => {
    expect(proxies.contains(ip)).toBe(trusted);
  });

  test.each([["10.0.0.0/33"], ["fd00::/129"], ["10.0.0.0/x"], ["banana"], ["10.0.0.0/8/8"], [""], ["10.0.0/8"]])(
    "a bad entry %p fails at start with an error naming it",
    (cidr) => {
      expect(() => new TrustedProxies(["127.0.0.1/32", cidr])).toThrow(`Invalid trusted proxy "${cidr}"`);
    },
  );
});

describe("ClientIpResolver", () => {
  const resolver = new ClientIpResolver(["10.0.0.0/8", "fd00::/8"]);
  const resolve = (peerIp: string | null, hdrs: Record<string, string> = {}, payloadIp?: unknown) =>
    resolver.resolve({ peerIp, header: headers(hdrs), payloadIp });

  test("without a proxy, the socket address is the client", () => {
    expect(resolve("81.2.69.142")).toBe("81.2.69.142");
  });

  test("the socket address is looked up only when the payload brings no address of its own", () => {
    let lookups = 0;
    const peerIp = () => (lookups++, "81.2.69.142");
    expect(resolver.resolve({ peerIp, header: headers({}), payloadIp: "216.160.83.56" })).toBe("216.160.83.56");
    expect(lookups).toBe(0);
    expect(resolver.resolve({ peerIp, header: headers({}), payloadIp: "not an address" })).toBe("81.2.69.142");
    expect(lookups).toBe(1);
  });

  test("an untrusted peer cannot choose its address with X-Forwarded-For or X-Real-IP", () => {
    expect(resolve("81.2.69.142", { "x-forwarded-for": "8.8.8.8", "x-real-ip": "8.8.4.4" })).toBe("81.2.69.142");
    expect(resolve("2001:218::1", { "x-forwarded-for": "8.8.8.8" })).toBe("2001:218::1");
  });

  test("behind a trusted proxy, X-Forwarded-For names the client (IPv4 and IPv6 proxies)", () => {
    expect(resolve("10.0.0.5", { "x-forwarded-for": "81.2.69.142" })).toBe("81.2.69.142");
    expect(resolve("fd00::5", { "x-forwarded-for": "2001:218::1" })).toBe("2001:218::1");
  });

  test("the walk goes from the right past our own proxies; a spoofed leftmost entry is ignored", () => {
    // The client claimed 1.1.1.1; our edge proxy appended the real peer 81.2.69.142, then an inner proxy.
    expect(resolve("10.0.0.5", { "x-forwarded-for": "1.1.1.1, 81.2.69.142, 10.1.1.1" })).toBe("81.2.69.142");
  });

  test("when every hop is ours, the leftmost is the origin", () => {
    expect(resolve("10.0.0.5", { "x-forwarded-for": "10.9.9.9, 10.1.1.1" })).toBe("10.9.9.9");
  });

  test("an unparseable hop stops the walk at the last hop we could vouch for", () => {
    expect(resolve("10.0.0.5", { "x-forwarded-for": "81.2.69.142, garbage, 10.1.1.1" })).toBe("10.1.1.1");
  });

  test("XFF entries with ports and brackets are understood", () => {
    expect(resolve("10.0.0.5", { "x-forwarded-for": "[2001:218::1]:443" })).toBe("2001:218::1");
    expect(resolve("10.0.0.5", { "x-forwarded-for": "81.2.69.142:1234" })).toBe("81.2.69.142");
  });

  test("X-Real-IP is used behind a trusted proxy when there is no X-Forwarded-For", () => {
    expect(resolve("10.0.0.5", { "x-real-ip": "81.2.69.142" })).toBe("81.2.69.142");
  });

  test("a trusted proxy that sends no forwarding header is itself the client", () => {
    expect(resolve("10.0.0.5")).toBe("10.0.0.5");
  });

  test("a valid payload context.ip wins over everything", () => {
    expect(resolve("10.0.0.5", { "x-forwarded-for": "81.2.69.142" }, "216.160.83.56")).toBe("216.160.83.56");
    expect(resolve("81.2.69.142", {}, "2001:218::1")).toBe("2001:218::1");
  });

  test("an invalid payload context.ip is ignored", () => {
    expect(resolve("81.2.69.142", {}, "unknown")).toBe("81.2.69.142");
    expect(resolve("81.2.69.142", {}, { ip: "1.2.3.4" })).toBe("81.2.69.142");
  });

  test("IPv4-mapped IPv6 addresses become IPv4, including for the trust check", () => {
    expect(resolve("::ffff:81.2.69.142")).toBe("81.2.69.142");
    expect(resolve("::ffff:10.0.0.5", { "x-forwarded-for": "::ffff:216.160.83.56" })).toBe("216.160.83.56");
  });

  test("no peer and no payload address gives no address", () => {
    expect(resolve(null, { "x-forwarded-for": "81.2.69.142" })).toBeNull();
  });

  test("no trusted proxies configured: headers are never believed", () => {
    const none = new ClientIpResolver();
    expect(none.resolve({ peerIp: "127.0.0.1", header: headers({ "x-forwarded-for": "8.8.8.8" }), payloadIp: undefined })).toBe("127.0.0.1");
  });
});
