import { lookup as dnsLookup } from "node:dns/promises";
import { isIP } from "node:net";
import { ActionError, NonRetriableError } from "@nexus/core";
import ipaddr from "ipaddr.js";

/**
 * The research agent's SSRF guard: which URLs it may fetch, and the one address it may connect to for each.
 *
 * A URL passes when its scheme is http or https, it carries no credentials, and every address its host
 * resolves to is public unicast (or the host, address or range is on the allow-list). Hosts are read with
 * the WHATWG URL parser, so decimal, octal and hex IPv4 forms (`2130706433`, `0x7f.1`, `0177.0.0.1`) arrive
 * here as the dotted quad they mean. The caller connects to the address returned, never to the name again:
 * a second DNS answer (DNS rebinding) cannot redirect the connection.
 */

/** The guard refused a URL or an address. Not retriable: the same request is refused every time. */
export class SsrfBlockedError extends NonRetriableError {
  constructor(message: string) {
    super("ssrf_blocked", message);
  }
}

/** Resolves a host name to its addresses (all of them). */
export type Resolver = (hostname: string, signal?: AbortSignal) => Promise<string[]>;

export const DNS_TIMEOUT_MS = 5_000;

/** The system resolver (`getaddrinfo`, as Node's own connections use), every address, with a time cap. */
export const systemResolver: Resolver = async (hostname, signal) => {
  const timeout = AbortSignal.timeout(DNS_TIMEOUT_MS);
  const combined = signal ? AbortSignal.any([signal, timeout]) : timeout;
  const answer = dnsLookup(hostname, { all: true, verbatim: true });
  const aborted = new Promise<never>((_, reject) => {
    combined.addEventListener("abort", () => reject(new Error(`DNS lookup of ${hostname} timed out`)), {
      once: true,
    });
  });
  answer.catch(() => undefined);
  const records = await Promise.race([answer, aborted]);
  return records.map((record) => record.address);
};

type Address = ipaddr.IPv4 | ipaddr.IPv6;

/** One allow-list entry: a host name, an address or a CIDR range, optionally with one port. */
export interface AllowRule {
  host?: string;
  range?: [Address, number];
  port?: number;
}

/**
 * Parses `NEXUS_SSRF_ALLOW`: comma-separated entries, each a host name (`intranet.example`), an address
 * (`127.0.0.1`, `::1`), a CIDR range (`10.1.0.0/16`, `fd00::/8`), optionally with a port
 * (`127.0.0.1:8080`, `[::1]:8080`, `intranet.example:443`). Throws on an entry it cannot read.
 */
export function parseAllowList(text: string | undefined): AllowRule[] {
  const rules: AllowRule[] = [];
  for (const raw of (text ?? "").split(",")) {
    const entry = raw.trim().toLowerCase();
    if (!entry) continue;
    rules.push(parseAllowEntry(entry));
  }
  return rules;
}

function parseAllowEntry(entry: string): AllowRule {
  let hostPart = entry;
  let port: number | undefined;
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(entry);
  if (bracketed) {
    hostPart = bracketed[1] ?? "";
    if (bracketed[2] !== undefined) port = Number(bracketed[2]);
  } else if (!entry.includes("/") && /^[^:]+:\d+$/.test(entry)) {
    const at = entry.lastIndexOf(":");
    hostPart = entry.slice(0, at);
    port = Number(entry.slice(at + 1));
  }
  if (port !== undefined && !(Number.isInteger(port) && port > 0 && port < 65536)) {
    throw new Error(`NEXUS_SSRF_ALLOW entry '${entry}' has an invalid port`);
  }
  const withPort = port === undefined ? {} : { port };
  if (hostPart.includes("/")) {
    if (!ipaddr.isValidCIDR(hostPart)) throw new Error(`NEXUS_SSRF_ALLOW entry '${entry}' is not a valid CIDR range`);
    const [address, bits] = ipaddr.parseCIDR(hostPart);
    return {
      range: [normalise(address), address.kind() === "ipv6" && isMapped(address) ? bits - 96 : bits],
      ...withPort,
    };
  }
  if (isIP(hostPart)) {
    const address = normalise(ipaddr.parse(hostPart));
    return { range: [address, address.kind() === "ipv4" ? 32 : 128], ...withPort };
  }
  if (!/^[a-z0-9.-]+$/.test(hostPart) || hostPart.startsWith(".") || hostPart.includes("..")) {
    throw new Error(`NEXUS_SSRF_ALLOW entry '${entry}' is not a host name, address or CIDR range`);
  }
  return { host: hostPart.replace(/\.$/, ""), ...withPort };
}

