import * as z from "zod";
import { type MetricName, metricsNamespace } from "./metrics.js";
import { pure } from "./pure.js";

/**
 * The alarms of a deployment, as data: what each watches (a CloudWatch metric, or a ratio of metrics), its statistic,
 * period, threshold, comparison, evaluation periods and treatment of missing data, and the setting that overrides its
 * threshold. The stack (stacks/monitoring.ts) makes CloudWatch alarms of them; the local runtime evaluates the same
 * definitions against its own metrics ({@link evaluate}). Light on purpose (zod only, no AWS SDK, no CDK): both import
 * it.
 */

// ── Metric names (shared with the functions that emit them) ────────────────────────────────────────

/** What SQS metrics of a queue live under, and what stands for them locally (sampled from the local SQS endpoint). */
export const SQS_NAMESPACE = "AWS/SQS";
export const STATUS_CLASSES = ["2xx", "3xx", "4xx", "5xx"] as const;

// ── Settings ───────────────────────────────────────────────────────────────────────────────────────

const count = (fallback: number) => z.number().int().min(1).default(fallback);
const positive = (fallback: number) => z.number().positive().default(fallback);
const percent = () => z.number().min(0).max(100);

/** The thresholds of an agent's alarms, without defaults (`agents.<id>` in `NEXUS_ALARMS` sets them for one agent). */
const agentThresholds = {
  dlqMessages: z.number().int().min(1).describe("Messages in an agent's DLQ at which its alarm fires"),
  queueAgeMinutes: z.number().positive().describe("Age of the oldest message in an agent's queue, minutes"),
  failureRatePercent: percent().describe("Failed / submitted tasks of an agent, %"),
  failureRateMinTasks: z
    .number()
    .int()
    .min(1)
    .describe("Submitted tasks in the period below which the failure rate is not judged"),
  agentOfflineMinutes: z
    .number()
    .int()
    .min(1)
    .describe(
      "Minutes an agent may be offline (AgentOnline 0) before its alarm fires, in 5-minute steps (the sweeper's)",
    ),
};
export const AgentAlarmSettings = /* @__PURE__ */ pure(() => z.strictObject(agentThresholds).partial());
export type AgentAlarmSettings = z.output<typeof AgentAlarmSettings>;

/**
 * Thresholds, from `NEXUS_ALARMS` (JSON with any of these keys) in the deploying shell, or in the shell that runs
 * `npm run dev`. Unset keys keep their defaults; `agents` sets an agent's own (`{"agents": {"research":
 * {"queueAgeMinutes": 60}}}`). The README's table lists them.
 */
export const AlarmSettings = /* @__PURE__ */ pure(() =>
  z
    .strictObject({
      dlqMessages: agentThresholds.dlqMessages.default(1),
      queueAgeMinutes: agentThresholds.queueAgeMinutes.default(15),
      failureRatePercent: agentThresholds.failureRatePercent.default(20),
      failureRateMinTasks: agentThresholds.failureRateMinTasks.default(5),
      agentOfflineMinutes: agentThresholds.agentOfflineMinutes.default(15),
      agents: z
        .record(z.string().regex(/^[a-z][a-z0-9-]{0,63}$/, "must be an agent id"), AgentAlarmSettings)
        .default({})
        .describe("An agent's own thresholds, by agent id"),
      functionErrors: count(1).describe("Errors of one function in 5 minutes"),
      functionThrottles: count(1).describe("Throttled invocations of one function in 5 minutes"),
      api5xxPercent: percent().default(5).describe("API responses with status 5xx, % of requests"),
      api5xxMinRequests: count(20).describe("Requests in the period below which the 5xx rate is not judged"),
      apiP99LatencyMs: positive(5000).describe("API latency, 99th percentile, milliseconds"),
      planFailures: count(1).describe("Failed plan runs in 5 minutes"),
      sesBounceRatePercent: positive(5).describe("SES account bounce rate, %"),
      sesComplaintRatePercent: positive(0.1).describe("SES account complaint rate, %"),
    })
    .meta({ id: "AlarmSettings" }),
);
export type AlarmSettings = z.output<typeof AlarmSettings>;
/** The setting that overrides an alarm's threshold (per agent also under `agents.<id>`). */
export type AlarmSettingKey = Exclude<keyof AlarmSettings, "agents">;
export const DEFAULT_ALARM_SETTINGS: AlarmSettings = AlarmSettings.parse({});

