import { once } from "node:events";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import dynalite from "dynalite";
import { fixDynalite, trackRequests } from "./dynalite-fixes.js";
import { localSqs } from "./sqs-emulator.js";

export const LOOPBACK = "127.0.0.1";

export interface Emulator {
  endpoint: string;
  port: number;
  stop(): Promise<void>;
}

async function closeServer(server: Server) {
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeAllConnections();
  await closed;
}

/** DynamoDB: dynalite in-process, on disk under `path` (LevelDB) or in memory when no path is given. */
export async function startDynamo(options: { path?: string; port?: number } = {}): Promise<Emulator> {
  // An item and its index entries in one write, as in DynamoDB, so a killed process leaves no index behind; and no
  // LevelDB iterator left open to pin the table's old files.
  fixDynalite();
  const server = dynalite({
    ...(options.path ? { path: options.path } : {}),
    createTableMs: 0,
    deleteTableMs: 0,
    updateTableMs: 0,
  }) as Server;
  const requests = trackRequests(server);
  server.listen(options.port ?? 0, LOOPBACK);
  await once(server, "listening");
  const { port } = server.address() as AddressInfo;
  const stop = async () => {
    // Requests being answered finish first (new ones get a 503): dynalite then closes its database.
    await requests.drain(2000);
    await closeServer(server);
  };
  return { endpoint: `http://${LOOPBACK}:${port}`, port, stop };
}

/**
 * SQS: local-aws-sqs in-process, its long poll answering as soon as a message is there (as SQS does); in memory,
 * so the local runtime re-enqueues unfinished tasks at start.
 */
export async function startSqs(options: { port?: number } = {}): Promise<Emulator> {
  const server = await localSqs().createSqsServer({
    port: options.port ?? 0,
    hostname: LOOPBACK,
    emulateQueueCreationLifecycle: false,
  });
  const { port } = server.address() as AddressInfo;
  return { endpoint: `http://${LOOPBACK}:${port}`, port, stop: () => closeServer(server) };
}
