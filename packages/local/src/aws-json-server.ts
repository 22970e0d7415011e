import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { type Emulator, LOOPBACK } from "./emulators.js";

const MAX_BODY = 256 * 1024;

/** An error an AWS JSON-protocol endpoint returns: the SDK turns `type` into the exception's name. */
export class AwsProtocolError extends Error {
  constructor(
    readonly type: string,
    message: string,
  ) {
    super(message);
  }
}

export type AwsJsonHandler = (input: Record<string, unknown>) => unknown | Promise<unknown>;

/**
 * A loopback endpoint speaking the AWS JSON protocol (`X-Amz-Target: <prefix>.<Action>`, JSON bodies) for
 * the actions given, so the real SDK client runs unchanged against a local stand-in.
 */
export async function startAwsJsonServer(options: {
  targetPrefix: string;
  contentType: "application/x-amz-json-1.0" | "application/x-amz-json-1.1";
  actions: Record<string, AwsJsonHandler>;
  port?: number;
}): Promise<Emulator> {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_BODY) chunks.push(chunk);
    });
    req.on("end", () => {
      const reply = (status: number, body: unknown, errorType?: string) => {
        res.writeHead(status, {
          "content-type": options.contentType,
          ...(errorType ? { "x-amzn-errortype": errorType } : {}),
        });
        res.end(JSON.stringify(body));
      };
      const fail = (type: string, message: string) => reply(400, { __type: type, message }, type);
      let input: Record<string, unknown>;
      try {
        input = JSON.parse(Buffer.concat(chunks).toString("utf8") || "{}");
      } catch {
        return fail("InvalidRequestException", "body is not JSON");
      }
      const action = String(req.headers["x-amz-target"] ?? "").replace(`${options.targetPrefix}.`, "");
      const handler = options.actions[action];
      if (!handler) return fail("InvalidAction", `${action || "(none)"} is not supported by the local endpoint`);
      Promise.resolve()
        .then(() => handler(input))
        .then(
          (output) => reply(200, output ?? {}),
          (error: unknown) => {
            if (error instanceof AwsProtocolError) return fail(error.type, error.message);
            return reply(500, { __type: "InternalFailure", message: String(error) }, "InternalFailure");
          },
        );
    });
  });
  server.listen(options.port ?? 0, LOOPBACK);
  await new Promise<void>((resolve) => server.once("listening", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://${LOOPBACK}:${port}`,
    port,
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