/**
 * `NEXUS_ALARMS` as settings: unset or blank → the defaults. Not JSON, an unknown key or a bad value → an error naming
 * the key (the stack's synth fails with it; `npm run dev` does not start).
 */
export function parseAlarmSettings(raw: string | undefined): AlarmSettings {
  const text = raw?.trim();
  if (!text) return DEFAULT_ALARM_SETTINGS;
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new Error(`NEXUS_ALARMS must be JSON, such as {"queueAgeMinutes": 30}, got ${JSON.stringify(text)}`);
  }
  const parsed = AlarmSettings.safeParse(json);
  if (!parsed.success) {
    const [issue] = parsed.error.issues as [z.core.$ZodIssue];
    const where = issue.path.length > 0 ? `${issue.path.join(".")}: ` : "";
    throw new Error(`NEXUS_ALARMS is not valid (${where}${issue.message})`);
  }
  return parsed.data;
}

// ── Definitions ────────────────────────────────────────────────────────────────────────────────────

export type Statistic = "Sum" | "Maximum" | "Minimum" | "Average" | "SampleCount" | "p99";
export type Comparison =
  | "GreaterThanOrEqualToThreshold"
  | "GreaterThanThreshold"
  | "LessThanThreshold"
  | "LessThanOrEqualToThreshold";
/** CloudWatch's treatments of missing data (`missing`: the alarm keeps judging the periods it has). */
export type MissingData = "breaching" | "notBreaching" | "ignore" | "missing";

export interface MetricRef {
  readonly namespace: string;
  readonly name: string;
  readonly dimensions: Readonly<Record<string, string>>;
  readonly statistic: Statistic;
}

/**
 * What an alarm watches: one metric; or `scale × numerator / SUM(denominator)` in a period where the denominator's sum
 * reaches `minDenominator` (0 below it, so that three requests with one failure raise nothing). CloudWatch evaluates the
 * ratio as metric math ({@link ratioExpression}); the local runtime computes the same ({@link evaluate}).
 */
export type AlarmSource =
  | { readonly kind: "metric"; readonly metric: MetricRef }
  | {
      readonly kind: "ratio";
      readonly numerator: MetricRef;
      readonly denominator: readonly MetricRef[];
      readonly minDenominator: number;
      readonly scale: number;
      readonly label: string;
    }
  | {
      /**
       * The sum of several metrics (the ways a schedule's run can be lost), or their largest (what sits in a DLQ, or
       * arrived there within the period).
       */
      readonly kind: "sum" | "max";
      readonly metrics: readonly MetricRef[];
      readonly label: string;
    };

export type AlarmGroup = "agent" | "function" | "api" | "plans" | "email" | "operations";

export interface AlarmDefinition {
  /** Stable and unique: the alarm's name is `<app>-<stage>-<key>`; locally its id. */
  readonly key: string;
  readonly group: AlarmGroup;
  /** What it means when it fires, and where to look. */
  readonly description: string;
  readonly agentId?: string;
  /** The function it watches (the stack's construct id). */
  readonly functionId?: string;
  readonly source: AlarmSource;
  /** What the local runtime evaluates instead, where AWS's metric has no local counterpart (API Gateway, Step Functions). */
  readonly localSource?: AlarmSource;
  readonly periodSeconds: number;
  readonly evaluationPeriods: number;
  readonly threshold: number;
  readonly comparison: Comparison;
  readonly treatMissingData: MissingData;
  /** The `NEXUS_ALARMS` key that overrides the threshold (null: fixed). */
  readonly setting: AlarmSettingKey | null;
  /** Evaluated by the local runtime too (false: an AWS metric with no local counterpart, e.g. Lambda throttles). */
  readonly local: boolean;
}

/** A function the stack watches: errors and throttles; when scheduled, whether it ran in time. */
export interface WatchedFunction {
  /** Construct id, e.g. `SweeperFunction`; also what the alarm key is made of. */
  readonly id: string;
  /** Its `FunctionName` (a CDK token in the stack). */
  readonly functionName: string;
  /** Runs on an EventBridge schedule this often: an alarm fires when it has not run in two such intervals. */
  readonly everyMinutes?: number;
}

