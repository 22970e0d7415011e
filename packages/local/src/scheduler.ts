import type { Context, Logger } from "@nexus/core";
import * as Schedules from "@nexus/core/schedules";

export interface LocalSchedulerOptions {
  ctx: Context;
  logger: Logger;
  /** How often due schedules are looked for (default 1 s); 0: only when `tick` is called. */
  intervalMs?: number;
  /**
   * A scheduled time found this much later than it was due (the process was suspended, or the clock jumped) is not
   * run late: it is recorded as missed (default 60 s).
   */
  lateAfterMs?: number;
}

export interface TickResult {
  scheduleId: string;
  /** The runs fired (one at most per schedule and tick) and the missed ones recorded. */
  fired: Schedules.Fired[];
  missed: number;
}

/**
 * Plays EventBridge Scheduler locally: reads the same schedule records and fires the due ones through the same
 * `Schedules.fire`. What came due while the runtime was stopped is not replayed: `start` records it as missed
 * (with how many times and since when) and moves each schedule on to its next run.
 */
export class LocalScheduler {
  private readonly ctx: Context;
  private readonly logger: Logger;
  private readonly intervalMs: number;
  private readonly lateAfterMs: number;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> = Promise.resolve();
  private stopped = false;

  constructor(options: LocalSchedulerOptions) {
    this.ctx = options.ctx;
    this.logger = options.logger;
    this.intervalMs = options.intervalMs ?? 1000;
    this.lateAfterMs = options.lateAfterMs ?? 60_000;
  }

  /** Records what came due while stopped as missed, then checks for due schedules every interval. */
  async start(): Promise<TickResult[]> {
    const missed = await this.tick(this.ctx.now(), { lateAfterMs: 0 });
    const total = missed.reduce((sum, r) => sum + r.missed, 0);
    if (total > 0)
      this.logger.warn("schedules missed while stopped; not replayed", { schedules: missed.length, total });
    if (this.intervalMs > 0) this.schedule();
    return missed;
  }

  private schedule() {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.tick()
        .catch((error: unknown) => this.logger.error("schedule tick failed", { error }))
        .finally(() => this.schedule());
    }, this.intervalMs);
    this.timer.unref();
  }

  /**
   * Fires every schedule due at `now` (default: the context's clock), one tick at a time. A schedule with several
   * times due runs the latest one that is not yet late, and records the late ones as missed.
   */
  tick(now: Date = this.ctx.now(), options: { lateAfterMs?: number } = {}): Promise<TickResult[]> {
    const next = this.running.then(() => this.fireDue(now, options.lateAfterMs ?? this.lateAfterMs));
    this.running = next.catch(() => undefined);
    return next;
  }

  private async fireDue(now: Date, lateAfterMs: number): Promise<TickResult[]> {
    const results: TickResult[] = [];
    for (const schedule of await Schedules.due(this.ctx, now)) {
      if (!schedule.nextRunAt) continue;
      const times = Schedules.runsBetween(Schedules.recurrence(schedule), new Date(schedule.nextRunAt), now);
      const late = times.filter((t) => t.getTime() < now.getTime() - lateAfterMs);
      const onTime = times.filter((t) => t.getTime() >= now.getTime() - lateAfterMs);
      const result: TickResult = { scheduleId: schedule.id, fired: [], missed: late.length };
      try {
        const [first] = late;
        // Also moves a schedule whose next run is no time of its expression any more (nothing to fire).
        if (late.length > 0 || times.length === 0) {
          await Schedules.recordMissed(this.ctx, schedule, { first: first ?? now, count: late.length });
        }
        const latest = onTime.at(-1);
        if (latest) result.fired.push(await Schedules.fire(this.ctx, schedule.id, { scheduledAt: latest }));
      } catch (error) {
        this.logger.error("schedule could not fire", { scheduleId: schedule.id, error });
      }
      results.push(result);
    }
    return results;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
  }
}
