import { type Architecture, PRICES } from "./prices.js";

/**
 * What a task or a plan cost in AWS, estimated from what it did (its attempts, writes, messages, payloads) at the
 * published on-demand prices (prices.ts), with the per-request figures the bench measures (`npm run bench`, its cost
 * phase; README, Cost per task). The line: everything Nexus does to carry a task (the API request, the writes, the
 * messages, the agent function's invocation and its own time to claim and record the attempt, logs, traces) is in;
 * the time the action itself runs in the agent's function (`startedAt`…`finishedAt` of an attempt) is not.
 */

/** What something used, in billing units. */
export interface Usage {
  /** API Gateway (HTTP API) requests. */
  apiRequests: number;
  /** Lambda invocations. */
  lambdaRequests: number;
  /** Lambda GB-seconds, by architecture. */
  gbSeconds: Record<Architecture, number>;
  /** DynamoDB write and read request units (on-demand). */
  writeUnits: number;
  readUnits: number;
  /** SQS requests (64 KB chunks). */
  sqsRequests: number;
  /** Step Functions (Standard) state transitions. */
  transitions: number;
  /** Bytes ingested by CloudWatch Logs. */
  logBytes: number;
  s3Puts: number;
  s3Gets: number;
  /** X-Ray traces recorded. */
  traces: number;
}

export const COST_ITEMS = [
  "apiGateway",
  "lambdaRequests",
  "lambdaDuration",
  "dynamodbWrites",
  "dynamodbReads",
  "sqs",
  "stepFunctions",
  "logs",
  "s3",
  "xray",
] as const;
export type CostItem = (typeof COST_ITEMS)[number];

export interface Estimate {
  /** US dollars, all items. */
  usd: number;
  /** US dollars by item. */
  items: Record<CostItem, number>;
  basis: string;
}

export const COST_BASIS = `estimate at published on-demand prices, ${PRICES.region} (${PRICES.asOf}); excludes the action's own run time in the agent's function`;

export const noUsage = (): Usage => ({
  apiRequests: 0,
  lambdaRequests: 0,
  gbSeconds: { arm64: 0, x86_64: 0 },
  writeUnits: 0,
  readUnits: 0,
  sqsRequests: 0,
  transitions: 0,
  logBytes: 0,
  s3Puts: 0,
  s3Gets: 0,
  traces: 0,
});

/** The sum of usages. */
export function addUsage(...all: Usage[]): Usage {
  const sum = noUsage();
  for (const u of all) {
    for (const key of Object.keys(sum) as Array<keyof Usage>) {
      if (key === "gbSeconds") {
        sum.gbSeconds.arm64 += u.gbSeconds.arm64;
        sum.gbSeconds.x86_64 += u.gbSeconds.x86_64;
      } else sum[key] += u[key];
    }
  }
  return sum;
}

/** A usage times `factor` (e.g. per million). */
export function scaleUsage(u: Usage, factor: number): Usage {
  const scaled = noUsage();
  for (const key of Object.keys(scaled) as Array<keyof Usage>) {
    if (key === "gbSeconds") {
      scaled.gbSeconds = { arm64: u.gbSeconds.arm64 * factor, x86_64: u.gbSeconds.x86_64 * factor };
    } else scaled[key] = u[key] * factor;
  }
  return scaled;
}

/** The dollars of a usage, by item. */
export function priceOf(u: Usage): Estimate {
  const items: Record<CostItem, number> = {
    apiGateway: u.apiRequests * PRICES.apiGatewayHttpRequest,
    lambdaRequests: u.lambdaRequests * PRICES.lambdaRequest,
    lambdaDuration: u.gbSeconds.arm64 * PRICES.lambdaGbSecond.arm64 + u.gbSeconds.x86_64 * PRICES.lambdaGbSecond.x86_64,
    dynamodbWrites: u.writeUnits * PRICES.dynamodbWriteUnit,
    dynamodbReads: u.readUnits * PRICES.dynamodbReadUnit,
    sqs: u.sqsRequests * PRICES.sqsRequest,
    stepFunctions: u.transitions * PRICES.stepFunctionsTransition,
    logs: (u.logBytes / 1024 ** 3) * PRICES.logsIngestedGb,
    s3: u.s3Puts * PRICES.s3Put + u.s3Gets * PRICES.s3Get,
    xray: u.traces * PRICES.xrayTrace,
  };
  const usd = Object.values(items).reduce((a, b) => a + b, 0);
  return { usd, items, basis: COST_BASIS };
}

