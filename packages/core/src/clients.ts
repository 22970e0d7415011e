import { SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { SFNClient } from "@aws-sdk/client-sfn";
import { type ClientOptions, dataClients } from "./context.js";

/**
 * Every client, made now: for the local runtime, the admin CLI and tests. Apart from context.ts on purpose: a Lambda
 * function's context makes its Secrets Manager and Step Functions clients on first use, and a bundle that never calls
 * this carries no static import of their SDKs (which would put them back in what its cold start loads).
 */
export function createClients(options: ClientOptions = {}) {
  const { common, ddb, sqs } = dataClients(options);
  const secretsClient = new SecretsManagerClient({
    ...common,
    ...(options.secretsManagerEndpoint ? { endpoint: options.secretsManagerEndpoint } : {}),
  });
  const sfn = new SFNClient({
    ...common,
    ...(options.stepFunctionsEndpoint ? { endpoint: options.stepFunctionsEndpoint } : {}),
  });
  return { ddb, sqs, secretsClient, sfn };
}