function isMapped(address: Address): boolean {
  return address.kind() === "ipv6" && (address as ipaddr.IPv6).isIPv4MappedAddress();
}

/** IPv4-mapped IPv6 (`::ffff:a.b.c.d`) is the IPv4 address it carries: that is where a socket goes. */
function normalise(address: Address): Address {
  return isMapped(address) ? (address as ipaddr.IPv6).toIPv4Address() : address;
}

function embeddedIPv4(address: ipaddr.IPv6, fromPart: number): ipaddr.IPv4 {
  const hi = address.parts[fromPart] ?? 0;
  const lo = address.parts[fromPart + 1] ?? 0;
  return new ipaddr.IPv4([hi >> 8, hi & 0xff, lo >> 8, lo & 0xff]);
}

const GLOBAL_UNICAST_V6 = ipaddr.parseCIDR("2000::/3");
const NAT64_WELL_KNOWN = ipaddr.parseCIDR("64:ff9b::/96");

/**
 * Why an address must not be reached, or undefined when it is public unicast. Denies by default: IPv4
 * passes only as ipaddr.js's `unicast` range, IPv6 only inside 2000::/3 and outside every special range;
 * addresses that carry an IPv4 address (IPv4-mapped, IPv4-translated, NAT64 64:ff9b::/96, 6to4) are
 * judged by the IPv4 address they carry.
 */
export function blockedReason(ip: string): string | undefined {
  if (!isIP(ip)) return "not an IP address";
  const parsed = ipaddr.parse(ip);
  if (parsed.kind() === "ipv4") {
    const range = (parsed as ipaddr.IPv4).range();
    return range === "unicast" ? undefined : `${range} address`;
  }
  const v6 = parsed as ipaddr.IPv6;
  const range = v6.range();
  switch (range) {
    case "ipv4Mapped":
    case "rfc6145": {
      const inner = blockedReason(embeddedIPv4(v6, 6).toString());
      return inner ? `IPv4-mapped ${inner}` : undefined;
    }
    case "rfc6052": {
      if (!v6.match(NAT64_WELL_KNOWN)) return "local-use NAT64 address";
      const inner = blockedReason(embeddedIPv4(v6, 6).toString());
      return inner ? `NAT64 ${inner}` : undefined;
    }
    case "6to4": {
      const inner = blockedReason(embeddedIPv4(v6, 1).toString());
      return inner ? `6to4 ${inner}` : undefined;
    }
    case "unicast":
      return v6.match(GLOBAL_UNICAST_V6) ? undefined : "reserved IPv6 address";
    default:
      return `${range} IPv6 address`;
  }
}

/** Whether the allow-list lets this host name (as written in the URL) or address be reached on this port. */
function allowed(rules: AllowRule[], port: number, hostname: string | undefined, ip: string | undefined): boolean {
  const address = ip ? normalise(ipaddr.parse(ip)) : undefined;
  return rules.some((rule) => {
    if (rule.port !== undefined && rule.port !== port) return false;
    if (rule.host !== undefined) return hostname !== undefined && rule.host === hostname;
    if (rule.range && address) {
      const [base, bits] = rule.range;
      return base.kind() === address.kind() && address.match(base, bits);
    }
    return false;
  });
}

export interface SsrfPolicy {
  allow: AllowRule[];
  resolve: Resolver;
}

