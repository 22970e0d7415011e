import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CreateQueueCommand, GetQueueAttributesCommand } from "@aws-sdk/client-sqs";
import { serve } from "@hono/node-server";
import { builtinAgents } from "@nexus/agents";
import { alarmChat } from "@nexus/agents/alarm-chat";
import { type AgentScaling, agentScaling, DEFAULT_SCALING, visibilityTimeoutSeconds } from "@nexus/agents/scaling";
import { createPlanner } from "@nexus/agents/strategy";
import { createApp, MAX_RESULT_BODY_BYTES } from "@nexus/api";
import {
  type ActionHandler,
  type AgentImplementation,
  type Context,
  createClients,
  createLogger,
  DEFAULT_SETTINGS,
  ensureTable,
  fileObjectStore,
  LocalMetrics,
  MemoryMetrics,
  type QueueRef,
  type Settings,
  secretsManager,
  stepFunctions,
  useMetricsSink,
} from "@nexus/core";
import * as Agents from "@nexus/core/agents";
import type * as Alarms from "@nexus/core/alarms";
import * as Failures from "@nexus/core/failures";
import * as Health from "@nexus/core/health";
import * as Keys from "@nexus/core/keys";
import * as Plans from "@nexus/core/plans";
import * as Queues from "@nexus/core/queues";
import * as Sweeper from "@nexus/core/sweeper";
import * as TaskLogs from "@nexus/core/task-logs";
import * as Worker from "@nexus/core/worker";
import { type AlarmChange, LocalAlarms } from "./alarms.js";
import { BodyGate, DEFAULT_BODY_BUDGET_BYTES } from "./body-gate.js";
import { QuietCompactor } from "./compactor.js";
import { type Emulator, LOOPBACK, startDynamo, startSqs } from "./emulators.js";
import { type FunctionName, invoking } from "./invocations.js";
import { QueuePoller } from "./poller.js";
import { LocalScheduler } from "./scheduler.js";
import { startSecrets } from "./secrets-server.js";
import { type LocalStepFunctions, startStepFunctions } from "./sfn-server.js";
import { builtinStandIns, type StandIn, type StandInFactory } from "./standins/index.js";