/** A function as the stack configures it (stacks/api.ts, stacks/agents.ts, stacks/plans.ts; a stack test compares). */
export interface FunctionSettings {
  memoryMb: number;
  architecture: Architecture;
}
export const FUNCTIONS = {
  api: { memoryMb: 512, architecture: "arm64" },
  planRunner: { memoryMb: 512, architecture: "arm64" },
  schedule: { memoryMb: 512, architecture: "arm64" },
  /** A built-in agent's function unless {@link AGENT_FUNCTIONS} says otherwise. */
  agent: { memoryMb: 512, architecture: "arm64" },
  /** The sweeper, failures, probe and alarm-chat functions: run on a timer or a notice, for seconds at a time. */
  operations: { memoryMb: 512, architecture: "arm64" },
} as const satisfies Record<string, FunctionSettings>;
export const AGENT_FUNCTIONS: Record<string, FunctionSettings> = {
  research: { memoryMb: 2048, architecture: "x86_64" },
};

/**
 * The figures per request that a stored task does not show, from the bench's cost phase (README, Cost per task). Its
 * counts are exact; its times are local (emulators in the same process, an upper bound), so the times here are what
 * the same sequential calls take in AWS at single-digit milliseconds each, rounded up.
 */
export const MODEL = {
  /** A submission's time in the API function (authenticate, check, one batch write, one send), ms. */
  apiSubmitMs: 40,
  /** A Lambda-run attempt's own time in its agent function (claim, final write), ms; the action's time aside. */
  agentAttemptMs: 20,
  /** A scheduled task's time in the schedule function, ms. */
  scheduleMs: 40,
  /** Tasks an agent function's invocation carries (10 at full batches; 1 is the upper bound the estimate takes). */
  tasksPerInvocation: 1,
  /**
   * The platform's log records of one invocation: none, its system log level being WARN (sst.config.ts); at INFO its
   * start and report records (JSON, with tracing) take about 650 bytes.
   */
  platformLogBytes: 0,
  /** One line of the API's access log (stacks/api.ts). */
  accessLogBytes: 420,
  /** One application log line (a warning or an error), with CloudWatch's 26 bytes per event. */
  logLineBytes: 300,
  /**
   * The agent's `task succeeded` line (INFO: a task's story in the logs ends with it): its ids and, in Lambda, the
   * function's context keys (name, request id, cold start, trace id: about 180 bytes; locally the line is 271 bytes
   * with CloudWatch's 26).
   */
  successLineBytes: 450,
  /**
   * The API's `task submitted` line of a submission (258 bytes locally, with the context keys in Lambda); a batch
   * writes one `tasks submitted` line for the request, with {@link submitLineIdBytes} more per task id it lists.
   */
  submitLineBytes: 440,
  submitLineIdBytes: 32,
  /** Share of requests X-Ray records (the default sampling rule: 1 a second, then 5 %). */
  traceSampling: 0.05,
  /**
   * A submission's writes besides the task's: its audit record (item and index entry, 1 unit each) and its share of
   * the key's rate-limit counter (one write per batch of requests: 1/20 to 1; the bench measures about 0.1).
   */
  submitExtraWrites: 2.1,
  /** A submission's reads (the key and the agent come from per-container caches): units. */
  submitReads: 0,
  /** Index entries a new task writes (all, by agent, by status, by agent and status). */
  newTaskIndexWrites: 4,
  /**
   * Index units of the move to a final status: the two status indexes each delete an entry and put one. A claim or a
   * retry moves none (a running task is indexed as queued: storage/table.ts, indexedStatus).
   */
  finalIndexWrites: 4,
  /**
   * A plan step besides its task: state transitions (Standard workflow: the Choice that routes the iteration, the wait
   * for its dependencies when it has them, the task, and its share of the run's own states; an agent step's task
   * records its end), the plan runner's invocations and time.
   */
  planStepTransitions: 2.9,
  planStepInvocations: 1.6,
  planRunnerMs: 40,
  /** A plan step's writes and reads of the plan's items (the step, the plan's status and timeline), units. */
  planStepWrites: 5,
  planStepReads: 6,
  /** A plan step's execution history as the state machine logs it (level ALL, with execution data), bytes. */
  planStepLogBytes: 12_000,
} as const;

