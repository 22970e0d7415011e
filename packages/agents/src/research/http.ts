import type { IncomingHttpHeaders, IncomingMessage } from "node:http";
import http from "node:http";
import https from "node:https";
import type { LookupFunction } from "node:net";
import type { Readable } from "node:stream";
import zlib from "node:zlib";
import { ActionError, NonRetriableError } from "@nexus/core";
import { type CheckedTarget, checkTarget, type SsrfPolicy } from "./ssrf.js";

/** What one guarded HTTP exchange returns: the body (decoded from gzip/deflate/br), capped. */
export interface FetchedResponse {
  url: string;
  finalUrl: string;
  status: number;
  headers: IncomingHttpHeaders;
  contentType: string;
  body: Buffer;
  /** The body was longer than the cap; `body` holds its first `maxBytes`. */
  truncated: boolean;
  redirects: number;
}

export interface SafeFetchOptions {
  policy: SsrfPolicy;
  signal: AbortSignal;
  maxBytes: number;
  maxRedirects?: number;
  headers?: Record<string, string>;
  /** Headers sent only to the first URL's origin (API keys): dropped when a redirect leaves it. */
  originHeaders?: Record<string, string>;
  /** Whether a body longer than `maxBytes` is an error (`response_too_large`) rather than truncated. */
  failOnOversize?: boolean;
}

export const USER_AGENT = "NexusResearch/1.0 (+https://github.com/nexus)";
const REDIRECTS = new Set([301, 302, 303, 307, 308]);

/** A `lookup` that answers with the address the guard checked, whatever is asked: the socket goes there. */
export function pinnedLookup(target: Pick<CheckedTarget, "address" | "family">): LookupFunction {
  return ((_hostname: string, options: { all?: boolean }, callback: (...args: unknown[]) => void) => {
    if (options?.all) callback(null, [{ address: target.address, family: target.family }]);
    else callback(null, target.address, target.family);
  }) as LookupFunction;
}

/** Request options that reach a checked target at its checked address, naming the host in Host and SNI. */
export function pinnedRequestOptions(target: CheckedTarget): https.RequestOptions {
  const { url } = target;
  return {
    protocol: url.protocol,
    host: target.hostname,
    port: target.port,
    path: `${url.pathname}${url.search}`,
    lookup: pinnedLookup(target),
    // no pooling: a kept-alive socket must never carry a request for another (unchecked) name
    agent: false,
    ...(url.protocol === "https:" ? { servername: isLiteral(target) ? "" : target.hostname } : {}),
  };
}

const isLiteral = (target: CheckedTarget) => target.address === target.hostname;

function request(target: CheckedTarget, headers: Record<string, string>, signal: AbortSignal) {
  return new Promise<IncomingMessage>((resolve, reject) => {
    const lib = target.url.protocol === "https:" ? https : http;
    const req = lib.request({ ...pinnedRequestOptions(target), method: "GET", headers, signal }, resolve);
    req.on("error", reject);
    req.end();
  });
}

function decoded(response: IncomingMessage): Readable {
  const encoding = String(response.headers["content-encoding"] ?? "")
    .trim()
    .toLowerCase();
  if (encoding === "gzip" || encoding === "x-gzip") return response.pipe(zlib.createGunzip());
  if (encoding === "deflate") return response.pipe(zlib.createInflate());
  if (encoding === "br") return response.pipe(zlib.createBrotliDecompress());
  return response;
}

/** Reads at most `maxBytes` of the (decompressed) body, then stops reading and closes the connection. */
async function readCapped(response: IncomingMessage, maxBytes: number, signal: AbortSignal) {
  const stream = decoded(response);
  const chunks: Buffer[] = [];
  let size = 0;
  let truncated = false;
  try {
    for await (const chunk of stream) {
      signal.throwIfAborted();
      const buffer = chunk as Buffer;
      if (size + buffer.length > maxBytes) {
        chunks.push(buffer.subarray(0, maxBytes - size));
        size = maxBytes;
        truncated = true;
        break;
      }
      chunks.push(buffer);
      size += buffer.length;
    }
  } finally {
    response.destroy();
    if (stream !== response) stream.destroy();
  }
  return { body: Buffer.concat(chunks, size), truncated };
}