export interface LocalOptions {
  /** Where DynamoDB data is kept; omitted → in memory. */
  dataDir?: string;
  /** API port; 0 picks a free one. */
  port?: number;
  /**
   * Bytes of large request bodies (over 256 KB: remote workers' results) the API works on at once; more wait their
   * turn, unread (body-gate.ts). Default 32 MB.
   */
  bodyBudgetBytes?: number;
  /** Queue prefix, as the stack derives it from app and stage. */
  queuePrefix?: string;
  /**
   * The built-in agents' scaling, as `NEXUS_AGENT_SCALING` gives it to the stack (JSON by agent id of `maxConcurrency`,
   * `batchSize`, `batchingWindowSeconds`, `timeoutSeconds`, `memorySize`; packages/agents/src/scaling.ts): each agent's
   * poller runs with its concurrency, batches and timeout (memory means nothing here). Unset → the defaults.
   */
  agentScaling?: string;
  /** Consumer timeout per batch for every agent (the Lambda function timeout), over its scaling's. */
  agentTimeoutSeconds?: number;
  /** Concurrent batches per agent queue for every agent, over its scaling's `maxConcurrency`. */
  concurrency?: number;
  /** How often the sweeper runs (default 60 s). */
  sweepIntervalMs?: number;
  /** How long a queued task may sit past its due time before its message is presumed lost (default 5 min). */
  sweepGraceMs?: number;
  /** How long a running task may outlive its lease before its worker is presumed gone (default 5 s). */
  leaseGraceMs?: number;
  /** How often due schedules are looked for (default 1 s); 0: only when `scheduler.tick()` is called. */
  scheduleIntervalMs?: number;
  /** How often the built-in agents are probed (default: the health settings' probeIntervalSeconds, 5 min). */
  probeIntervalMs?: number;
  /** How often DLQs are drained into the failures inbox (default 5 s). */
  failureIngestIntervalMs?: number;
  /** How long stop() waits for batches in flight before abandoning them (default 2 s). */
  stopGraceMs?: number;
  logLevel?: "DEBUG" | "INFO" | "WARN" | "ERROR" | "SILENT";
  now?: () => Date;
  /** The bootstrap admin key. Omitted: the one kept in the data directory, or a new one. */
  adminKey?: string;
  /** Rate limits and daily caps (defaults as in AWS). */
  settings?: Partial<Omit<Settings, "adminKeySecret">>;
  /** Further secrets for the local Secrets Manager endpoint (provider credentials). */
  secrets?: Record<string, string>;
  /** The built-in agents to run (default: all of them). */
  agents?: AgentImplementation[];
  /** Local stand-ins for outside services (default: those of the built-in agents). */
  standIns?: StandInFactory[];
  /** Extra `NEXUS_*` settings for the agents; they win over the stand-ins'. */
  agentConfig?: Record<string, string>;
  /** The alarms evaluated against the runtime's own metrics (alarms.ts). */
  alarms?: {
    /** Thresholds (`NEXUS_ALARMS`); default: the defaults. */
    settings?: Alarms.AlarmSettings;
    /** How often they are evaluated (default 5 s). */
    intervalMs?: number;
    /** Periods shortened by this factor (tests; default 1). */
    periodScale?: number;
    /** Told of each change into or out of ALARM (default: logged). */
    onChange?: (change: AlarmChange) => void;
    /** A channel of the chat secret each such change is posted to (`NEXUS_ALARM_CHAT`), as in AWS. */
    chatChannel?: string;
  };
}

export interface LocalNexus {
  url: string;
  ctx: Context;
  endpoints: { dynamodb: string; sqs: string; secretsManager: string; stepFunctions: string };
  /** The local Step Functions endpoint running the plan state machine. */
  stepFunctions: LocalStepFunctions;
  /** The bootstrap admin key, and whether this start created it (it is shown once). */
  adminKey: string;
  adminKeyCreated: boolean;
  /** Sets a secret in the local Secrets Manager endpoint. */
  putSecret(name: string, value: string): void;
  /** The running stand-ins, by name. */
  standIns: Record<string, StandIn>;
  /** The settings the agents run with. */
  agentConfig: Readonly<Record<string, string>>;
  /** Runs a worker for a custom agent on its queue, the way a Lambda consumer would. */
  attachWorker(agentId: string, handlers: Record<string, ActionHandler>): Promise<void>;
  /** Moves what waits in the agents' DLQs into the failures inbox now (also done every few seconds). */
  ingestFailures(): Promise<number>;
  /**
   * What this runtime's code recorded through `metrics()` (core's metrics.ts): the same metrics, names and dimensions
   * the functions write as EMF in AWS, kept in process (what the local alarms and the dashboard read).
   */
  metrics: MemoryMetrics;
  /** Runs the sweeper once now: tasks, plans, then agents (health changes, metrics, consumers); `grace` for both. */
  sweep(graceMs?: number): Promise<Sweeper.RunResult>;
  /** Probes the built-in agents once now: a `health` task each (one per agent per probe interval). */
  probe(): Promise<Health.ProbeResult>;
  /** What this start recovered from the last process: unfinished tasks put back, unfinished plan runs resumed. */
  recovery: { tasks: Sweeper.SweepResult; plans: Plans.RecoverResult };
  /** Plays EventBridge Scheduler: fires due schedules; `tick(now)` fires what is due at once. */
  scheduler: LocalScheduler;
  /** What the alarms read: the same metrics aggregated per period, and the queues sampled. */
  alarmMetrics: LocalMetrics;
  /** The alarms evaluated against them; `tick()` evaluates now. */
  alarms: LocalAlarms;
  stop(): Promise<void>;
}

