/**
 * The built-in agents: for each, a queue with its DLQ and a consumer function (functions/agents/<id>.ts) with a role
 * of its own, plus what that agent alone uses ({@link BuiltinAgent.provision}, stacks/agent-resources.ts).
 * Custom agents' queues are created by the API at runtime under the same name prefix.
 */
import { Duration, RemovalPolicy } from "aws-cdk-lib";
import * as iam from "aws-cdk-lib/aws-iam";
import type * as lambda from "aws-cdk-lib/aws-lambda";
import { SqsEventSource } from "aws-cdk-lib/aws-lambda-event-sources";
import * as secretsmanager from "aws-cdk-lib/aws-secretsmanager";
import * as sqs from "aws-cdk-lib/aws-sqs";
import { type NagPackSuppression, NagSuppressions } from "cdk-nag";
import type { Stack } from "sst/constructs";
import {
  type AgentScaling,
  agentScaling,
  SCALING_VARIABLE,
  visibilityTimeoutSeconds,
} from "../packages/agents/src/scaling.js";
import { commsResources, opsResources, researchResources, strategyResources } from "./agent-resources.js";
import { nexusFunction } from "./functions.js";
import type { NexusParts } from "./Nexus.js";
import { escapeRegex, pascal } from "./settings.js";

/**
 * A built-in agent: one queue (+ DLQ) and one consumer function each (functions/agents/<id>.ts).
 * An entry holds what differs per agent; `provision` creates what only that agent may use.
 */
export interface BuiltinAgent {
  /** Lower-case id; also the queue name suffix and `NEXUS_AGENT_ID`. Its memory, timeout, batches and concurrency:
   * packages/agents/src/scaling.ts (defaults, and `NEXUS_AGENT_SCALING` from the deploying shell). */
  readonly id: string;
  /** Default: the app's (arm_64, sst.config.ts). */
  readonly architecture?: "arm_64" | "x86_64";
  /** Ephemeral storage (/tmp), MB. Default: Lambda's 512. */
  readonly diskSize?: number;
  /** Resources of this agent alone, and the environment, statements and layers its function gets for them. */
  readonly provision?: (scope: AgentScope) => AgentResources;
}

/** What an agent's `provision` works with. */
export interface AgentScope {
  readonly stack: Stack;
  readonly ephemeral: boolean;
  /** The deploying shell's environment (read at synth time). */
  readonly env: NodeJS.ProcessEnv;
  /** A construct id in this agent's namespace: `Agent<Id><name>`. */
  id(name: string): string;
  /**
   * A secret named `<app>/<stage>/<name>` that the operator fills in with `aws secretsmanager put-secret-value`
   * (created holding `{}`, a placeholder), retained unless the stage is ephemeral. Its ARN is a stack output.
   */
  providerSecret(name: string, description: string): secretsmanager.Secret;
}

/** Given to the agent's function and role only. */
export interface AgentResources {
  /** Settings, resource names and ARNs; never a secret's value. */
  readonly environment?: Readonly<Record<string, string>>;
  /** Extra statements of its role, each on named resources. */
  readonly statements?: readonly iam.PolicyStatement[];
  readonly layers?: readonly lambda.ILayerVersion[];
  /** cdk-nag suppressions on its role, each with its specific reason. */
  readonly roleSuppressions?: readonly NagPackSuppression[];
  /**
   * Also given to the API function and its role, for work the API does with this agent's resources (the strategy
   * agent's planner also runs in the API, for `POST /v1/plans`). Absent: the API gets nothing of this agent's.
   */
  readonly api?: Omit<AgentResources, "layers" | "api">;
}

export const BUILTIN_AGENTS: readonly BuiltinAgent[] = [
  { id: "diag" },
  { id: "comms", provision: commsResources },
  { id: "ops", provision: opsResources },
  {
    id: "research",
    // @sparticuz/chromium ships an x64 binary only.
    architecture: "x86_64",
    // Chromium unpacks to /tmp (~190 MB, plus its libraries and fonts), and each task gets a profile directory.
    diskSize: 1024,
    provision: researchResources,
  },
  { id: "strategy", provision: strategyResources },
];

/** Receives before SQS moves a message to the DLQ (the agent dead-letters exhausted tasks itself before that). */
export const MAX_RECEIVE_COUNT = 5;