const gb = (settings: FunctionSettings, ms: number): Record<Architecture, number> => {
  const gbs = (settings.memoryMb / 1024) * (Math.ceil(ms) / 1000);
  return { arm64: settings.architecture === "arm64" ? gbs : 0, x86_64: settings.architecture === "x86_64" ? gbs : 0 };
};

/** One invocation of a function with `settings` running `ms` (its request, duration, platform logs, trace share). */
export function invocation(settings: FunctionSettings, ms: number, share = 1): Usage {
  return {
    ...noUsage(),
    lambdaRequests: share,
    gbSeconds: scaleUsage({ ...noUsage(), gbSeconds: gb(settings, ms) }, share).gbSeconds,
    logBytes: MODEL.platformLogBytes * share,
    traces: MODEL.traceSampling * share,
  };
}

/** An API request: API Gateway, the API function's invocation, its access log line. */
export function apiRequest(ms: number): Usage {
  return addUsage(invocation(FUNCTIONS.api, ms), {
    ...noUsage(),
    apiRequests: 1,
    logBytes: MODEL.accessLogBytes,
  });
}

/** What the cost estimate reads of a task. */
export interface TaskFacts {
  agentId: string;
  attempts: number;
  status: string;
  planId: string | null;
  idempotencyKey: string | null;
  events: ReadonlyArray<{ type: string }>;
  eventsDropped?: number;
  /** The item's size as stored (DynamoDB's rules), bytes. */
  itemBytes: number;
  paramsRef?: unknown;
  resultRef?: unknown;
  /** Set when the last attempt was claimed by a remote worker. */
  remote: boolean;
  /** How many tasks its submission carried (a batch); the request, its audit record and messages are shared. */
  submittedWith?: number;
}

/** schemas.ts TERMINAL_STATUSES, restated: schemas.ts imports this module (COST_ITEMS), so importing it back would be circular. */
const FINAL = ["succeeded", "failed", "cancelled"];

/**
 * The task item's writes: the first, then one per status change (a failed attempt and the task's failure are one
 * write), and one per event a full trail only counted.
 */
function statusWrites(facts: TaskFacts): number {
  let writes = 1;
  facts.events.forEach((event, i) => {
    if (i === 0) return;
    if (event.type === "failed" && facts.events[i - 1]?.type === "attempt_failed") return;
    writes++;
  });
  return writes + (facts.eventsDropped ?? 0);
}

/** The change feed's items of a task: one per event, kept on the item or only counted (each under 1 KB: 1 unit). */
const feedWrites = (facts: TaskFacts) => facts.events.length + (facts.eventsDropped ?? 0);

/**
 * The attempts' log items (one per attempt, under 1 KB for a few lines): every attempt's but one that succeeded, which
 * stores none when its action logged nothing (worker.ts; an action that logs adds 1 unit the estimate does not see).
 */
const logWrites = (facts: TaskFacts, attempts: number) =>
  Math.max(0, attempts - (facts.status === "succeeded" ? 1 : 0));

