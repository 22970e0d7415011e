import { SecretsProvider } from "@aws-lambda-powertools/parameters/secrets";
import type { SecretsManagerClient } from "@aws-sdk/client-secrets-manager";

/** Where credentials come from: Secrets Manager in AWS, the local Secrets Manager endpoint on a laptop. */
export interface Secrets {
  /** The secret's string value, or undefined when it does not exist. Cached for `maxAgeSeconds`. */
  get(name: string): Promise<string | undefined>;
}

/** Secrets read through one cached Powertools provider. */
export function secretsManager(client: SecretsManagerClient, maxAgeSeconds = 300): Secrets {
  const provider = new SecretsProvider({ awsSdkV3Client: client });
  return {
    async get(name) {
      try {
        const value = await provider.get(name, { maxAge: maxAgeSeconds });
        return typeof value === "string" ? value : value ? Buffer.from(value).toString("utf8") : undefined;
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