/**
 * Each built-in agent's scaling (memory, timeout, batch size and window, maximum concurrency): its defaults with what
 * `NEXUS_AGENT_SCALING` in the deploying shell says (packages/agents/src/scaling.ts). Malformed → the synth fails.
 */
export const builtinScaling = (env: NodeJS.ProcessEnv) =>
  agentScaling(
    env[SCALING_VARIABLE],
    BUILTIN_AGENTS.map((agent) => agent.id),
  );

/**
 * Each built-in agent's queue and DLQ, named `<prefix><agentId>` and `<prefix><agentId>-dlq`, and the ARNs and
 * suppression of the queues custom agents get at runtime under the same prefix.
 */
export function addAgentQueues(stack: Stack, prefix: string) {
  const scalings = builtinScaling(process.env);
  const agents = BUILTIN_AGENTS.map((agent) => {
    const scaling = scalings[agent.id] as AgentScaling;
    if (!/^[a-z][a-z0-9-]*$/.test(agent.id) || agent.id.endsWith("-dlq")) {
      throw new Error(`Invalid built-in agent id "${agent.id}"`);
    }
    const cid = `Agent${pascal(agent.id)}`;
    const dlq = new sqs.Queue(stack, `${cid}Dlq`, {
      queueName: `${prefix}${agent.id}-dlq`,
      retentionPeriod: Duration.days(14),
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
    });
    const queue = new sqs.Queue(stack, `${cid}Queue`, {
      queueName: `${prefix}${agent.id}`,
      visibilityTimeout: Duration.seconds(visibilityTimeoutSeconds(scaling)),
      deadLetterQueue: { queue: dlq, maxReceiveCount: MAX_RECEIVE_COUNT },
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
    });
    return { agent, cid, queue, dlq, scaling };
  });
  const builtinQueueArns = agents.map(({ queue }) => queue.queueArn);
  const builtinQueueAndDlqArns = agents.flatMap(({ queue, dlq }) => [queue.queueArn, dlq.queueArn]);
  // Queues the API creates at runtime for custom agents (this pattern also matches the built-in ones).
  const customQueueArns = stack.formatArn({ service: "sqs", resource: `${prefix}*` });
  const customQueueSuppression: NagPackSuppression = {
    id: "AwsSolutions-IAM5",
    reason: `Custom agents get queues created at runtime, named "${prefix}<agentId>" and "${prefix}<agentId>-dlq"; their ARNs are unknown at deploy time, so access is scoped to this app's and stage's queue-name prefix.`,
    appliesTo: [{ regex: `/^Resource::arn:<AWS::Partition>:sqs:[^:]+:[^:]+:${escapeRegex(prefix)}\\*$/` }],
  };
  // Sending a task to any agent, built-in or custom.
  const sendToAgentQueues = () =>
    new iam.PolicyStatement({ actions: ["sqs:SendMessage"], resources: [...builtinQueueArns, customQueueArns] });
  return {
    prefix,
    agents,
    builtinQueueArns,
    builtinQueueAndDlqArns,
    customQueueArns,
    customQueueSuppression,
    sendToAgentQueues,
  };
}
export type AgentQueues = ReturnType<typeof addAgentQueues>;

/**
 * Each built-in agent's consumer function, its event source mapping on the agent's queue, and what the agent's
 * `provision` creates. Returns also what the agents give the API function (AgentResources.api), and the provider
 * secrets' ARNs by output name.
 */
