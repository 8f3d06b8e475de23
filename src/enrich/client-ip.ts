import { BlockList } from "node:net";
import { ipFamily, normalizeIp } from "./ip-address.ts";

/**
 * Which address an event came from. Forwarding headers are only believed when the TCP peer is one
 * of our own proxies: anyone else can write any X-Forwarded-For they like.
 */

/** Reads one request header (case-insensitive name), null when absent. */
export type HeaderGetter = (name: string) => string | null;

/**
 * The TCP peer address as the server saw it, or a function that looks it up: asking the socket
 * costs a few µs per request, and a payload that brings its own `context.ip` does not need it.
 */
export type PeerIp = string | null | (() => string | null);

export interface ClientIpSources {
  peerIp: PeerIp;
  header: HeaderGetter;
  /** `context.ip` from the payload: server-side SDKs send the end user's address there. */
  payloadIp: unknown;
}

/** The trusted proxy list (TRUST_PROXY), parsed once into a matcher. */
export class TrustedProxies {
  private readonly matcher = new BlockList();
  readonly size: number;

  /**
   * @param cidrs IPv4 or IPv6 CIDRs ("10.0.0.0/8", "fd00::/8"); a bare address means that one host.
   * @throws Error naming the first entry that is not a valid address or CIDR, so a bad setting
   *   stops the server at start instead of silently trusting nobody (or everybody).
   */
  constructor(cidrs: readonly string[]) {
    for (const entry of cidrs) this.add(entry);
    this.size = cidrs.length;
  }

  /** True when `ip` (normalized, see normalizeIp) is one of our proxies. */
  contains(ip: string): boolean {
    if (this.size === 0) return false;
    const family = ipFamily(ip);
    return family !== null && this.matcher.check(ip, family === 4 ? "ipv4" : "ipv6");
  }

  private add(entry: string): void {
    const invalid = (why: string) => new Error(`Invalid trusted proxy "${entry}": ${why} (expected an address or CIDR such as 10.0.0.0/8 or fd00::/8)`);
    const [addressText, prefixText, extra] = entry.trim().split("/");
    if (extra !== undefined) throw invalid("more than one '/'");
    const address = normalizeIp(addressText);
    const family = address === null ? null : ipFamily(address);
    if (address === null || family === null) throw invalid("not an IPv4 or IPv6 address");
    const maxPrefix = family === 4 ? 32 : 128;
    if (prefixText === undefined) {
      this.matcher.addAddress(address, family === 4 ? "ipv4" : "ipv6");
      return;
    }
    if (!/^\d{1,3}$/.test(prefixText) || Number(prefixText) > maxPrefix) {
      throw invalid(`prefix length must be 0 to ${maxPrefix}`);
    }
    this.matcher.addSubnet(address, Number(prefixText), family === 4 ? "ipv4" : "ipv6");
  }
}

/**
 * Resolution order:
 * 1. a valid `context.ip` in the payload (server-side SDKs forward their user's address);
 * 2. when the peer is a trusted proxy: X-Forwarded-For, walked from the right past our own
 *    proxies to the first address we do not operate, else X-Real-IP;
 * 3. the socket peer address.
 */
export class ClientIpResolver {
  private readonly proxies: TrustedProxies;

  constructor(trustedProxyCidrs: readonly string[] = []) {
    this.proxies = new TrustedProxies(trustedProxyCidrs);
  }

  /** The client address in canonical form (see normalizeIp), or null when none is known. */
  resolve(sources: ClientIpSources): string | null {
    const fromPayload = normalizeIp(sources.payloadIp);
    if (fromPayload !== null) return fromPayload;
    const peer = normalizeIp(typeof sources.peerIp === "function" ? sources.peerIp() : sources.peerIp);
    if (peer === null || !this.proxies.contains(peer)) return peer;
    return this.fromForwardedFor(sources.header("x-forwarded-for"), peer) ?? normalizeIp(sources.header("x-real-ip")) ?? peer;
  }

  /**
   * Each proxy appends the address it received the request from, so the list reads
   * "client, proxy1, proxy2" and only the entries our own proxies appended can be believed.
   * Walking from the right, the first address that is not one of ours is the client. An entry
   * that does not parse ends the walk: nothing to its left can be trusted, so the client is
   * taken to be the last hop we could vouch for. When every entry is ours, the leftmost is the
   * origin (an internal caller).
   */
  private fromForwardedFor(header: string | null, peer: string): string | null {
    if (header === null || header.trim() === "") return null;
    const hops = header.split(",");
    let lastTrusted = peer;
    for (let i = hops.length - 1; i >= 0; i--) {
      const hop = normalizeIp(hops[i]);
      if (hop === null) return lastTrusted;
      if (!this.proxies.contains(hop)) return hop;
      lastTrusted = hop;
    }
    return lastTrusted;
  }
}