export interface AlarmInputs {
  readonly stage: string;
  /** Agents with a queue each (`queueName`, `dlqName`): built-in ones in AWS, every agent locally. */
  readonly agents: ReadonlyArray<{ readonly id: string; readonly queueName: string; readonly dlqName: string }>;
  readonly functions?: readonly WatchedFunction[];
  /** The HTTP API's id (API Gateway metrics). */
  readonly apiId?: string;
  /** The plan state machine's ARN (Step Functions metrics). */
  readonly stateMachineArn?: string;
  /** The schedule group (EventBridge Scheduler metrics) and the queue its lost deliveries land in. */
  readonly schedules?: { readonly group: string; readonly dlqName: string };
  /** Queues where asynchronous invocations of the scheduled functions land once out of retries. */
  readonly operationsDlqName?: string;
  /** Whether the deployment sends email through SES (then SES's reputation is watched). */
  readonly email?: boolean;
  readonly settings?: Partial<AlarmSettings>;
}

const FIVE_MINUTES = 300;
const custom = (stage: string, name: MetricName, statistic: Statistic, dimensions: Record<string, string> = {}) =>
  ({ namespace: metricsNamespace(stage), name, dimensions, statistic }) satisfies MetricRef;
const sqs = (queueName: string, name: string): MetricRef => ({
  namespace: SQS_NAMESPACE,
  name,
  dimensions: { QueueName: queueName },
  statistic: "Maximum",
});
const metric = (m: MetricRef): AlarmSource => ({ kind: "metric", metric: m });

/** A queue that should stay empty (a dead-letter queue): an alarm when a message sits in it. */
function queueNotEmpty(key: string, group: AlarmGroup, queueName: string, description: string, s: AlarmSettings) {
  return {
    key,
    group,
    description,
    source: metric(sqs(queueName, "ApproximateNumberOfMessagesVisible")),
    periodSeconds: 60,
    evaluationPeriods: 1,
    threshold: s.dlqMessages,
    comparison: "GreaterThanOrEqualToThreshold",
    treatMissingData: "notBreaching",
    setting: "dlqMessages",
    local: true,
  } satisfies AlarmDefinition;
}