export const TABLE_NAME = "nexus-local";
export const ADMIN_KEY_SECRET = "nexus/admin-key";
/** Written while the runtime runs, so the CLI can reach its emulators. */
export const RUNTIME_FILE = "runtime.json";
const CREDENTIALS = { accessKeyId: "local", secretAccessKey: "local" };
/** Stands for the plan runner function in the definition; locally its tasks run in-process. */
const LOCAL_PLAN_RUNNER_ARN = "arn:aws:lambda:us-east-1:123456789012:function:nexus-local-plans";

/** The built-in agents' queues, configured like the stack's (visibility from the scaling, redrive to a DLQ). */
async function createBuiltinQueues(
  ctx: Context,
  agents: AgentImplementation[],
  prefix: string,
  scalings: Record<string, AgentScaling>,
) {
  const refs: Record<string, QueueRef> = {};
  for (const { spec } of agents) {
    const scaling = scalings[spec.id] ?? DEFAULT_SCALING;
    const dlq = await ctx.sqs.send(new CreateQueueCommand({ QueueName: `${prefix}${spec.id}-dlq` }));
    const dlqArn = await arnOf(ctx, dlq.QueueUrl);
    const queue = await ctx.sqs.send(
      new CreateQueueCommand({
        QueueName: `${prefix}${spec.id}`,
        Attributes: {
          VisibilityTimeout: String(visibilityTimeoutSeconds(scaling)),
          RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlqArn, maxReceiveCount: Queues.MAX_RECEIVE_COUNT }),
        },
      }),
    );
    refs[spec.id] = {
      url: queue.QueueUrl ?? "",
      arn: await arnOf(ctx, queue.QueueUrl),
      dlqUrl: dlq.QueueUrl ?? "",
      dlqArn,
    };
  }
  return refs;
}

async function arnOf(ctx: Context, url: string | undefined) {
  const out = await ctx.sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ["QueueArn"] }));
  return out.Attributes?.QueueArn ?? "";
}

/** The bootstrap admin key: given, kept in the data directory, or new (then kept there, readable by its owner only). */
function resolveAdminKey(given: string | undefined, dataDir: string | undefined) {
  if (given) return { key: given, created: false };
  const file = dataDir ? join(dataDir, "admin-key") : undefined;
  if (file && existsSync(file)) return { key: readFileSync(file, "utf8").trim(), created: false };
  const key = Keys.generate().token;
  if (file) writeFileSync(file, `${key}\n`, { mode: 0o600 });
  return { key, created: true };
}

/**
 * Runs `run` every `ms` (the process may exit meanwhile), one run at a time: a run that outlasts the interval is not
 * joined by the next one (thousands of tasks queued on a slow machine made side-by-side sweeps go over the same tasks).
 * Returns the stop, which waits for the run in flight: it would otherwise go on against the stopped emulators.
 */
function repeating(ms: number, run: () => Promise<unknown>): () => Promise<void> {
  let running: Promise<unknown> | undefined;
  const timer = setInterval(() => {
    running ??= run().finally(() => {
      running = undefined;
    });
  }, ms);
  timer.unref();
  return async () => {
    clearInterval(timer);
    await running;
  };
}

/**
 * Starts Nexus on 127.0.0.1: dynalite, local-aws-sqs, the API, a poller per agent queue (in place of
 * Lambda's event source mappings) and the sweeper (in place of its EventBridge schedule).
 */
