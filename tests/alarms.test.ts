import { LocalMetrics } from "@nexus/core";
import * as Alarms from "@nexus/core/alarms";
import { describe, expect, it } from "vitest";

const AGENTS = [{ id: "diag", queueName: "q-diag", dlqName: "q-diag-dlq" }];
const definitions = (settings: Partial<Alarms.AlarmSettings> = {}) =>
  Alarms.alarmDefinitions({ stage: "local", agents: AGENTS, settings });
const byKey = (key: string, settings: Partial<Alarms.AlarmSettings> = {}) => {
  const found = definitions(settings).find((d) => d.key === key);
  if (!found) throw new Error(`no alarm ${key}`);
  return found;
};

/** A clock the store and the evaluation share. */
function clock(start = 1_000_000_000_000) {
  let now = start;
  return { now: () => now, advance: (ms: number) => (now += ms) };
}

describe("alarm settings (NEXUS_ALARMS)", () => {
  it("takes the defaults when unset, and an override key by key", () => {
    expect(Alarms.parseAlarmSettings(undefined)).toEqual(Alarms.DEFAULT_ALARM_SETTINGS);
    expect(Alarms.parseAlarmSettings("  ")).toEqual(Alarms.DEFAULT_ALARM_SETTINGS);
    const settings = Alarms.parseAlarmSettings('{"queueAgeMinutes": 30}');
    expect(settings.queueAgeMinutes).toBe(30);
    expect(settings.failureRatePercent).toBe(Alarms.DEFAULT_ALARM_SETTINGS.failureRatePercent);
  });

  it("refuses what is not JSON, an unknown key and a bad value, naming it", () => {
    expect(() => Alarms.parseAlarmSettings("queueAgeMinutes=30")).toThrow(/NEXUS_ALARMS must be JSON/);
    expect(() => Alarms.parseAlarmSettings('{"queueAgeMinutez": 30}')).toThrow(/queueAgeMinutez/);
    expect(() => Alarms.parseAlarmSettings('{"failureRatePercent": 120}')).toThrow(/failureRatePercent/);
    expect(() => Alarms.parseAlarmSettings('{"dlqMessages": 0}')).toThrow(/dlqMessages/);
  });
});