/** Every alarm of a deployment, thresholds from `settings` over the defaults. */
export function alarmDefinitions(inputs: AlarmInputs): AlarmDefinition[] {
  const all: AlarmSettings = { ...DEFAULT_ALARM_SETTINGS, ...inputs.settings };
  const s = all;
  const { stage } = inputs;
  const out: AlarmDefinition[] = [];
  for (const { id: agentId, queueName, dlqName } of inputs.agents) {
    const perAgent = { Agent: agentId };
    // Its own thresholds over everyone's (the agent alarms below read only these).
    const s = { ...all, ...all.agents[agentId] };
    out.push({
      ...queueNotEmpty(
        `agent-${agentId}-dlq`,
        "agent",
        dlqName,
        `Tasks of agent ${agentId} were dead-lettered: see GET /v1/failures?agentId=${agentId} (the failures inbox takes them from the DLQ within 5 minutes, and the alarm returns to OK).`,
        s,
      ),
      agentId,
      // What waits in the DLQ, or what the agent dead-lettered in the minute: a message the inbox takes between two
      // of SQS's samples still counts.
      source: {
        kind: "max",
        metrics: [sqs(dlqName, "ApproximateNumberOfMessagesVisible"), custom(stage, "DlqArrivals", "Sum", perAgent)],
        label: `${agentId} dead letters`,
      },
    });
    out.push({
      key: `agent-${agentId}-queue-age`,
      group: "agent",
      agentId,
      description: `The oldest task waiting in agent ${agentId}'s queue is older than ${s.queueAgeMinutes} minutes: the agent is not keeping up, or its consumer is off.`,
      source: metric(sqs(queueName, "ApproximateAgeOfOldestMessage")),
      periodSeconds: 60,
      evaluationPeriods: 5,
      threshold: s.queueAgeMinutes * 60,
      comparison: "GreaterThanThreshold",
      treatMissingData: "notBreaching",
      setting: "queueAgeMinutes",
      local: true,
    });
    out.push({
      key: `agent-${agentId}-failure-rate`,
      group: "agent",
      agentId,
      description: `More than ${s.failureRatePercent} % of agent ${agentId}'s tasks failed in 5 minutes (at least ${s.failureRateMinTasks} submitted).`,
      source: {
        kind: "ratio",
        numerator: custom(stage, "TasksFailed", "Sum", perAgent),
        denominator: [custom(stage, "TasksSubmitted", "Sum", perAgent)],
        minDenominator: s.failureRateMinTasks,
        scale: 100,
        label: `${agentId} failure rate (%)`,
      },
      periodSeconds: FIVE_MINUTES,
      evaluationPeriods: 1,
      threshold: s.failureRatePercent,
      comparison: "GreaterThanThreshold",
      treatMissingData: "notBreaching",
      setting: "failureRatePercent",
      local: true,
    });
    out.push({
      key: `agent-${agentId}-offline`,
      group: "agent",
      agentId,
      description: `Agent ${agentId} has been offline for ${s.agentOfflineMinutes} minutes (AgentOnline 0: no heartbeat, or its probe fails): see GET /v1/agents/${agentId}.`,
      source: metric(custom(stage, "AgentOnline", "Maximum", perAgent)),
      // The sweeper judges every agent every 5 minutes.
      periodSeconds: FIVE_MINUTES,
      evaluationPeriods: Math.ceil(s.agentOfflineMinutes / 5),
      threshold: 1,
      comparison: "LessThanThreshold",
      // No value when the sweeper did not run (an alarm of its own), or the agent is inactive or not yet heard of.
      treatMissingData: "ignore",
      setting: "agentOfflineMinutes",
      local: true,
    });
  }

  for (const fn of inputs.functions ?? []) {
    const lambdaMetric = (name: string): MetricRef => ({
      namespace: "AWS/Lambda",
      name,
      dimensions: { FunctionName: fn.functionName },
      statistic: "Sum",
    });
    const base = {
      group: "function",
      functionId: fn.id,
      periodSeconds: FIVE_MINUTES,
      evaluationPeriods: 1,
      comparison: "GreaterThanOrEqualToThreshold",
      treatMissingData: "notBreaching",
      local: false,
    } as const;
    const faults = [
      [
        "errors",
        "Errors",
        "functionErrors",
        "failed",
        "invocations (uncaught errors, timeouts, out of memory): see its log group",
      ],
      ["throttles", "Throttles", "functionThrottles", "was throttled", "times (account or reserved concurrency)"],
    ] as const;
    for (const [suffix, name, setting, what, detail] of faults) {
      out.push({
        ...base,
        key: `${kebab(fn.id)}-${suffix}`,
        description: `${fn.id} ${what} ${s[setting]} or more ${detail} in 5 minutes.`,
        source: metric(lambdaMetric(name)),
        threshold: s[setting],
        setting,
      });
    }
    if (fn.everyMinutes !== undefined) {
      // Two intervals without an invocation, in whole minutes of at least 5 (CloudWatch periods are multiples of 60 s).
      const period = Math.max(2 * fn.everyMinutes, 5) * 60;
      out.push({
        ...base,
        key: `${kebab(fn.id)}-not-run`,
        description: `${fn.id} did not run in ${period / 60} minutes though scheduled every ${fn.everyMinutes}: its EventBridge rule is disabled or failing.`,
        source: metric(lambdaMetric("Invocations")),
        periodSeconds: period,
        threshold: 1,
        comparison: "LessThanThreshold",
        treatMissingData: "breaching",
        setting: null,
      });
    }
  }

  if (inputs.schedules) {
    const { group, dlqName } = inputs.schedules;
    const scheduler = (name: string): MetricRef => ({
      namespace: "AWS/Scheduler",
      name,
      dimensions: { ScheduleGroup: group },
      statistic: "Sum",
    });
    out.push({
      key: "schedules-missed",
      group: "operations",
      description: `A schedule's run did not reach the schedule function (dropped or dead-lettered by EventBridge Scheduler after its retries): see the ${dlqName} queue.`,
      source: {
        kind: "sum",
        metrics: [
          scheduler("InvocationDroppedCount"),
          scheduler("InvocationsSentToDeadLetterCount"),
          scheduler("InvocationsFailedToBeSentToDeadLetterCount"),
        ],
        label: "schedule runs lost",
      },
      periodSeconds: FIVE_MINUTES,
      evaluationPeriods: 1,
      threshold: 1,
      comparison: "GreaterThanOrEqualToThreshold",
      treatMissingData: "notBreaching",
      setting: null,
      local: false,
    });
    out.push({
      ...queueNotEmpty(
        "schedules-dlq",
        "operations",
        dlqName,
        `A schedule's run failed after the scheduler's and Lambda's retries: its event waits in ${dlqName}.`,
        s,
      ),
      local: false,
    });
  }
  if (inputs.operationsDlqName) {
    out.push({
      ...queueNotEmpty(
        "operations-dlq",
        "operations",
        inputs.operationsDlqName,
        `A scheduled run of the sweeper, the failures inbox or the probe failed after its retries (or EventBridge could not deliver it), or an alarm could not be posted to chat: its event waits in ${inputs.operationsDlqName}.`,
        s,
      ),
      local: false,
    });
  }

  out.push({
    key: "api-5xx",
    group: "api",
    description: `More than ${s.api5xxPercent} % of API requests ended in 5xx in 5 minutes (at least ${s.api5xxMinRequests} requests): see the API function's log.`,
    source: {
      kind: "ratio",
      numerator: apiGateway(inputs.apiId, "5xx", "Sum"),
      denominator: [apiGateway(inputs.apiId, "Count", "Sum")],
      minDenominator: s.api5xxMinRequests,
      scale: 100,
      label: "API 5xx rate (%)",
    },
    localSource: {
      kind: "ratio",
      numerator: custom(stage, "ApiRequests", "Sum", { StatusClass: "5xx" }),
      denominator: STATUS_CLASSES.map((c) => custom(stage, "ApiRequests", "Sum", { StatusClass: c })),
      minDenominator: s.api5xxMinRequests,
      scale: 100,
      label: "API 5xx rate (%)",
    },
    periodSeconds: FIVE_MINUTES,
    evaluationPeriods: 1,
    threshold: s.api5xxPercent,
    comparison: "GreaterThanThreshold",
    treatMissingData: "notBreaching",
    setting: "api5xxPercent",
    local: true,
  });
  out.push({
    key: "api-p99-latency",
    group: "api",
    description: `The API's 99th percentile latency was over ${s.apiP99LatencyMs} ms for 15 minutes.`,
    source: metric(apiGateway(inputs.apiId, "Latency", "p99")),
    localSource: metric(custom(stage, "ApiLatency", "p99")),
    periodSeconds: FIVE_MINUTES,
    evaluationPeriods: 3,
    threshold: s.apiP99LatencyMs,
    comparison: "GreaterThanThreshold",
    treatMissingData: "notBreaching",
    setting: "apiP99LatencyMs",
    local: true,
  });
  out.push({
    key: "plan-runs-failed",
    group: "plans",
    description: `${s.planFailures} or more plan runs failed in 5 minutes: see GET /v1/plans?status=failed.`,
    source: metric({
      namespace: "AWS/States",
      name: "ExecutionsFailed",
      dimensions: inputs.stateMachineArn ? { StateMachineArn: inputs.stateMachineArn } : {},
      statistic: "Sum",
    }),
    localSource: metric(custom(stage, "PlanRunsFailed", "Sum")),
    periodSeconds: FIVE_MINUTES,
    evaluationPeriods: 1,
    threshold: s.planFailures,
    comparison: "GreaterThanOrEqualToThreshold",
    treatMissingData: "notBreaching",
    setting: "planFailures",
    local: true,
  });
  if (inputs.email) {
    const ses = (name: string): MetricRef => ({ namespace: "AWS/SES", name, dimensions: {}, statistic: "Maximum" });
    const reputation = {
      group: "email",
      periodSeconds: 900,
      evaluationPeriods: 1,
      comparison: "GreaterThanOrEqualToThreshold",
      treatMissingData: "notBreaching",
      local: false,
    } as const;
    const rates = [
      ["bounce", "Reputation.BounceRate", "sesBounceRatePercent", "5 % and may pause sending at 10 %"],
      ["complaint", "Reputation.ComplaintRate", "sesComplaintRatePercent", "0.1 % and may pause sending at 0.5 %"],
    ] as const;
    for (const [what, name, setting, limits] of rates) {
      out.push({
        ...reputation,
        key: `ses-${what}-rate`,
        description: `The account's SES ${what} rate reached ${s[setting]} % (SES reviews the account at ${limits}).`,
        source: metric(ses(name)),
        threshold: s[setting] / 100,
        setting,
      });
    }
  }
  const keys = new Set<string>();
  for (const { key } of out) {
    if (keys.has(key)) throw new Error(`two alarms have the key ${key}`);
    keys.add(key);
  }
  return out;
}

