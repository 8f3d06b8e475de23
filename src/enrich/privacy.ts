import { formatIpv6, ipFamily, ipv6Words } from "./ip-address.ts";
import type { IpPolicy } from "./settings.ts";

/**
 * What of the client IP is stored, per the tenant's IP policy. Geolocation is looked up with the
 * full address before this runs, so anonymizing costs no geo precision.
 */

/** The IP to store under `context.ip`, or undefined to store none. `ip` must be normalized. */
export function applyIpPolicy(ip: string | null, policy: IpPolicy): string | undefined {
  if (ip === null) return undefined;
  switch (policy) {
    case "full":
      return ip;
    case "anonymize":
      return anonymizeIp(ip);
    case "drop":
      return undefined;
    default:
      // A policy this code does not know (a newer config?) must not leak addresses.
      return undefined;
  }
}

/**
 * The network part only: IPv4 keeps its /24 (1.2.3.4 → 1.2.3.0), IPv6 its /48
 * (2001:db8:abcd:12::1 → 2001:db8:abcd::), the usual prefix of one site. Undefined for text that
 * is not an address, so that nothing unanonymized can slip through.
 */
export function anonymizeIp(ip: string): string | undefined {
  const family = ipFamily(ip);
  if (family === 4) return ip.slice(0, ip.lastIndexOf(".")) + ".0";
  if (family === 6) {
    const words = ipv6Words(ip);
    return formatIpv6([words[0], words[1], words[2], 0, 0, 0, 0, 0]);
  }
  return undefined;
}
