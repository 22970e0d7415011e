import type { SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { type ClientSource, once, withSdk } from "./lazy.js";
import { rememberSecret } from "./redact.js";

/** Where credentials come from: Secrets Manager in AWS, the local Secrets Manager endpoint on a laptop. */
export interface Secrets {
  /** The secret's string value, or undefined when it does not exist. Cached for `maxAgeSeconds`. */
  get(name: string): Promise<string | undefined>;
}

/**
 * Secrets read through one cached Powertools provider over `client` (or the one its factory makes). The provider,
 * and with it the Secrets Manager SDK, is loaded with the first read.
 */
export function secretsManager(client: ClientSource<SecretsManagerClient>, maxAgeSeconds = 300): Secrets {
  const loaded = withSdk(() => import("@aws-lambda-powertools/parameters/secrets"), client);
  const provider = once(async () => {
    const [{ SecretsProvider }, awsSdkV3Client] = await loaded();
    return new SecretsProvider({ awsSdkV3Client });
  });
  return {
    async get(name) {
      try {
        const value = await (await provider()).get(name, { maxAge: maxAgeSeconds });
        const text = typeof value === "string" ? value : value ? Buffer.from(value).toString("utf8") : undefined;
        // Whatever a secret holds is scrubbed from every log record from now on (redact.ts).
        if (text !== undefined) rememberSecret(text);
        return text;
      } catch (error) {
        if (String((error as { cause?: { name?: string } }).cause?.name ?? "").includes("ResourceNotFound")) {
          return undefined;
        }
        if ((error as Error).name === "ResourceNotFoundException") return undefined;
        throw error;
      }
    },
  };
}
