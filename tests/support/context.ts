import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  type Context,
  createClients,
  createLogger,
  DEFAULT_SETTINGS,
  ensureTable,
  fileObjectStore,
  type Settings,
  secretsManager,
  stepFunctions,
} from "@nexus/core";
import * as Plans from "@nexus/core/plans";
import * as Queues from "@nexus/core/queues";
import { type LocalStepFunctions, startDynamo, startSecrets, startSqs, startStepFunctions } from "@nexus/local";

/** Fresh in-memory emulators and a domain context on them; `stop` ends both. */
export async function startTestContext(
  options: {
    now?: () => Date;
    prefix?: string;
    settings?: Partial<Settings>;
    secrets?: Record<string, string>;
    /** Also run the plan state machine (the local Step Functions endpoint, its tasks in-process). */
    plans?: boolean;
  } = {},
) {
  const dynamo = await startDynamo();
  const sqs = await startSqs();
  const secrets = await startSecrets({ secrets: options.secrets ?? {} });
  let planContext: Context | undefined;
  const logger = createLogger("nexus-test", { level: "SILENT" });
  const sfn: LocalStepFunctions | undefined = options.plans
    ? await startStepFunctions({
        definition: Plans.planDefinition({ PlanRunnerArn: "arn:aws:lambda:us-east-1:123456789012:function:plans" }),
        stateMachineName: "nexus-test-plans",
        logger,
        invoke: async (payload) => Plans.handle(planContext as Context, payload, logger),
      })
    : undefined;
  const clients = createClients({
    region: "us-east-1",
    dynamodbEndpoint: dynamo.endpoint,
    sqsEndpoint: sqs.endpoint,
    secretsManagerEndpoint: secrets.endpoint,
    ...(sfn ? { stepFunctionsEndpoint: sfn.endpoint } : {}),
    credentials: { accessKeyId: "test", secretAccessKey: "test" },
  });
  const payloadsDir = await mkdtemp(join(tmpdir(), "nexus-test-payloads-"));
  const ctx: Context = {
    tableName: "nexus-test",
    payloads: fileObjectStore({ dir: payloadsDir }),
    queuePrefix: options.prefix ?? "nexus-test-agent-",
    builtinQueues: {},
    ddb: clients.ddb,
    sqs: clients.sqs,
    secrets: secretsManager(clients.secretsClient, 0),
    settings: { ...DEFAULT_SETTINGS, ...options.settings },
    ...(sfn ? { workflows: stepFunctions(clients.sfn, sfn.stateMachineArn) } : {}),
    now: options.now ?? (() => new Date()),
  };
  planContext = ctx;
  await ensureTable(ctx.ddb, ctx.tableName, "memory");
  /** Gives a built-in agent its queue pair, as the stack would. */
  const addBuiltinQueue = async (agentId: string) => {
    ctx.builtinQueues[agentId] = await Queues.createAgentQueues(ctx, agentId);
    return ctx.builtinQueues[agentId];
  };
  /**
   * What the stack puts in a function's environment, pointed at these emulators (for loading an entry point as Lambda
   * would), with `extra` on top.
   */
  const functionEnv = (extra: Record<string, string> = {}) => ({
    AWS_REGION: "us-east-1",
    AWS_ACCESS_KEY_ID: "test",
    AWS_SECRET_ACCESS_KEY: "test",
    AWS_ENDPOINT_URL_DYNAMODB: dynamo.endpoint,
    AWS_ENDPOINT_URL_SQS: sqs.endpoint,
    AWS_ENDPOINT_URL_SECRETS_MANAGER: secrets.endpoint,
    NEXUS_TABLE: ctx.tableName,
    NEXUS_QUEUE_PREFIX: ctx.queuePrefix,
    NEXUS_BUILTIN_QUEUES: JSON.stringify(ctx.builtinQueues),
    ...extra,
  });
  return {
    ctx,
    functionEnv,
    endpoints: { dynamodb: dynamo.endpoint, sqs: sqs.endpoint, secretsManager: secrets.endpoint },
    putSecret: secrets.put,
    addBuiltinQueue,
    stop: async () => {
      await sfn?.stop();
      clients.sfn.destroy();
      clients.ddb.destroy();
      clients.sqs.destroy();
      clients.secretsClient.destroy();
      await secrets.stop();
      await sqs.stop();
      await dynamo.stop();
      await rm(payloadsDir, { recursive: true, force: true });
    },
  };
}

/**
 * For loading the entry points as Lambda would: a test context with the `diag` agent's queue, the process environment
 * set as the stack sets a function's (the bootstrap key in the secret `nexus/test/admin-key`), with `extra` on top.
 */
export async function startFunctionContext(
  options: { prefix: string; secrets: Record<string, string> },
  extra: Record<string, string>,
) {
  const env = await startTestContext(options);
  await env.addBuiltinQueue("diag");
  Object.assign(
    process.env,
    env.functionEnv({ NEXUS_ADMIN_KEY_SECRET: "nexus/test/admin-key", NEXUS_AGENT_ID: "diag", ...extra }),
  );
  return env;
}

/** A clock the test moves by hand. */
export function manualClock(start = new Date("2026-01-01T00:00:00Z")) {
  let now = start.getTime();
  return {
    now: () => new Date(now),
    advance: (ms: number) => {
      now += ms;
    },
  };
}