export function addAgentConsumers(
  stack: Stack,
  {
    app,
    ephemeral,
    queues,
    tableAccess,
    plans,
  }: Pick<NexusParts, "app" | "ephemeral" | "queues" | "tableAccess" | "plans">,
) {
  const { agents } = queues;
  const { taskResults } = plans;
  const providerSecretArns: Record<string, string> = {};
  const agentScope = (cid: string): AgentScope => ({
    stack,
    ephemeral,
    env: process.env,
    id: (name) => `${cid}${name}`,
    providerSecret: (name, description) => {
      const secret = new secretsmanager.Secret(stack, `${cid}${pascal(name)}Secret`, {
        secretName: `${app.name}/${app.stage}/${name}`,
        description,
        // A placeholder, not a credential: the operator puts the real JSON.
        secretObjectValue: {},
        removalPolicy: ephemeral ? RemovalPolicy.DESTROY : RemovalPolicy.RETAIN,
      });
      NagSuppressions.addResourceSuppressions(secret, [
        {
          id: "AwsSolutions-SMG4",
          reason:
            "Holds third-party provider credentials (API tokens, webhook URLs), which are rotated at the provider: the operator puts the new JSON (aws secretsmanager put-secret-value) and the agent re-reads it within 5 minutes. A rotation Lambda cannot issue provider credentials.",
        },
      ]);
      providerSecretArns[`${cid}${pascal(name)}SecretArn`] = secret.secretArn;
      return secret;
    },
  });
  // Each agent's event source mapping: the API turns it off and on when the agent is deactivated/reactivated.
  const consumers: Array<{ agentId: string; eventSource: SqsEventSource }> = [];
  // What agents give the API function besides (AgentResources.api), applied when the API function is created.
  const forApi: Array<NonNullable<AgentResources["api"]>> = [];
  const agentFunctions = agents.map(({ agent, cid, queue, dlq, scaling }) => {
    const own: AgentResources = agent.provision?.(agentScope(cid)) ?? {};
    if (own.api) forApi.push(own.api);
    const fn = nexusFunction(stack, `${cid}Function`, {
      handler: `functions/agents/${agent.id}.handler`,
      timeout: scaling.timeoutSeconds,
      memorySize: scaling.memorySize,
      ...(agent.architecture ? { architecture: agent.architecture } : {}),
      ...(agent.diskSize ? { diskSize: agent.diskSize } : {}),
      ...(own.layers?.length ? { layers: [...own.layers] } : {}),
      environment: { ...own.environment, NEXUS_AGENT_ID: agent.id },
    });
    // Also grants receive/delete/change-visibility on this queue only.
    const eventSource = new SqsEventSource(queue, {
      batchSize: scaling.batchSize,
      ...(scaling.batchingWindowSeconds > 0
        ? { maxBatchingWindow: Duration.seconds(scaling.batchingWindowSeconds) }
        : {}),
      // Invocations at once for this queue: what one agent may take of the account's concurrency and its providers.
      maxConcurrency: scaling.maxConcurrency,
      reportBatchItemFailures: true,
    });
    fn.addEventSource(eventSource);
    consumers.push({ agentId: agent.id, eventSource });
    // BatchGetItem: its health action lists its newest tasks (a listing reads its page's tasks by key).
    // BatchWriteItem: a batch's events in the change feed are written together (core events.ts, gathering).
    fn.addToRolePolicy(tableAccess("GetItem", "PutItem", "UpdateItem", "Query", "BatchGetItem", "BatchWriteItem"));
    // Delayed retries go back on its own queue; exhausted tasks go to its own DLQ.
    fn.addToRolePolicy(
      new iam.PolicyStatement({ actions: ["sqs:SendMessage"], resources: [queue.queueArn, dlq.queueArn] }),
    );
    // Its health action counts its DLQ's messages (they degrade the agent) before recording a status change.
    fn.addToRolePolicy(new iam.PolicyStatement({ actions: ["sqs:GetQueueAttributes"], resources: [dlq.queueArn] }));
    // A plan step's task reports its outcome (and each attempt's start) through the step's task token.
    fn.addToRolePolicy(taskResults("SendTaskSuccess", "SendTaskFailure", "SendTaskHeartbeat"));
    for (const statement of own.statements ?? []) fn.addToRolePolicy(statement);
    if (own.roleSuppressions?.length) {
      NagSuppressions.addResourceSuppressions(fn.role ?? fn, [...own.roleSuppressions], true);
    }
    return fn;
  });
  // Each built-in agent's event source mapping by agent id, for the functions that switch them (the API, the sweeper).
  const builtinConsumers = stack.toJsonString(
    Object.fromEntries(consumers.map(({ agentId, eventSource }) => [agentId, eventSource.eventSourceMappingId])),
  );
  const mappingArns = consumers.map(({ eventSource }) => eventSource.eventSourceMappingArn);
  return { agentFunctions, builtinConsumers, mappingArns, forApi, providerSecretArns };
}
export type AgentConsumers = ReturnType<typeof addAgentConsumers>;