/** Where a checked URL may be reached: its host name (for the Host header and TLS SNI) and the one address. */
export interface CheckedTarget {
  url: URL;
  /** The host as written in the URL, without IPv6 brackets. */
  hostname: string;
  port: number;
  address: string;
  family: 4 | 6;
}

const MAX_URL_LENGTH = 8192;

/**
 * Parses a URL and checks what the guard can see without DNS: the scheme (http/https only), no user name or
 * password. Throws {@link SsrfBlockedError}.
 */
export function parseTargetUrl(raw: string | URL): URL {
  const text = String(raw);
  if (text.length > MAX_URL_LENGTH) throw new SsrfBlockedError(`URL is longer than ${MAX_URL_LENGTH} characters`);
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new SsrfBlockedError("not a valid absolute URL");
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new SsrfBlockedError(`scheme '${url.protocol.replace(/:$/, "")}' is refused: only http and https`);
  }
  if (url.username || url.password) throw new SsrfBlockedError("URLs with credentials are refused");
  if (!url.hostname) throw new SsrfBlockedError("URL has no host");
  return url;
}

export const defaultPort = (url: URL) => (url.port ? Number(url.port) : url.protocol === "https:" ? 443 : 80);

/**
 * Checks a URL and returns the one address to connect to. Host names are resolved once; every address they
 * resolve to must pass (one bad answer refuses the lot, so a round-robin of public and private addresses
 * cannot slip through). Throws {@link SsrfBlockedError}; DNS failures are retriable `dns_error`s.
 */
export async function checkTarget(raw: string | URL, policy: SsrfPolicy, signal?: AbortSignal): Promise<CheckedTarget> {
  const url = parseTargetUrl(raw);
  const hostname = url.hostname.replace(/^\[(.*)\]$/, "$1").toLowerCase();
  const port = defaultPort(url);
  const shown = url.port ? `${url.hostname}:${url.port}` : url.hostname;
  const literal = isIP(hostname);
  const nameAllowed = !literal && allowed(policy.allow, port, hostname.replace(/\.$/, ""), undefined);

  let addresses: string[];
  if (literal) {
    addresses = [hostname];
  } else {
    try {
      addresses = await policy.resolve(hostname, signal);
    } catch (error) {
      const code = (error as { code?: string }).code;
      if (code === "ENOTFOUND" || code === "ENODATA") {
        throw new NonRetriableError("dns_not_found", `host '${url.hostname}' does not resolve`, { cause: error });
      }
      throw new ActionError("dns_error", `DNS lookup of '${url.hostname}' failed: ${(error as Error).message}`, {
        cause: error,
      });
    }
    if (addresses.length === 0) throw new NonRetriableError("dns_not_found", `host '${url.hostname}' has no address`);
  }
  for (const address of addresses) {
    if (!isIP(address)) throw new SsrfBlockedError(`host '${url.hostname}' resolved to something that is not an IP`);
    if (nameAllowed || allowed(policy.allow, port, undefined, address)) continue;
    const reason = blockedReason(address);
    if (reason) {
      const via = literal ? "" : ` (resolved from '${url.hostname}')`;
      throw new SsrfBlockedError(`${shown} is refused: ${address} is a ${reason}${via}`);
    }
  }
  const address = addresses[0] as string;
  return { url, hostname, port, address, family: isIP(address) === 6 ? 6 : 4 };
}

/**
 * A policy whose resolver answers each host name once per task: the request interceptor and the browser's
 * proxy see the same addresses, and a host cannot answer differently later in the same task.
 */
export function pinnedPolicy(policy: SsrfPolicy): SsrfPolicy {
  const answers = new Map<string, Promise<string[]>>();
  return {
    allow: policy.allow,
    resolve: (hostname, signal) => {
      let answer = answers.get(hostname);
      if (!answer) {
        answer = policy.resolve(hostname, signal);
        answers.set(hostname, answer);
        answer.catch(() => answers.delete(hostname));
      }
      return answer;
    },
  };
}