/** What a task used: its entry (the API, the schedule function, or a plan's runner, counted with the plan), its writes, messages and attempts. */
export function taskUsage(facts: TaskFacts): Usage {
  const parts: Usage[] = [];
  const scheduled = facts.idempotencyKey?.startsWith("schedule:") ?? false;
  const batch = Math.max(1, facts.submittedWith ?? 1);
  if (facts.planId === null) {
    const entry = addUsage(
      scheduled ? invocation(FUNCTIONS.schedule, MODEL.scheduleMs) : apiRequest(MODEL.apiSubmitMs),
      {
        ...noUsage(),
        writeUnits: scheduled ? 0 : MODEL.submitExtraWrites,
        readUnits: scheduled ? 0 : MODEL.submitReads,
        logBytes: scheduled ? 0 : MODEL.submitLineBytes,
      },
    );
    // A batch's request, invocation and audit record are shared by its tasks; so is its time here, though a batch
    // takes longer than one task's submission (this part is a lower bound for a batch).
    parts.push(scaleUsage(entry, 1 / batch));
    if (batch > 1) parts.push({ ...noUsage(), logBytes: MODEL.submitLineIdBytes });
  }
  const attempts = Math.max(0, facts.attempts);
  const writes = statusWrites(facts);
  const itemUnits = Math.max(1, Math.ceil(facts.itemBytes / 1024));
  const failed = facts.status === "failed";
  const settings = AGENT_FUNCTIONS[facts.agentId] ?? FUNCTIONS.agent;
  const share = 1 / MODEL.tasksPerInvocation;
  const perAttempt = facts.remote
    ? // a remote worker claims and completes through the API; its claim receives and deletes the message
      addUsage(apiRequest(MODEL.apiSubmitMs), apiRequest(MODEL.apiSubmitMs), { ...noUsage(), sqsRequests: 2 })
    : // the event source mapping receives and deletes a batch; the function's invocation is shared by the batch
      addUsage(invocation(settings, MODEL.agentAttemptMs * MODEL.tasksPerInvocation, share), {
        ...noUsage(),
        sqsRequests: 2 * share,
      });
  parts.push(scaleUsage(perAttempt, attempts));
  parts.push({
    ...noUsage(),
    writeUnits:
      writes * itemUnits +
      MODEL.newTaskIndexWrites +
      (FINAL.includes(facts.status) ? MODEL.finalIndexWrites : 0) +
      feedWrites(facts) +
      logWrites(facts, attempts),
    // each attempt's message (the first, sent 10 a request in a batch, and each retry's delayed one); a failure's
    // dead letter
    sqsRequests: 1 / Math.min(10, batch) + Math.max(0, attempts - 1) + (failed ? 1 : 0),
    // a warning per retried attempt, an error for a failure; the line of a success
    logBytes:
      MODEL.logLineBytes * (Math.max(0, attempts - 1) + (failed ? 1 : 0)) +
      (facts.status === "succeeded" ? MODEL.successLineBytes : 0),
    s3Puts: (facts.paramsRef ? 1 : 0) + (facts.resultRef ? 1 : 0),
    s3Gets: facts.paramsRef ? attempts : 0,
  });
  return addUsage(...parts);
}

/** The cost estimate of a task. */
export const taskCost = (facts: TaskFacts): Estimate => priceOf(taskUsage(facts));

/** What a plan used besides its tasks: its entry (the API, or the schedule function) and each step it started. */
export function planUsage(plan: { createdBy: string | null; startedSteps: number }): Usage {
  const scheduled = plan.createdBy?.startsWith("schedule:") ?? false;
  const entry = scheduled ? invocation(FUNCTIONS.schedule, MODEL.scheduleMs) : apiRequest(MODEL.apiSubmitMs);
  const step = addUsage(
    invocation(FUNCTIONS.planRunner, MODEL.planRunnerMs * MODEL.planStepInvocations, MODEL.planStepInvocations),
    {
      ...noUsage(),
      transitions: MODEL.planStepTransitions,
      writeUnits: MODEL.planStepWrites,
      readUnits: MODEL.planStepReads,
      logBytes: MODEL.planStepLogBytes,
    },
  );
  return addUsage(entry, scaleUsage(step, plan.startedSteps));
}
