import { randomUUID } from "node:crypto";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { type Emulator, LOOPBACK } from "./emulators.js";

interface StoredSecret {
  name: string;
  value: string;
  versionId: string;
  createdAt: number;
}

export interface SecretsEmulator extends Emulator {
  /** Sets (creates or rotates) a secret, as an operator would in the console. */
  put(name: string, value: string): void;
}

const ACCOUNT = "123456789012";
const REGION = "us-east-1";
const MAX_BODY = 64 * 1024;

/**
 * A local endpoint that speaks the Secrets Manager JSON protocol for what Nexus uses (GetSecretValue, plus
 * CreateSecret/PutSecretValue for operators), so the real SDK client and Powertools' SecretsProvider run
 * unchanged. In memory; bound to 127.0.0.1.
 */
export async function startSecrets(
  options: { port?: number; secrets?: Record<string, string> } = {},
): Promise<SecretsEmulator> {
  const store = new Map<string, StoredSecret>();
  const arnOf = (name: string) => `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:${name}`;
  const put = (name: string, value: string) => {
    store.set(name, { name, value, versionId: randomUUID(), createdAt: Date.now() / 1000 });
  };
  for (const [name, value] of Object.entries(options.secrets ?? {})) put(name, value);
  const find = (id: unknown) => {
    if (typeof id !== "string") return undefined;
    const name = id.startsWith("arn:") ? (id.split(":secret:")[1] ?? "") : id;
    return store.get(name);
  };

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
          "content-type": "application/x-amz-json-1.1",
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
      const action = String(req.headers["x-amz-target"] ?? "").replace(/^secretsmanager\./, "");
      if (action === "GetSecretValue") {
        const secret = find(input.SecretId);
        if (!secret) return fail("ResourceNotFoundException", "Secrets Manager can't find the specified secret.");
        return reply(200, {
          ARN: arnOf(secret.name),
          Name: secret.name,
          SecretString: secret.value,
          VersionId: secret.versionId,
          VersionStages: ["AWSCURRENT"],
          CreatedDate: secret.createdAt,
        });
      }
      if (action === "CreateSecret" || action === "PutSecretValue") {
        const name = action === "CreateSecret" ? input.Name : (find(input.SecretId)?.name ?? input.SecretId);
        if (typeof name !== "string" || typeof input.SecretString !== "string") {
          return fail("InvalidParameterException", "a name and a SecretString are required");
        }
        if (action === "CreateSecret" && store.has(name)) return fail("ResourceExistsException", "the secret exists");
        put(name, input.SecretString);
        const stored = store.get(name);
        return reply(200, { ARN: arnOf(name), Name: name, VersionId: stored?.versionId });
      }
      return fail("InvalidAction", `${action || "(none)"} is not supported by the local endpoint`);
    });
  });
  server.listen(options.port ?? 0, LOOPBACK);
  await new Promise<void>((resolve) => server.once("listening", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://${LOOPBACK}:${port}`,
    port,
    put,
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