export async function startLocal(options: LocalOptions = {}): Promise<LocalNexus> {
  const withOverrides = (scaling: AgentScaling): AgentScaling => ({
    ...scaling,
    ...(options.concurrency === undefined ? {} : { maxConcurrency: options.concurrency }),
    ...(options.agentTimeoutSeconds === undefined ? {} : { timeoutSeconds: options.agentTimeoutSeconds }),
  });
  // What changed before this instant was done by an earlier process: recovery touches that, and only that.
  const startedAt = new Date().toISOString();
  // JSON lines, ids and redaction as in every Lambda function (core's log.ts); each part a child with its service name.
  const logger = createLogger("nexus-local", { level: options.logLevel ?? "WARN" });
  const metrics = new MemoryMetrics();
  const prefix = options.queuePrefix ?? "nexus-local-agent-";
  const stops: Array<() => Promise<void>> = [];
  const stopAll = async () => {
    for (const stop of stops.reverse()) await stop().catch(() => undefined);
  };

  try {
    let dbPath: string | undefined;
    if (options.dataDir) {
      dbPath = join(options.dataDir, "dynamodb");
      mkdirSync(dbPath, { recursive: true });
    }
    // Metrics recorded anywhere in this process while it runs (the API, the pollers' handlers, the sweeper).
    const uninstallMetrics = useMetricsSink(metrics);
    stops.push(async () => uninstallMetrics());
    // Once quiet after work, one full collection gives the work's heap back (compactor.ts; with `npm run dev`'s flags).
    const compactor = new QuietCompactor();
    const unobserve = metrics.subscribe((point) => compactor.observe(point));
    compactor.start();
    stops.push(async () => {
      unobserve();
      compactor.stop();
    });
    const dynamo: Emulator = await startDynamo(dbPath ? { path: dbPath } : {});
    stops.push(dynamo.stop);
    const sqsServer: Emulator = await startSqs();
    stops.push(sqsServer.stop);

    if (options.dataDir) mkdirSync(options.dataDir, { recursive: true });
    const standIns: Record<string, StandIn> = {};
    for (const start of options.standIns ?? builtinStandIns) {
      const standIn = await start(options.dataDir ? { dataDir: options.dataDir } : {});
      standIns[standIn.name] = standIn;
      stops.push(standIn.stop);
    }
    const agentConfig: Record<string, string> = {
      ...Object.assign({}, ...Object.values(standIns).map((s) => s.config)),
      ...options.agentConfig,
    };
    const admin = resolveAdminKey(options.adminKey, options.dataDir);
    const secretsServer = await startSecrets({
      secrets: {
        ...Object.assign({}, ...Object.values(standIns).map((s) => s.secrets)),
        ...options.secrets,
        [ADMIN_KEY_SECRET]: admin.key,
      },
    });
    stops.push(secretsServer.stop);

    // The plan state machine: the stack's definition, its Lambda tasks run in-process by the same handler.
    const plansLogger = logger.createChild({ serviceName: "nexus-plans" });
    let planContext: Context | undefined;
    const sfnServer = await startStepFunctions({
      definition: Plans.planDefinition({ PlanRunnerArn: LOCAL_PLAN_RUNNER_ARN }),
      stateMachineName: "nexus-local-plans",
      logger: plansLogger,
      invoke: async (payload) => {
        const ctx = planContext;
        if (!ctx) throw new Error("the local runtime is not ready");
        return invoking("plans", () => Plans.handle(ctx, payload, plansLogger));
      },
    });
    stops.push(sfnServer.stop);

    const clients = createClients({
      region: "us-east-1",
      dynamodbEndpoint: dynamo.endpoint,
      sqsEndpoint: sqsServer.endpoint,
      secretsManagerEndpoint: secretsServer.endpoint,
      stepFunctionsEndpoint: sfnServer.endpoint,
      credentials: CREDENTIALS,
    });
    // Large params and results (payloads.ts): files under the data directory, served only through the API (with
    // a key), never by the research stand-in's artifact server.
    let payloadsDir: string;
    if (options.dataDir) {
      payloadsDir = join(options.dataDir, "payloads");
      mkdirSync(payloadsDir, { recursive: true });
    } else {
      const dir = mkdtempSync(join(tmpdir(), "nexus-payloads-"));
      payloadsDir = dir;
      stops.push(async () => rmSync(dir, { recursive: true, force: true }));
    }
    // Kept for the longest alarm window twice (15 minutes of 1-minute periods, three of 5 minutes), at most 2,000 series.
    const periodScale = options.alarms?.periodScale ?? 1;
    const alarmMetrics = new LocalMetrics({
      resolutionMs: Math.max(10, Math.round(1000 * periodScale)),
      retentionMs: Math.round(30 * 60_000 * periodScale),
    });
    const uninstallAlarmMetrics = useMetricsSink(alarmMetrics);
    stops.push(async () => uninstallAlarmMetrics());
    const ctx: Context = {
      tableName: TABLE_NAME,
      payloads: fileObjectStore({ dir: payloadsDir }),
      queuePrefix: prefix,
      builtinQueues: {},
      ddb: clients.ddb,
      sqs: clients.sqs,
      secrets: secretsManager(clients.secretsClient, 5),
      settings: { ...DEFAULT_SETTINGS, ...options.settings, adminKeySecret: ADMIN_KEY_SECRET },
      workflows: stepFunctions(clients.sfn, sfnServer.stateMachineArn),
      now: options.now ?? (() => new Date()),
    };
    planContext = ctx;
    stops.push(async () => {
      clients.sfn.destroy();
      clients.ddb.destroy();
      clients.sqs.destroy();
      clients.secretsClient.destroy();
    });
    await ensureTable(ctx.ddb, ctx.tableName, dbPath ?? "memory");
    const agents = options.agents ?? builtinAgents;
    const specs = agents.map((agent) => agent.spec);
    // Each agent's scaling as the stack reads it, with this start's overrides over every agent's.
    const scalings = Object.fromEntries(
      Object.entries(
        agentScaling(
          options.agentScaling,
          specs.map((spec) => spec.id),
        ),
      ).map(([id, scaling]) => [id, withOverrides(scaling)]),
    );
    ctx.builtinQueues = await createBuiltinQueues(ctx, agents, prefix, scalings);
    const registered = new Map<string, string>();
    for (const spec of specs) registered.set(spec.id, (await Agents.ensureBuiltin(ctx, spec)).status);

    // The local queues are new: give custom agents theirs again.
    for (const agent of await Agents.all(ctx)) {
      if (agent.builtin) continue;
      const queue = await Queues.createAgentQueues(ctx, agent.id);
      await Agents.setQueue(ctx, agent.id, queue);
    }

    const pollers = new Map<string, QueuePoller>();
    // The function each poller plays (its batches and its receives: Lambda's event source mapping uses its role).
    const pollerFunctions = new Map<QueuePoller, FunctionName>();
    const startPoller = (poller: QueuePoller) => invoking(pollerFunctions.get(poller) ?? "api", () => poller.start());
    // Consumers start once recovery is done, so recovery never pulls back a task a consumer of this process runs.
    let consuming = false;
    // What Lambda's event source mappings do when an agent is deactivated: its poller pauses.
    ctx.consumers = {
      setEnabled: async (agentId, enabled) => {
        const poller = pollers.get(agentId);
        if (enabled) poller?.resume();
        else poller?.pause();
      },
      enabled: async (agentId) => pollers.get(agentId)?.active,
    };
    const attach = (
      agentId: string,
      queue: QueueRef,
      handlers: Record<string, ActionHandler>,
      active: boolean,
      fn: FunctionName,
    ) => {
      const agentLogger = logger.createChild({ serviceName: `nexus-agent-${agentId}` });
      const consumer = Worker.createConsumer({ ctx, agentId, queue, handlers, logger: agentLogger });
      // A custom agent run here (attachWorker) scales as an agent without defaults of its own.
      const scaling = scalings[agentId] ?? withOverrides(DEFAULT_SCALING);
      const poller = new QueuePoller({
        sqs: ctx.sqs,
        queueUrl: queue.url,
        queueArn: queue.arn,
        handler: consumer,
        logger: agentLogger,
        timeoutSeconds: scaling.timeoutSeconds,
        concurrency: scaling.maxConcurrency,
        batchSize: scaling.batchSize,
        batchingWindowSeconds: scaling.batchingWindowSeconds,
      });
      pollers.get(agentId)?.stop();
      pollers.set(agentId, poller);
      pollerFunctions.set(poller, fn);
      if (!active) poller.pause();
      if (consuming) startPoller(poller);
    };
    for (const agent of agents) {
      const queue = ctx.builtinQueues[agent.spec.id];
      // What the handlers log while a task runs is also kept with its attempt (task-logs.ts).
      const agentLogger = TaskLogs.capturing(logger.createChild({ serviceName: `nexus-agent-${agent.spec.id}` }));
      const handlers = agent.handlers({ ctx, config: agentConfig, logger: agentLogger });
      const status = registered.get(agent.spec.id);
      if (queue) attach(agent.spec.id, queue, handlers, status !== "inactive", `agent:${agent.spec.id}`);
    }
    stops.push(async () => {
      await Promise.all([...pollers.values()].map((p) => p.stop(options.stopGraceMs)));
    });

    // Every message from before this start is gone with the old in-memory queues, and so is every execution of the
    // old local Step Functions endpoint: unfinished tasks go back on their queues, unfinished plan runs resume.
    const recovered = await Sweeper.sweep(ctx, { graceMs: 0, restart: true, changedBefore: startedAt });
    if (recovered.requeued + recovered.failed > 0) logger.info("recovered unfinished tasks", { ...recovered });
    const resumed = await Plans.recover(ctx, {
      restart: true,
      changedBefore: startedAt,
      graceMs: 0,
      logger: plansLogger,
    });
    if (resumed.resumed + resumed.settled > 0) logger.info("recovered unfinished plans", { ...resumed });
    consuming = true;
    for (const poller of pollers.values()) startPoller(poller);

    const interval = options.sweepIntervalMs ?? 60_000;
    const graceMs = options.sweepGraceMs ?? 5 * 60_000;
    const leaseGraceMs = options.leaseGraceMs ?? 5_000;
    const sweepAll = (grace: number, leaseGrace: number) =>
      invoking("sweeper", () => Sweeper.run(ctx, { graceMs: grace, leaseGraceMs: leaseGrace, logger }));
    stops.push(
      repeating(interval, () =>
        sweepAll(graceMs, leaseGraceMs).catch((error) => logger.error("sweep failed", { error })),
      ),
    );
    // What the probe function does on its EventBridge schedule: a health task to each active built-in agent.
    stops.push(
      repeating(options.probeIntervalMs ?? Health.settingsOf(ctx).probeIntervalSeconds * 1000, () =>
        invoking("probe", () => Health.probe(ctx)).catch((error) => logger.error("probe failed", { error })),
      ),
    );
    // The alarms, over the runtime's own metrics; changes into and out of ALARM are told (and posted to chat).
    const chatChannel = options.alarms?.chatChannel;
    const chatSecret = agentConfig.NEXUS_CHAT_SECRET;
    const chat =
      chatChannel && chatSecret
        ? alarmChat({ secrets: ctx.secrets, secretName: chatSecret, channel: chatChannel })
        : undefined;
    const alarms = new LocalAlarms({
      ctx,
      metrics: alarmMetrics,
      logger: logger.createChild({ serviceName: "nexus-alarms" }),
      ...(options.alarms?.settings ? { settings: options.alarms.settings } : {}),
      ...(options.alarms?.intervalMs === undefined ? {} : { intervalMs: options.alarms.intervalMs }),
      periodScale,
      onChange: (change) => {
        if (options.alarms?.onChange) options.alarms.onChange(change);
        else logger.warn("alarm state changed", { ...change });
        chat
          ?.notify({
            name: `nexus-local-${change.key}`,
            state: change.to,
            previous: change.from,
            reason: change.reason,
            description: change.description,
            at: change.at,
          })
          .catch((error) => logger.error("alarm not posted to chat", { key: change.key, error }));
      },
    });
    ctx.alarms = alarms;
    alarms.start();
    stops.push(() => alarms.stop());
    // What the failures function does on its schedule in AWS: DLQs into the inbox. The DLQs are sampled first, so that
    // a message the inbox takes is seen by the alarms, as CloudWatch sees it for the minutes it waits in AWS.
    stops.push(
      repeating(options.failureIngestIntervalMs ?? 5_000, () =>
        alarms
          .sampleQueues()
          .catch((error) => logger.error("queue sampling failed", { error }))
          .then(() => invoking("failures", () => Failures.ingest(ctx)))
          .catch((error) => logger.error("failure ingestion failed", { error })),
      ),
    );
    // What EventBridge Scheduler does in AWS: due schedules fire. What came due while stopped is not replayed: it is
    // recorded as missed.
    const scheduler = new LocalScheduler({
      ctx,
      logger: logger.createChild({ serviceName: "nexus-schedules" }),
      ...(options.scheduleIntervalMs === undefined ? {} : { intervalMs: options.scheduleIntervalMs }),
    });
    // Finding due schedules is EventBridge Scheduler's part in AWS; firing them is the schedule function's.
    await invoking("schedule", () => scheduler.start());
    stops.push(() => scheduler.stop());

    const planner = createPlanner({ config: agentConfig, secrets: ctx.secrets, logger: plansLogger });
    const app = createApp({ ctx, logger, builtinSpecs: specs, planner });
    // One process serves every request here (each has a Lambda instance of its own in AWS): large bodies take turns.
    const bodies = new BodyGate(options.bodyBudgetBytes ?? DEFAULT_BODY_BUDGET_BYTES, MAX_RESULT_BODY_BYTES);
    const server = await new Promise<Server>((resolve) => {
      const fetch: typeof app.fetch = (request, env, execution) =>
        bodies.run(request, () => invoking("api", async () => app.fetch(request, env, execution)));
      const s = serve({ fetch, port: options.port ?? 3000, hostname: LOOPBACK }, () => resolve(s as Server));
    });
    stops.push(async () => {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    });
    const { port } = server.address() as AddressInfo;
    const url = `http://${LOOPBACK}:${port}`;
    const endpoints = {
      dynamodb: dynamo.endpoint,
      sqs: sqsServer.endpoint,
      secretsManager: secretsServer.endpoint,
      stepFunctions: sfnServer.endpoint,
    };
    if (options.dataDir) {
      const file = join(options.dataDir, RUNTIME_FILE);
      writeFileSync(file, JSON.stringify({ pid: process.pid, url, endpoints, tableName: TABLE_NAME }, null, 2));
      stops.push(async () => rmSync(file, { force: true }));
    }

    return {
      url,
      ctx,
      endpoints,
      stepFunctions: sfnServer,
      adminKey: admin.key,
      adminKeyCreated: admin.created,
      putSecret: secretsServer.put,
      standIns,
      agentConfig,
      attachWorker: async (agentId, handlers) => {
        const agent = await Agents.get(ctx, agentId);
        attach(agentId, agent.queue, handlers, agent.status === "active", `worker:${agentId}`);
      },
      metrics,
      ingestFailures: () => invoking("failures", () => Failures.ingest(ctx)),
      sweep: (grace) => sweepAll(grace ?? graceMs, grace ?? leaseGraceMs),
      probe: () => invoking("probe", () => Health.probe(ctx)),
      recovery: { tasks: recovered, plans: resumed },
      scheduler,
      alarmMetrics,
      alarms,
      stop: stopAll,
    };
  } catch (error) {
    await stopAll();
    throw error;
  }
}
