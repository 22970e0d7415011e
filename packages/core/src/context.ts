import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { SQSClient } from "@aws-sdk/client-sqs";
import { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import { z } from "zod";
import { QueueRef } from "./schemas.js";

/** Everything the domain needs from its surroundings; built from the environment in Lambda, explicitly locally. */
export interface Context {
  tableName: string;
  ddb: DynamoDBDocumentClient;
  sqs: SQSClient;
  /** Custom agents' queues are named `<queuePrefix><agentId>` and `<queuePrefix><agentId>-dlq`. */
  queuePrefix: string;
  /** Queues of the built-in agents, created by the stack (or the local runtime). */
  builtinQueues: Record<string, QueueRef>;
  now: () => Date;
}

export interface ClientOptions {
  region?: string;
  dynamodbEndpoint?: string;
  sqsEndpoint?: string;
  credentials?: { accessKeyId: string; secretAccessKey: string };
}

export function createClients(options: ClientOptions = {}) {
  const common = {
    region: options.region ?? process.env.AWS_REGION ?? "us-east-1",
    ...(options.credentials ? { credentials: options.credentials } : {}),
  };
  const ddb = DynamoDBDocumentClient.from(
    new DynamoDBClient({ ...common, ...(options.dynamodbEndpoint ? { endpoint: options.dynamodbEndpoint } : {}) }),
    { marshallOptions: { removeUndefinedValues: true, convertClassInstanceToMap: false } },
  );
  const sqs = new SQSClient({ ...common, ...(options.sqsEndpoint ? { endpoint: options.sqsEndpoint } : {}) });
  return { ddb, sqs };
}

const EnvSchema = z.object({
  NEXUS_TABLE: z.string().min(1),
  NEXUS_QUEUE_PREFIX: z.string().min(1),
  NEXUS_BUILTIN_QUEUES: z
    .string()
    .default("{}")
    .transform((raw) => z.record(z.string(), QueueRef).parse(JSON.parse(raw))),
});

/** The context of a Lambda function, from the environment the stack sets. */
export function contextFromEnv(env: NodeJS.ProcessEnv = process.env): Context {
  const parsed = EnvSchema.parse(env);
  return {
    tableName: parsed.NEXUS_TABLE,
    queuePrefix: parsed.NEXUS_QUEUE_PREFIX,
    builtinQueues: parsed.NEXUS_BUILTIN_QUEUES,
    ...createClients(),
    now: () => new Date(),
  };
}