function apiGateway(apiId: string | undefined, name: string, statistic: Statistic): MetricRef {
  return { namespace: "AWS/ApiGateway", name, dimensions: apiId ? { ApiId: apiId } : {}, statistic };
}

/** `SweeperFunction` → `sweeper-function`. */
export const kebab = (s: string) =>
  s
    .replace(/([a-z0-9])([A-Z])/g, "$1-$2")
    .replace(/[^A-Za-z0-9]+/g, "-")
    .toLowerCase();

/**
 * The ratio source as CloudWatch metric math, its metrics named by `ids` (`n` for the numerator, `d0`… for the
 * denominator's): `IF(d >= min, scale * FILL(n, 0) / d, 0)` where d is the denominator's sum.
 */
export function ratioExpression(source: Extract<AlarmSource, { kind: "ratio" }>): string {
  const sum = source.denominator.map((_, i) => `FILL(d${i}, 0)`).join(" + ");
  const d = source.denominator.length === 1 ? "FILL(d0, 0)" : `(${sum})`;
  return `IF(${d} >= ${source.minDenominator}, ${source.scale} * FILL(n, 0) / ${d}, 0)`;
}

/** A sum or max source as metric math over metrics `m0`…: `FILL(m0, 0) + …`, or `MAX([FILL(m0, 0), …])`. */
export function combineExpression(source: Extract<AlarmSource, { kind: "sum" | "max" }>): string {
  const filled = source.metrics.map((_, i) => `FILL(m${i}, 0)`);
  return source.kind === "sum" ? filled.join(" + ") : `MAX([${filled.join(", ")}])`;
}