describe("alarm definitions", () => {
  it("give each agent a DLQ, queue age, failure rate and offline alarm with the default thresholds", () => {
    expect(byKey("agent-diag-dlq")).toMatchObject({
      source: {
        kind: "max",
        metrics: [
          { namespace: "AWS/SQS", name: "ApproximateNumberOfMessagesVisible", dimensions: { QueueName: "q-diag-dlq" } },
          { namespace: "Nexus/local", name: "DlqArrivals", dimensions: { Agent: "diag" }, statistic: "Sum" },
        ],
      },
      threshold: 1,
      comparison: "GreaterThanOrEqualToThreshold",
      setting: "dlqMessages",
    });
    expect(byKey("agent-diag-queue-age")).toMatchObject({ threshold: 15 * 60, setting: "queueAgeMinutes" });
    expect(byKey("agent-diag-failure-rate").source).toMatchObject({
      kind: "ratio",
      numerator: { namespace: "Nexus/local", name: "TasksFailed", dimensions: { Agent: "diag" } },
      denominator: [{ namespace: "Nexus/local", name: "TasksSubmitted", dimensions: { Agent: "diag" } }],
      minDenominator: 5,
    });
    expect(byKey("agent-diag-offline")).toMatchObject({
      source: { metric: { name: "AgentOnline", dimensions: { Agent: "diag" } } },
      comparison: "LessThanThreshold",
      threshold: 1,
      periodSeconds: 300,
      evaluationPeriods: 3,
    });
  });

  it("take an agent's own thresholds over everyone's (agents.<id>)", () => {
    const settings = Alarms.parseAlarmSettings(
      '{"queueAgeMinutes": 20, "agents": {"research": {"queueAgeMinutes": 60, "failureRatePercent": 50}}}',
    );
    const all = Alarms.alarmDefinitions({
      stage: "local",
      agents: [AGENTS[0] as (typeof AGENTS)[0], { id: "research", queueName: "q-r", dlqName: "q-r-dlq" }],
      settings,
    });
    const threshold = (key: string) => all.find((d) => d.key === key)?.threshold;
    expect(threshold("agent-research-queue-age")).toBe(60 * 60);
    expect(threshold("agent-research-failure-rate")).toBe(50);
    expect(threshold("agent-diag-queue-age")).toBe(20 * 60);
    expect(threshold("agent-diag-failure-rate")).toBe(Alarms.DEFAULT_ALARM_SETTINGS.failureRatePercent);
    expect(() => Alarms.parseAlarmSettings('{"agents": {"research": {"apiP99LatencyMs": 10}}}')).toThrow(
      /agents\.research/,
    );
  });

  it("take their thresholds from the settings", () => {
    expect(byKey("agent-diag-queue-age", { queueAgeMinutes: 45 }).threshold).toBe(45 * 60);
    expect(byKey("agent-diag-offline", { agentOfflineMinutes: 30 }).evaluationPeriods).toBe(6);
    expect(byKey("api-p99-latency", { apiP99LatencyMs: 800 }).threshold).toBe(800);
  });

  it("watch a scheduled function's invocations, missing data breaching", () => {
    const all = Alarms.alarmDefinitions({
      stage: "prod",
      agents: [],
      functions: [{ id: "SweeperFunction", functionName: "fn-sweeper", everyMinutes: 5 }],
    });
    expect(all.find((d) => d.key === "sweeper-function-not-run")).toMatchObject({
      source: { metric: { namespace: "AWS/Lambda", name: "Invocations", dimensions: { FunctionName: "fn-sweeper" } } },
      periodSeconds: 600,
      comparison: "LessThanThreshold",
      threshold: 1,
      treatMissingData: "breaching",
    });
  });

  it("write the failure rate as CloudWatch metric math with its minimum count", () => {
    const source = byKey("agent-diag-failure-rate").source;
    if (source.kind !== "ratio") throw new Error("not a ratio");
    expect(Alarms.ratioExpression(source)).toBe("IF(FILL(d0, 0) >= 5, 100 * FILL(n, 0) / FILL(d0, 0), 0)");
  });
});

