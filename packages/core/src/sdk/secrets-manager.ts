/**
 * The Secrets Manager client, made on first use (context.ts, functions/alarm-chat.ts); Powertools' secrets provider
 * (secrets.ts) imports the one command it sends. See sdk/s3.ts for why not the whole module.
 */
export { SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
