import { once } from "node:events";
import type { IncomingMessage, Server, ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { LOOPBACK } from "../emulators.js";

/** Bodies the comms stand-ins accept (chat blocks and email bodies stay far below). */
export const MAX_BODY_BYTES = 1024 * 1024;

/**
 * Messages a stand-in keeps for people and tests to look at (`/received`, `/messages`, the SES store): the most recent
 * ones only, so a long-running `npm run dev` does not hold every message its agents ever sent.
 */
export const MAX_RECEIVED = 1000;

/** Appends `item` to `list` (when given) and drops the oldest entries beyond {@link MAX_RECEIVED}. */
export function keepRecent<T>(list: T[], ...item: [] | [T]): void {
  list.push(...item);
  if (list.length > MAX_RECEIVED) list.splice(0, list.length - MAX_RECEIVED);
}

/** The request body, or undefined when it is larger than `limit` (the rest is drained, not kept). */
export async function readBody(req: IncomingMessage, limit = MAX_BODY_BYTES): Promise<string | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size <= limit) chunks.push(chunk as Buffer);
  }
  return size > limit ? undefined : Buffer.concat(chunks).toString("utf8");
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) {
  res.writeHead(status, { "content-type": "application/json; charset=utf-8", ...headers });
  res.end(JSON.stringify(body));
}

export function sendText(res: ServerResponse, status: number, text: string, headers: Record<string, string> = {}) {
  res.writeHead(status, { "content-type": "text/plain; charset=utf-8", ...headers });
  res.end(text);
}

/** Listens on 127.0.0.1 (a free port unless given) and returns the base URL and a stop function. */
export async function listenLoopback(server: Server, port = 0) {
  server.listen(port, LOOPBACK);
  await once(server, "listening");
  const address = server.address() as AddressInfo;
  return { url: `http://${LOOPBACK}:${address.port}`, port: address.port, stop: () => closeServer(server) };
}

export async function closeServer(server: Server) {
  if (!server.listening) return;
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeAllConnections();
  await closed;
}