describe("local evaluation", () => {
  it("judges the failure rate only from the minimum count, and over the threshold", () => {
    const t = clock();
    const metrics = new LocalMetrics({ now: t.now });
    const alarm = byKey("agent-diag-failure-rate", { failureRateMinTasks: 4 });
    const submit = (n: number, failed: number) => {
      for (let i = 0; i < n; i++) metrics.put("TasksSubmitted", 1, { Agent: "diag" });
      for (let i = 0; i < failed; i++) metrics.put("TasksFailed", 1, { Agent: "diag", Other: "x" });
      for (let i = 0; i < failed; i++) metrics.put("TasksFailed", 1, { Agent: "diag" });
    };
    // Three tasks, all failed: under the minimum count.
    t.advance(300_000 - (t.now() % 300_000));
    submit(3, 3);
    t.advance(300_000);
    expect(Alarms.evaluate(alarm, metrics.read, t.now())).toMatchObject({ state: "OK", value: 0 });
    // Ten tasks, three failed: 30 % > 20 %.
    submit(10, 3);
    t.advance(300_000);
    expect(Alarms.evaluate(alarm, metrics.read, t.now())).toMatchObject({ state: "ALARM", value: 30 });
  });

  it("fires the DLQ alarm on a dead letter the inbox took between two samples of the DLQ", () => {
    const t = clock();
    const metrics = new LocalMetrics({ now: t.now });
    const alarm = byKey("agent-diag-dlq");
    metrics.observe("AWS/SQS", "ApproximateNumberOfMessagesVisible", { QueueName: "q-diag-dlq" }, 0);
    t.advance(30_000);
    expect(Alarms.evaluate(alarm, metrics.read, t.now())).toMatchObject({ state: "OK", value: 0 });
    metrics.put("DlqArrivals", 1, { Agent: "diag" });
    t.advance(10_000);
    metrics.observe("AWS/SQS", "ApproximateNumberOfMessagesVisible", { QueueName: "q-diag-dlq" }, 0);
    expect(Alarms.evaluate(alarm, metrics.read, t.now())).toMatchObject({ state: "ALARM", value: 1 });
  });

  it("treats missing data as it is told: breaching, not breaching, or keeping the state", () => {
    const metrics = new LocalMetrics();
    const now = Date.now();
    const notRun = { ...byKey("agent-diag-dlq"), treatMissingData: "breaching" as const };
    expect(Alarms.evaluate(notRun, metrics.read, now).state).toBe("ALARM");
    expect(Alarms.evaluate(byKey("agent-diag-dlq"), metrics.read, now).state).toBe("OK");
    const offline = byKey("agent-diag-offline");
    expect(Alarms.evaluate(offline, metrics.read, now).state).toBe("INSUFFICIENT_DATA");
    expect(Alarms.evaluate(offline, metrics.read, now, { previous: "ALARM" }).state).toBe("ALARM");
  });

  it("fires the offline alarm when every 5-minute period says offline; too few periods keep the state", () => {
    const t = clock();
    const metrics = new LocalMetrics({ now: t.now });
    const alarm = byKey("agent-diag-offline"); // 15 minutes: 3 periods of 5
    const sweep = (online: number) => {
      metrics.put("AgentOnline", online, { Agent: "diag" });
      t.advance(300_000);
    };
    sweep(0);
    expect(Alarms.evaluate(alarm, metrics.read, t.now()).state).toBe("INSUFFICIENT_DATA");
    expect(Alarms.evaluate(alarm, metrics.read, t.now(), { previous: "OK" }).state).toBe("OK");
    sweep(1);
    sweep(0);
    expect(Alarms.evaluate(alarm, metrics.read, t.now()).state).toBe("OK");
    sweep(0);
    sweep(0);
    expect(Alarms.evaluate(alarm, metrics.read, t.now())).toMatchObject({ state: "ALARM", value: 0 });
  });

  it("reads p99 from the sampled values", () => {
    const t = clock();
    const metrics = new LocalMetrics({ now: t.now });
    t.advance(300_000 - (t.now() % 300_000));
    for (let i = 1; i <= 100; i++) metrics.put("ApiLatency", i * 10);
    t.advance(300_000);
    const ref = { namespace: "Nexus/local", name: "ApiLatency", dimensions: {}, statistic: "p99" as const };
    expect(metrics.read(ref, t.now() - 300_000, t.now())).toBe(990);
  });
});

describe("the local metrics store", () => {
  it("stays bounded: series, samples per bucket, and time", () => {
    const t = clock();
    const metrics = new LocalMetrics({ now: t.now, maxSeries: 3, retentionMs: 60_000 });
    for (const agent of ["a", "b", "c", "d", "e"]) metrics.put("TasksSubmitted", 1, { Agent: agent });
    expect(metrics.size).toBe(3);
    expect(metrics.dropped).toBe(2);
    const ref = {
      namespace: "Nexus/local",
      name: "TasksSubmitted",
      dimensions: { Agent: "a" },
      statistic: "Sum" as const,
    };
    expect(metrics.read(ref, t.now() - 1000, t.now() + 1000)).toBe(1);
    t.advance(120_000);
    metrics.put("ApiLatency", 5);
    expect(metrics.read(ref, 0, t.now() + 1000)).toBeUndefined();
    expect(metrics.size).toBe(1);
  });
});