// ── Local evaluation ───────────────────────────────────────────────────────────────────────────────

export type AlarmState = "OK" | "ALARM" | "INSUFFICIENT_DATA";

/** One alarm's state as `GET /v1/alarms` shows it. */
export const AlarmStatus = /* @__PURE__ */ pure(() =>
  z
    .object({
      key: z.string(),
      group: z.enum(["agent", "function", "api", "plans", "email", "operations"]),
      agentId: z.string().nullable(),
      description: z.string(),
      state: z.enum(["OK", "ALARM", "INSUFFICIENT_DATA"]),
      reason: z.string().describe("Why it is in this state: the values judged against the threshold"),
      since: z.string().describe("When it entered this state (ISO 8601)"),
      value: z.number().nullable().describe("The latest period's value, when there was one"),
      threshold: z.number(),
      comparison: z.string(),
      periodSeconds: z.number().int(),
      evaluationPeriods: z.number().int(),
      setting: z.string().nullable().describe("The NEXUS_ALARMS key that overrides the threshold"),
    })
    .meta({ id: "AlarmStatus" }),
);
export type AlarmStatus = z.output<typeof AlarmStatus>;

/** Where `GET /v1/alarms` reads alarm states from: the local runtime's evaluation (packages/local/src/alarms.ts). */
export interface AlarmBoard {
  list(): Promise<AlarmStatus[]>;
}

/** What the evaluation reads: one metric's statistic over `[start, end)`, or undefined when there is no datapoint. */
export type MetricReader = (metric: MetricRef, startMs: number, endMs: number) => number | undefined;

