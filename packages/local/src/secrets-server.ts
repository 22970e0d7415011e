import { randomUUID } from "node:crypto";
import { AwsProtocolError, startAwsJsonServer } from "./aws-json-server.js";
import type { Emulator } from "./emulators.js";

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
  const save = (name: unknown, value: unknown, create: boolean) => {
    if (typeof name !== "string" || typeof value !== "string") {
      throw new AwsProtocolError("InvalidParameterException", "a name and a SecretString are required");
    }
    if (create && store.has(name)) throw new AwsProtocolError("ResourceExistsException", "the secret exists");
    put(name, value);
    return { ARN: arnOf(name), Name: name, VersionId: store.get(name)?.versionId };
  };

  const server = await startAwsJsonServer({
    targetPrefix: "secretsmanager",
    contentType: "application/x-amz-json-1.1",
    ...(options.port === undefined ? {} : { port: options.port }),
    actions: {
      GetSecretValue: (input) => {
        const secret = find(input.SecretId);
        if (!secret) {
          throw new AwsProtocolError("ResourceNotFoundException", "Secrets Manager can't find the specified secret.");
        }
        return {
          ARN: arnOf(secret.name),
          Name: secret.name,
          SecretString: secret.value,
          VersionId: secret.versionId,
          VersionStages: ["AWSCURRENT"],
          CreatedDate: secret.createdAt,
        };
      },
      CreateSecret: (input) => save(input.Name, input.SecretString, true),
      PutSecretValue: (input) => save(find(input.SecretId)?.name ?? input.SecretId, input.SecretString, false),
    },
  });
  return { ...server, put };
}