function networkError(error: unknown, url: URL, signal: AbortSignal): Error {
  if (error instanceof ActionError) return error;
  if (signal.aborted) {
    const reason = signal.reason as { name?: string } | undefined;
    if (reason?.name === "TimeoutError") return new ActionError("fetch_timeout", `fetching ${url.host} timed out`);
    return new ActionError("aborted", `fetching ${url.host} was aborted`);
  }
  if (error instanceof Error && error.name === "AbortError") {
    return new ActionError("aborted", `fetching ${url.host} was aborted`);
  }
  const code = (error as { code?: string }).code ?? "network_error";
  return new ActionError("fetch_failed", `fetching ${url.host} failed: ${code}`, { cause: error });
}

/**
 * GET through the SSRF guard: every hop (the URL and each redirect, at most `maxRedirects`) is checked and
 * connected to at its checked address; the body is capped and decompressed with the cap applied after
 * decompression. Any HTTP status is returned, not thrown.
 */
export async function safeFetch(raw: string, options: SafeFetchOptions): Promise<FetchedResponse> {
  const maxRedirects = options.maxRedirects ?? 5;
  const first = new URL(raw);
  let current: string = raw;
  for (let hop = 0; ; hop++) {
    const target = await checkTarget(current, options.policy, options.signal);
    const sameOrigin = target.url.origin === first.origin;
    const headers: Record<string, string> = {
      "user-agent": USER_AGENT,
      accept: "text/html,application/xhtml+xml,application/json;q=0.9,text/plain;q=0.8,*/*;q=0.5",
      "accept-encoding": "gzip, deflate, br",
      ...options.headers,
      ...(sameOrigin ? options.originHeaders : {}),
    };
    let response: IncomingMessage;
    try {
      response = await request(target, headers, options.signal);
    } catch (error) {
      throw networkError(error, target.url, options.signal);
    }
    const status = response.statusCode ?? 0;
    const location = response.headers.location;
    if (REDIRECTS.has(status) && location) {
      response.destroy();
      if (hop >= maxRedirects) throw new NonRetriableError("too_many_redirects", `more than ${maxRedirects} redirects`);
      try {
        current = new URL(location, target.url).toString();
      } catch {
        throw new NonRetriableError("bad_redirect", `redirect from ${target.url.host} has an invalid Location`);
      }
      continue;
    }
    let read: { body: Buffer; truncated: boolean };
    try {
      read = await readCapped(response, options.maxBytes, options.signal);
    } catch (error) {
      throw networkError(error, target.url, options.signal);
    }
    if (read.truncated && options.failOnOversize) {
      throw new NonRetriableError("response_too_large", `the response is larger than ${options.maxBytes} bytes`);
    }
    return {
      url: raw,
      finalUrl: target.url.toString(),
      status,
      headers: response.headers,
      contentType: String(response.headers["content-type"] ?? ""),
      body: read.body,
      truncated: read.truncated,
      redirects: hop,
    };
  }
}

/** Decodes a body by the charset its Content-Type (or an HTML meta tag) names; UTF-8 otherwise. */
export function decodeBody(body: Buffer, contentType: string): string {
  let charset = /charset\s*=\s*"?([\w.:-]+)/i.exec(contentType)?.[1];
  if (!charset && /html/i.test(contentType)) {
    charset = /<meta[^>]+charset\s*=\s*["']?([\w.:-]+)/i.exec(body.subarray(0, 2048).toString("latin1"))?.[1];
  }
  try {
    return new TextDecoder(charset ?? "utf-8").decode(body);
  } catch {
    return new TextDecoder("utf-8").decode(body);
  }
}