/** The value of a source over one period, as CloudWatch computes it (undefined: no data in that period). */
export function sourceValue(source: AlarmSource, read: MetricReader, startMs: number, endMs: number) {
  if (source.kind === "metric") return read(source.metric, startMs, endMs);
  if (source.kind !== "ratio") {
    const values = source.metrics.map((m) => read(m, startMs, endMs) ?? 0);
    if (source.metrics.every((m) => read(m, startMs, endMs) === undefined)) return undefined;
    return source.kind === "sum" ? values.reduce((a, v) => a + v, 0) : Math.max(...values);
  }
  const parts = source.denominator.map((m) => read(m, startMs, endMs));
  const numerator = read(source.numerator, startMs, endMs);
  if (numerator === undefined && parts.every((v) => v === undefined)) return undefined;
  const d = parts.reduce<number>((a, v) => a + (v ?? 0), 0);
  return d >= source.minDenominator && d > 0 ? (source.scale * (numerator ?? 0)) / d : 0;
}

const COMPARE: Record<Comparison, { breaches: (v: number, t: number) => boolean; symbol: string }> = {
  GreaterThanOrEqualToThreshold: { breaches: (v, t) => v >= t, symbol: ">=" },
  GreaterThanThreshold: { breaches: (v, t) => v > t, symbol: ">" },
  LessThanThreshold: { breaches: (v, t) => v < t, symbol: "<" },
  LessThanOrEqualToThreshold: { breaches: (v, t) => v <= t, symbol: "<=" },
};

export interface Evaluation {
  state: AlarmState;
  reason: string;
  /** The newest period's value, when it had one. */
  value: number | undefined;
}

/**
 * An alarm's state at `nowMs` from its last `evaluationPeriods` periods, as CloudWatch judges it (all of them
 * breaching → ALARM): missing periods count as `treatMissingData` says; with `ignore` and `missing`, a period with data
 * that does not breach makes it OK, and too few periods with data keep the state as it was (`previous`;
 * INSUFFICIENT_DATA at first). `periodScale` shortens
 * periods for tests (0.01: a 5-minute period is 3 s). The periods end now (a sliding window, where CloudWatch's are
 * aligned to the clock and judged a little after they end): a change shows at the next evaluation.
 */
export function evaluate(
  alarm: AlarmDefinition,
  read: MetricReader,
  nowMs: number,
  options: { periodScale?: number; previous?: AlarmState } = {},
): Evaluation {
  const source = alarm.localSource ?? alarm.source;
  const periodMs = alarm.periodSeconds * 1000 * (options.periodScale ?? 1);
  const lastEnd = nowMs;
  const values: Array<number | undefined> = [];
  for (let i = alarm.evaluationPeriods - 1; i >= 0; i--) {
    const end = lastEnd - i * periodMs;
    values.push(sourceValue(source, read, end - periodMs, end));
  }
  const { breaches, symbol } = COMPARE[alarm.comparison];
  const present = values.filter((v): v is number => v !== undefined);
  const value = values.at(-1);
  const shown = present.map((v) => round(v)).join(", ");
  const over = `${alarm.evaluationPeriods} period${alarm.evaluationPeriods === 1 ? "" : "s"} of ${alarm.periodSeconds} s`;
  if (present.length === 0) {
    if (alarm.treatMissingData === "breaching") {
      return { state: "ALARM", reason: `no data in the last ${over} (missing data counts as breaching)`, value };
    }
    if (alarm.treatMissingData === "notBreaching") {
      return { state: "OK", reason: `no data in the last ${over} (missing data counts as not breaching)`, value };
    }
    return {
      state: options.previous ?? "INSUFFICIENT_DATA",
      reason: `no data in the last ${over}`,
      value,
    };
  }
  const skipsMissing = alarm.treatMissingData === "ignore" || alarm.treatMissingData === "missing";
  const judged = skipsMissing
    ? present.map((v) => breaches(v, alarm.threshold))
    : values.map((v) => (v === undefined ? alarm.treatMissingData === "breaching" : breaches(v, alarm.threshold)));
  const all = judged.every(Boolean);
  if (all && skipsMissing && present.length < alarm.evaluationPeriods) {
    return {
      state: options.previous ?? "INSUFFICIENT_DATA",
      reason: `${present.length} of ${alarm.evaluationPeriods} periods of ${alarm.periodSeconds} s have data, all ${symbol} ${round(alarm.threshold)}: [${shown}]`,
      value,
    };
  }
  return {
    state: all ? "ALARM" : "OK",
    reason: `${all ? "" : "not "}every value ${symbol} ${round(alarm.threshold)} over the last ${over}: [${shown}]`,
    value,
  };
}

const round = (v: number) => Math.round(v * 1000) / 1000;
