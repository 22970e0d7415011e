import { GetQueueAttributesCommand, type QueueAttributeName } from "@aws-sdk/client-sqs";
import type { Context, LocalMetrics, Logger } from "@nexus/core";
import * as Agents from "@nexus/core/agents";
import * as Alarms from "@nexus/core/alarms";

/** A change of an alarm's state, as the runtime reports it. */
export interface AlarmChange {
  key: string;
  from: Alarms.AlarmState;
  to: Alarms.AlarmState;
  reason: string;
  at: string;
  description: string;
}

export interface LocalAlarmsOptions {
  ctx: Context;
  metrics: LocalMetrics;
  logger: Logger;
  settings?: Alarms.AlarmSettings;
  /** How often queues are sampled and alarms evaluated (default 5 s). */
  intervalMs?: number;
  /** Periods shortened by this factor (tests; default 1: the periods of AWS). */
  periodScale?: number;
  /** Told of every change into or out of ALARM (default: logged). */
  onChange?: (change: AlarmChange) => void;
}

/** Queue attributes sampled, as the SQS metrics CloudWatch would have (the local endpoint answers the age too). */
const SAMPLED: Array<[QueueAttributeName | "ApproximateAgeOfOldestMessage", string]> = [
  ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesVisible"],
  ["ApproximateAgeOfOldestMessage", "ApproximateAgeOfOldestMessage"],
];

const queueName = (url: string) => url.slice(url.lastIndexOf("/") + 1);

/**
 * The alarms of packages/core/src/alarms.ts, evaluated by the local runtime every few seconds against its own metrics:
 * the counters the points of truth record into {@link LocalMetrics}, and each agent's queue and DLQ sampled from the
 * local SQS endpoint. Alarms on AWS-only metrics (Lambda, SES, EventBridge) are not evaluated here. Each change into or
 * out of ALARM is reported; every state is at `GET /v1/alarms`.
 */
export class LocalAlarms implements Alarms.AlarmBoard {
  private readonly states = new Map<string, Alarms.AlarmStatus>();
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;

  constructor(private readonly options: LocalAlarmsOptions) {}

  start(): void {
    const interval = this.options.intervalMs ?? 5000;
    this.timer = setInterval(() => {
      this.tick().catch((error) => this.options.logger.error("alarm evaluation failed", { error }));
    }, interval);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }

  async list(): Promise<Alarms.AlarmStatus[]> {
    return [...this.states.values()];
  }

  /** Samples the queues and evaluates every alarm now (one pass at a time). Returns the changes it reported. */
  async tick(): Promise<AlarmChange[]> {
    while (this.running) await this.running;
    let changes: AlarmChange[] = [];
    this.running = (async () => {
      const agents = await this.sampleQueues();
      changes = this.evaluate(agents);
    })();
    try {
      await this.running;
    } finally {
      this.running = undefined;
    }
    return changes;
  }

  /**
   * Each agent's queue and DLQ, as the SQS metrics of CloudWatch: one GetQueueAttributes per queue. Returns the agents
   * with their queues' names.
   */
  async sampleQueues() {
    const { ctx, metrics } = this.options;
    const agents = (await Agents.all(ctx)).map((agent) => ({
      id: agent.id,
      queueName: queueName(agent.queue.url),
      dlqName: queueName(agent.queue.dlqUrl),
      urls: [agent.queue.url, agent.queue.dlqUrl],
    }));
    await Promise.all(
      agents.flatMap(({ urls }) =>
        urls.map(async (url) => {
          const out = await ctx.sqs.send(
            new GetQueueAttributesCommand({
              QueueUrl: url,
              AttributeNames: [
                ...SAMPLED.map(([attribute]) => attribute as QueueAttributeName),
                "ApproximateNumberOfMessagesNotVisible",
              ],
            }),
          );
          const attributes = out.Attributes ?? {};
          for (const [attribute, metric] of SAMPLED) {
            let value = Number(attributes[attribute as QueueAttributeName]);
            // The local endpoint counts messages in flight in ApproximateNumberOfMessages; SQS does not.
            if (attribute === "ApproximateNumberOfMessages") {
              value -= Number(attributes.ApproximateNumberOfMessagesNotVisible ?? 0);
            }
            if (Number.isFinite(value)) {
              metrics.observe(Alarms.SQS_NAMESPACE, metric, { QueueName: queueName(url) }, Math.max(0, value));
            }
          }
        }),
      ),
    );
    return agents;
  }

  private evaluate(agents: Alarms.AlarmInputs["agents"]): AlarmChange[] {
    const { metrics, settings, periodScale, ctx } = this.options;
    const now = ctx.now();
    const definitions = Alarms.alarmDefinitions({
      stage: "local",
      agents,
      ...(settings ? { settings } : {}),
    }).filter((d) => d.local);
    const changes: AlarmChange[] = [];
    const seen = new Set<string>();
    for (const definition of definitions) {
      seen.add(definition.key);
      const previous = this.states.get(definition.key);
      const { state, reason, value } = Alarms.evaluate(definition, metrics.read, now.getTime(), {
        ...(periodScale === undefined ? {} : { periodScale }),
        ...(previous ? { previous: previous.state } : {}),
      });
      const changed = previous !== undefined && previous.state !== state;
      const at = now.toISOString();
      this.states.set(definition.key, {
        key: definition.key,
        group: definition.group,
        agentId: definition.agentId ?? null,
        description: definition.description,
        state,
        reason,
        since: previous && !changed ? previous.since : at,
        value: value ?? null,
        threshold: definition.threshold,
        comparison: definition.comparison,
        periodSeconds: definition.periodSeconds,
        evaluationPeriods: definition.evaluationPeriods,
        setting: definition.setting,
      });
      // Into or out of ALARM (the first evaluation reports only an alarm already firing).
      const from = previous?.state ?? "INSUFFICIENT_DATA";
      if ((changed || previous === undefined) && (state === "ALARM" || from === "ALARM")) {
        changes.push({ key: definition.key, from, to: state, reason, at, description: definition.description });
      }
    }
    // A deleted agent's alarms go with it.
    for (const key of this.states.keys()) if (!seen.has(key)) this.states.delete(key);
    for (const change of changes) {
      if (this.options.onChange) this.options.onChange(change);
      else this.options.logger.warn("alarm state changed", { ...change });
    }
    return changes;
  }
}
