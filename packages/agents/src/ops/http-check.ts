import { performance } from "node:perf_hooks";
import { ActionError, NonRetriableError, propagateTrace } from "@nexus/core";
import type { HttpCheckParams } from "./spec.js";

export const MAX_REDIRECTS = 5;
const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);
const DEFAULT_PORTS: Record<string, number> = { "http:": 80, "https:": 443 };

/** One NEXUS_HTTP_ALLOW entry: a host as the URL parser writes it, and a port (none: the scheme's default port). */
export interface AllowEntry {
  host: string;
  port?: number;
}

const ENTRY = /^(\[[0-9a-f:.]+\]|[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?)(?::(\d{1,5}))?$/;

/**
 * Parses NEXUS_HTTP_ALLOW: comma-separated `host[:port]` (`internal.example.com`, `10.1.2.3:8080`, `[::1]:9000`).
 * A host must be written the way the URL parser writes it (lower case, IPv4 dotted-decimal, IPv6 compressed);
 * entries that are not are returned as `invalid` and allow nothing.
 */
export function parseAllowList(text: string): { entries: AllowEntry[]; invalid: string[] } {
  const entries: AllowEntry[] = [];
  const invalid: string[] = [];
  for (const raw of text.split(",")) {
    const entry = raw.trim().toLowerCase();
    if (!entry) continue;
    const match = ENTRY.exec(entry);
    const host = match?.[1];
    const port = match?.[2] === undefined ? undefined : Number(match[2]);
    let canonical: string | undefined;
    try {
      canonical = host === undefined ? undefined : new URL(`http://${host}/`).hostname;
    } catch {
      canonical = undefined;
    }
    if (!host || canonical !== host || (port !== undefined && (port < 1 || port > 65535))) {
      invalid.push(raw.trim());
      continue;
    }
    entries.push(port === undefined ? { host } : { host, port });
  }
  return { entries, invalid };
}

const refused = (url: string, why: string) => new NonRetriableError("host_not_allowed", `'${url}' is refused: ${why}`);

/** The host exactly as written in an absolute URL (userinfo and port removed), lower-cased. */
function writtenHost(url: string): string | undefined {
  const authority = /^[a-z][a-z0-9+.-]*:\/\/([^/?#\\]*)/i.exec(url)?.[1];
  if (authority === undefined) return undefined;
  const hostPort = authority.slice(authority.lastIndexOf("@") + 1).toLowerCase();
  if (hostPort.startsWith("[")) return hostPort.slice(0, hostPort.indexOf("]") + 1);
  const colon = hostPort.indexOf(":");
  return colon === -1 ? hostPort : hostPort.slice(0, colon);
}

/**
 * Checks a URL against the allow-list before anything connects: http(s) only; the host:port must be on the list
 * and written as the list writes it (so `2130706433`, `0x7f.1`, `127.1` or percent-encoded hosts never pass as
 * 127.0.0.1); no credentials in the URL. Throws NonRetriableError; returns the parsed URL.
 */
export function checkUrl(raw: string, allow: readonly AllowEntry[]): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new NonRetriableError("url_invalid", `'${raw.slice(0, 200)}' is not a valid URL`);
  }
  const defaultPort = DEFAULT_PORTS[url.protocol];
  if (defaultPort === undefined) {
    throw new NonRetriableError("scheme_not_allowed", `'${url.protocol}' URLs are refused; only http and https`);
  }
  const host = url.hostname;
  const port = url.port === "" ? defaultPort : Number(url.port);
  const written = writtenHost(raw);
  if (written !== host) throw refused(raw, `its host is not written in canonical form ('${written ?? ""}')`);
  const allowed = allow.some((entry) => entry.host === host && (entry.port ?? defaultPort) === port);
  if (!allowed) throw refused(raw, `${host}:${port} is not on NEXUS_HTTP_ALLOW`);
  if (url.username !== "" || url.password !== "") {
    throw new NonRetriableError("credentials_not_allowed", "URLs with credentials (user:password@) are refused");
  }
  return url;
}

export interface Redirect {
  url: string;
  status: number;
  location: string;
}

export interface HttpCheckResult {
  url: string;
  finalUrl: string;
  method: "GET" | "HEAD";
  status: number;
  ok: boolean;
  expectStatus: number | null;
  durationMs: number;
  redirects: Redirect[];
}

export interface HttpCheckOptions {
  allow: readonly AllowEntry[];
  defaultTimeoutMs: number;
  signal?: AbortSignal;
}

/** The next URL of a redirect, checked like the first: an absolute Location is checked as written. */
function redirectTarget(location: string, base: URL, allow: readonly AllowEntry[]): URL {
  let absolute: string;
  if (/^[a-z][a-z0-9+.-]*:/i.test(location)) absolute = location;
  else if (/^[/\\]{2}/.test(location)) absolute = `${base.protocol}${location}`;
  else {
    try {
      absolute = new URL(location, base).href;
    } catch {
      throw new NonRetriableError("redirect_invalid", `redirect to '${location.slice(0, 200)}' is not a valid URL`);
    }
  }
  try {
    return checkUrl(absolute, allow);
  } catch (error) {
    if (error instanceof NonRetriableError && error.code === "host_not_allowed") {
      throw new NonRetriableError("host_not_allowed", `redirect from ${base.href} refused: ${error.message}`);
    }
    throw error;
  }
}

/**
 * GET or HEAD of an allow-listed URL, redirects followed by hand (each target checked before it is fetched,
 * at most 5), the body discarded. A status that is not the expected one is a result (`ok: false`), not a failure;
 * refusals are NonRetriableError; network errors and timeouts are retriable ActionErrors.
 */
export async function httpCheck(params: HttpCheckParams, options: HttpCheckOptions): Promise<HttpCheckResult> {
  const { allow } = options;
  let url = checkUrl(params.url, allow);
  let method = params.method;
  const timeoutMs = params.timeoutMs ?? options.defaultTimeoutMs;
  const timeout = AbortSignal.timeout(timeoutMs);
  const signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout;
  const redirects: Redirect[] = [];
  const started = performance.now();
  for (;;) {
    let response: Response;
    try {
      // An allow-listed host is the operator's own: it gets the trace header, and can join the trace (trace.ts).
      response = await propagateTrace(() =>
        fetch(url, {
          method,
          redirect: "manual",
          signal,
          headers: { "user-agent": "nexus-ops-http-check/1", accept: "*/*" },
        }),
      );
    } catch (error) {
      if (timeout.aborted) {
        throw new ActionError("http_timeout", `${url.href} did not answer within ${timeoutMs} ms`, { cause: error });
      }
      const reason = error instanceof Error && error.cause instanceof Error ? error.cause.message : String(error);
      throw new ActionError("http_unreachable", `${url.href} could not be reached: ${reason}`, { cause: error });
    }
    await response.body?.cancel().catch(() => undefined);
    const location = response.headers.get("location");
    if (params.followRedirects && REDIRECT_STATUSES.has(response.status) && location !== null) {
      if (redirects.length >= MAX_REDIRECTS) {
        throw new NonRetriableError("too_many_redirects", `more than ${MAX_REDIRECTS} redirects from ${params.url}`);
      }
      const next = redirectTarget(location, url, allow);
      redirects.push({ url: url.href, status: response.status, location: next.href });
      if (response.status === 303 && method !== "HEAD") method = "GET";
      url = next;
      continue;
    }
    const status = response.status;
    return {
      url: params.url,
      finalUrl: url.href,
      method,
      status,
      ok: params.expectStatus === undefined ? status >= 200 && status < 300 : status === params.expectStatus,
      expectStatus: params.expectStatus ?? null,
      durationMs: Math.round(performance.now() - started),
      redirects,
    };
  }
}
