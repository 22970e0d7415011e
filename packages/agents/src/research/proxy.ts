import http, { type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import net from "node:net";
import type { Duplex } from "node:stream";
import { pinnedRequestOptions } from "./http.js";
import { checkTarget, type SsrfPolicy } from "./ssrf.js";

/**
 * The browser's only way out: a per-task HTTP proxy on 127.0.0.1 that checks every request Chromium makes
 * (page, subresources, iframes, fetch/XHR, redirects, WebSockets tunnelled through CONNECT) with the SSRF
 * guard and connects to the checked address itself. Chromium never resolves a name on its own, so a host
 * that answers DNS differently the second time (DNS rebinding) gets nowhere.
 */
export interface GuardedProxy {
  /** `http://127.0.0.1:<port>`, for Chromium's `--proxy-server`. */
  url: string;
  /** Bytes relayed in both directions. */
  bytes(): number;
  stop(): Promise<void>;
}

export interface ProxyOptions {
  policy: SsrfPolicy;
  /** Called for every request the guard refused. */
  onBlocked?: (target: string, reason: string) => void;
  /** Cap on the bytes relayed over the proxy's life; past it every connection is cut. */
  maxBytes?: number;
  signal?: AbortSignal;
}

const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "proxy-authenticate",
  "proxy-authorization",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
]);

const reasonOf = (error: unknown) => (error instanceof Error ? error.message : String(error));

export async function startGuardedProxy(options: ProxyOptions): Promise<GuardedProxy> {
  const maxBytes = options.maxBytes ?? 64 * 1024 * 1024;
  const sockets = new Set<Duplex>();
  let relayed = 0;
  const track = (socket: Duplex) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => socket.destroy());
  };
  /** Counts what an upstream socket receives (attached once its data already has a consumer). */
  const count = (socket: Duplex) => {
    socket.on("data", (chunk: Buffer) => {
      relayed += chunk.length;
      if (relayed > maxBytes) for (const s of sockets) s.destroy();
    });
  };

  const forward = async (req: IncomingMessage, res: ServerResponse) => {
    const raw = req.url ?? "";
    if (!/^http:\/\//i.test(raw)) {
      res.writeHead(400, { "content-type": "text/plain" }).end("absolute http:// URLs only\n");
      return;
    }
    let target: Awaited<ReturnType<typeof checkTarget>>;
    try {
      target = await checkTarget(raw, options.policy, options.signal);
    } catch (error) {
      options.onBlocked?.(raw, reasonOf(error));
      res.writeHead(403, { "content-type": "text/plain" }).end("refused by the SSRF guard\n");
      return;
    }
    const headers: Record<string, string | string[]> = {};
    for (const [name, value] of Object.entries(req.headers)) {
      if (value !== undefined && !HOP_BY_HOP.has(name)) headers[name] = value;
    }
    const upstream = http.request({ ...pinnedRequestOptions(target), method: req.method, headers }, (response) => {
      const back: Record<string, string | string[]> = {};
      for (const [name, value] of Object.entries(response.headers)) {
        if (value !== undefined && !HOP_BY_HOP.has(name)) back[name] = value;
      }
      res.writeHead(response.statusCode ?? 502, back);
      response.pipe(res);
    });
    upstream.on("socket", (socket) => {
      track(socket);
      count(socket);
    });
    upstream.on("error", () => {
      if (!res.headersSent) res.writeHead(502, { "content-type": "text/plain" }).end("upstream failed\n");
      else res.destroy();
    });
    req.pipe(upstream);
  };

  const tunnel = async (req: IncomingMessage, client: Duplex, head: Buffer) => {
    const authority = req.url ?? "";
    let target: Awaited<ReturnType<typeof checkTarget>>;
    try {
      if (!/:\d+$/.test(authority)) throw new Error("CONNECT needs host:port");
      // the scheme only frames the authority for the guard; CONNECT carries TLS or a WebSocket
      target = await checkTarget(`https://${authority}/`, options.policy, options.signal);
    } catch (error) {
      options.onBlocked?.(authority, reasonOf(error));
      client.end("HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n");
      return;
    }
    const upstream: Socket = net.connect({ host: target.address, port: target.port });
    track(upstream);
    upstream.once("connect", () => {
      client.write("HTTP/1.1 200 Connection Established\r\n\r\n");
      if (head.length > 0) upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
      count(upstream);
    });
    upstream.once("error", () => client.end("HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n"));
    client.once("close", () => upstream.destroy());
  };

  const server = http.createServer((req, res) => {
    forward(req, res).catch(() => res.destroy());
  });
  server.on("connection", track);
  server.on("connect", (req: IncomingMessage, client: Duplex, head: Buffer) => {
    tunnel(req, client, head).catch(() => client.destroy());
  });
  // WebSockets reach the proxy as CONNECT tunnels; a plain-HTTP Upgrade is not relayed.
  server.on("upgrade", (_req: IncomingMessage, client: Duplex) => client.destroy());

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    bytes: () => relayed,
    stop: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
