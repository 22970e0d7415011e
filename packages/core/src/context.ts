import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { SQSClient } from "@aws-sdk/client-sqs";
import { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import * as z from "zod";
import type { AlarmBoard } from "./alarms.js";
import { type Consumers, lambdaConsumers } from "./consumers.js";
import { type DailyCaps, DEFAULT_DAILY_CAPS } from "./limits.js";
import { type ObjectStore, s3ObjectStore } from "./objects.js";
import { pure } from "./pure.js";
import { schedulerResources } from "./schedules/names.js";
import { eventBridgeScheduler, type ScheduleTriggers } from "./schedules/triggers.js";
import { type HealthSettings, QueueRef } from "./schemas.js";
import { type Secrets, secretsManager } from "./secrets.js";
import { SettingsEnv } from "./settings-env.js";
import { stepFunctions, type Workflows } from "./workflows.js";

/** Everything the domain needs from its surroundings; built from the environment in Lambda, explicitly locally. */
export interface Context {
  tableName: string;
  ddb: DynamoDBDocumentClient;
  sqs: SQSClient;
  /** Custom agents' queues are named `<queuePrefix><agentId>` and `<queuePrefix><agentId>-dlq`. */
  queuePrefix: string;
  /** Queues of the built-in agents, created by the stack (or the local runtime). */
  builtinQueues: Record<string, QueueRef>;
  secrets: Secrets;
  settings: Settings;
  /** Switches agents' queue consumers on and off (absent where nothing consumes, e.g. a CLI). */
  consumers?: Consumers;
  /** The plan state machine (Step Functions, or its local endpoint); absent where plans are not used. */
  workflows?: Workflows;
  /** Where params and results too large for the task item are kept (payloads.ts); S3 in AWS, a directory locally. */
  payloads?: ObjectStore;
  /** Keeps EventBridge Scheduler in step with schedules (the API in AWS); absent locally, where the runtime fires them. */
  schedules?: ScheduleTriggers;
  /** The alarms' states, where something evaluates them (the local runtime); absent → `GET /v1/alarms` says so. */
  alarms?: AlarmBoard;
  now: () => Date;
}

export interface Settings {
  /** Name (or ARN) of the secret holding the bootstrap admin key; none → no bootstrap key. */
  adminKeySecret?: string;
  /** Requests per minute per API key, unless the key says otherwise. */
  rateLimitPerMinute: number;
  /** Tasks per UTC day for costly actions, by `<agentId>.<action>`. */
  dailyCaps: DailyCaps;
  /** Longest single receive of a remote claim's long poll (default: the whole wait; see remote.ts). */
  claimPollSeconds?: number;
  /** Health thresholds and the probe interval; unset fields take their defaults (see {@link HealthSettings}). */
  health?: Partial<HealthSettings>;
  /**
   * Browser origins allowed to call the API cross-origin (CORS); none → CORS off. In AWS, API Gateway applies them
   * (the stack configures it from the same setting); locally, the API does.
   */
  corsOrigins?: string[];
}

export const DEFAULT_SETTINGS: Settings = { rateLimitPerMinute: 600, dailyCaps: DEFAULT_DAILY_CAPS };

export interface ClientOptions {
  region?: string;
  dynamodbEndpoint?: string;
  sqsEndpoint?: string;
  secretsManagerEndpoint?: string;
  stepFunctionsEndpoint?: string;
  credentials?: { accessKeyId: string; secretAccessKey: string };
}

/**
 * The clients every function uses from its first invocation, the table's and the queues', and the region and
 * credentials (`common`) every other client shares. All of them at once: createClients (clients.ts).
 */
export function dataClients(options: ClientOptions = {}) {
  const common = {
    region: options.region ?? process.env.AWS_REGION ?? "us-east-1",
    ...(options.credentials ? { credentials: options.credentials } : {}),
  };
  const ddb = DynamoDBDocumentClient.from(
    new DynamoDBClient({ ...common, ...(options.dynamodbEndpoint ? { endpoint: options.dynamodbEndpoint } : {}) }),
    { marshallOptions: { removeUndefinedValues: true, convertClassInstanceToMap: false } },
  );
  const sqs = new SQSClient({ ...common, ...(options.sqsEndpoint ? { endpoint: options.sqsEndpoint } : {}) });
  return { common, ddb, sqs };
}

const EnvSchema = /* @__PURE__ */ pure(() =>
  z.object({
    NEXUS_TABLE: z.string().min(1),
    NEXUS_QUEUE_PREFIX: z.string().min(1),
    NEXUS_BUILTIN_QUEUES: z
      .string()
      .default("{}")
      .transform((raw) => z.record(z.string(), QueueRef).parse(JSON.parse(raw))),
    NEXUS_ADMIN_KEY_SECRET: z.string().min(1).optional(),
    NEXUS_BUILTIN_CONSUMERS: z
      .string()
      .default("{}")
      .transform((raw) => z.record(z.string(), z.string()).parse(JSON.parse(raw))),
    NEXUS_STATE_MACHINE_ARN: z.string().min(1).optional(),
    NEXUS_SCHEDULE_GROUP_ARN: z.string().min(1).optional(),
    NEXUS_PAYLOADS: z.string().min(1).optional(),
    // Rate limit, daily caps, health and CORS: the schema the stack checks them with at synth time.
    ...SettingsEnv.shape,
  }),
);

/** The context of a Lambda function, from the environment the stack sets. */
export function contextFromEnv(env: NodeJS.ProcessEnv = process.env): Context {
  const parsed = EnvSchema.parse(env);
  // The table's and the queues' clients now; the others, with their SDKs, on first use (lazy.ts): few invocations
  // read a secret after the first, start or report a plan, switch a consumer or change a schedule.
  const { common, ddb, sqs } = dataClients();
  return {
    tableName: parsed.NEXUS_TABLE,
    queuePrefix: parsed.NEXUS_QUEUE_PREFIX,
    builtinQueues: parsed.NEXUS_BUILTIN_QUEUES,
    ddb,
    sqs,
    secrets: secretsManager(async () => new (await import("./sdk/secrets-manager.js")).SecretsManagerClient(common)),
    consumers: lambdaConsumers(parsed.NEXUS_BUILTIN_CONSUMERS),
    workflows: stepFunctions(
      async () => new (await import("./sdk/sfn.js")).SFNClient(common),
      parsed.NEXUS_STATE_MACHINE_ARN,
    ),
    ...(parsed.NEXUS_PAYLOADS ? { payloads: s3ObjectStore({ bucket: parsed.NEXUS_PAYLOADS }) } : {}),
    ...(parsed.NEXUS_SCHEDULE_GROUP_ARN
      ? {
          schedules: eventBridgeScheduler(
            async () => new (await import("./sdk/scheduler.js")).SchedulerClient({}),
            schedulerResources(parsed.NEXUS_SCHEDULE_GROUP_ARN),
          ),
        }
      : {}),
    settings: {
      ...(parsed.NEXUS_ADMIN_KEY_SECRET ? { adminKeySecret: parsed.NEXUS_ADMIN_KEY_SECRET } : {}),
      rateLimitPerMinute: parsed.NEXUS_RATE_LIMIT_PER_MINUTE ?? DEFAULT_SETTINGS.rateLimitPerMinute,
      dailyCaps: { ...DEFAULT_DAILY_CAPS, ...parsed.NEXUS_DAILY_CAPS },
      ...(parsed.NEXUS_HEALTH ? { health: parsed.NEXUS_HEALTH } : {}),
      ...(parsed.NEXUS_CORS_ORIGINS ? { corsOrigins: parsed.NEXUS_CORS_ORIGINS } : {}),
    },
    now: () => new Date(),
  };
}
