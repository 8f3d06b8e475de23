import { isIP } from "node:net";

/**
 * One canonical text form per IP address, so that the same client always stores (and anonymizes,
 * and matches against proxy lists) the same string: IPv4-mapped IPv6 becomes plain IPv4, IPv6 is
 * lower-cased and compressed as RFC 5952 says, ports, brackets and zone ids are removed.
 */

/** Longer than any textual IP with a port; anything longer is rejected before parsing. */
const MAX_IP_TEXT_LENGTH = 64;
const IPV4_WITH_PORT = /^(\d{1,3}(?:\.\d{1,3}){3}):\d{1,5}$/;

/**
 * Recent answers of normalizeIp (a pure function): every event of a visitor carries the same
 * address, and parsing one (node:net's isIP is a large regular expression for IPv6) costs more
 * than a map lookup. Starts over when full.
 */
const normalized = new Map<string, string | null>();
const NORMALIZED_CACHE_SIZE = 10_000;

/** The address in canonical form, or null when `raw` is not an IP address. */
export function normalizeIp(raw: unknown): string | null {
  if (typeof raw !== "string") return null;
  // Long text (whitespace around an address, or junk) is not kept as a key.
  if (raw.length > MAX_IP_TEXT_LENGTH) return normalizeIpText(raw);
  let result = normalized.get(raw);
  if (result === undefined) {
    result = normalizeIpText(raw);
    if (normalized.size >= NORMALIZED_CACHE_SIZE) normalized.clear();
    normalized.set(raw, result);
  }
  return result;
}

function normalizeIpText(raw: string): string | null {
  let text = raw.trim();
  if (text.length === 0 || text.length > MAX_IP_TEXT_LENGTH) return null;
  text = stripPortAndBrackets(text);
  // A zone id ("fe80::1%eth0") names an interface on the sender's host: meaningless to us.
  const zone = text.indexOf("%");
  if (zone !== -1) text = text.slice(0, zone);

  const family = isIP(text);
  if (family === 4) return text;
  if (family !== 6) return null;
  const words = ipv6Words(text);
  if (isIpv4Mapped(words)) return ipv4FromWords(words[6], words[7]);
  return formatIpv6(words);
}

/** The IP family of an already-normalized address. */
export function ipFamily(ip: string): 4 | 6 | null {
  const family = isIP(ip);
  return family === 4 || family === 6 ? family : null;
}

/** "[2001:db8::1]:443" → "2001:db8::1", "1.2.3.4:5678" → "1.2.3.4" (some proxies add ports). */
function stripPortAndBrackets(text: string): string {
  if (text.startsWith("[")) {
    const close = text.indexOf("]");
    return close === -1 ? text : text.slice(1, close);
  }
  const v4 = IPV4_WITH_PORT.exec(text);
  return v4 ? v4[1] : text;
}

/** The eight 16-bit words of a valid IPv6 address (one `isIP` accepts, without zone id). */
export function ipv6Words(ip: string): number[] {
  const halves = ip.split("::");
  const head = halves[0] === "" ? [] : halves[0].split(":");
  const tail = halves.length > 1 && halves[1] !== "" ? halves[1].split(":") : [];
  const toWords = (groups: string[]): number[] => {
    const words: number[] = [];
    for (const group of groups) {
      if (group.includes(".")) {
        // An embedded dotted quad ("::ffff:1.2.3.4", "64:ff9b::1.2.3.4") is the last two words.
        const [a, b, c, d] = group.split(".").map(Number);
        words.push((a << 8) | b, (c << 8) | d);
      } else {
        words.push(parseInt(group, 16));
      }
    }
    return words;
  };
  const headWords = toWords(head);
  const tailWords = toWords(tail);
  const zeros = new Array<number>(8 - headWords.length - tailWords.length).fill(0);
  return [...headWords, ...zeros, ...tailWords];
}

/** RFC 5952 text: lower-case hex, no leading zeros, the longest run (2+) of zero words as "::". */
export function formatIpv6(words: readonly number[]): string {
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8; ) {
    if (words[i] !== 0) {
      i++;
      continue;
    }
    let end = i;
    while (end < 8 && words[end] === 0) end++;
    if (end - i > bestLength) {
      bestStart = i;
      bestLength = end - i;
    }
    i = end;
  }
  const hex = (list: readonly number[]) => list.map((word) => word.toString(16)).join(":");
  if (bestStart === -1) return hex(words);
  return `${hex(words.slice(0, bestStart))}::${hex(words.slice(bestStart + bestLength))}`;
}

function isIpv4Mapped(words: readonly number[]): boolean {
  return words[0] === 0 && words[1] === 0 && words[2] === 0 && words[3] === 0 && words[4] === 0 && words[5] === 0xffff;
}

function ipv4FromWords(high: number, low: number): string {
  return `${high >> 8}.${high & 0xff}.${low >> 8}.${low & 0xff}`;
}
