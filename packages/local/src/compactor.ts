import { getHeapStatistics } from "node:v8";
import type { MetricName, MetricPoint } from "@nexus/core";

/**
 * Gives a burst's heap back once the runtime is quiet. V8's memory reducer shrinks the heap only after allocation has
 * slowed for a while, which the runtime's pollers and timers rarely allow: after a 2,000-task burst, RSS stayed 10–15 %
 * over its idle figure 30 s later, most of it heap V8 kept (README, Memory of the local runtime). So once no request
 * and no task has moved for {@link QuietCompactorOptions.quietMs} and the heap is larger by
 * {@link QuietCompactorOptions.growth} than after the last collection it ran (or at start), the compactor runs one full
 * collection. It needs node's `--expose-gc`, which `npm run dev` passes; without it (a runtime started in a test, say)
 * it does nothing. In AWS there is nothing of this: each function's memory is its own.
 */
export interface QuietCompactorOptions {
  /** How long nothing must have moved (default 5 s). */
  quietMs?: number;
  /** How much the heap must have grown, as a share of its size after the last collection (default 0.1). */
  growth?: number;
  /** A full collection (default: node's `gc`, exposed by `--expose-gc`). */
  gc?: () => void;
  /** The heap's size in bytes (default: V8's total heap size). */
  heapBytes?: () => number;
  now?: () => number;
}

/** What counts as the runtime moving: a request to the API, or a task submitted or ended. */
const WORK: ReadonlySet<MetricName> = new Set<MetricName>([
  "ApiRequests",
  "TasksSubmitted",
  "TasksSucceeded",
  "TasksFailed",
  "TasksRetried",
]);

export class QuietCompactor {
  private readonly quietMs: number;
  private readonly growth: number;
  private readonly gc: (() => void) | undefined;
  private readonly heapBytes: () => number;
  private readonly now: () => number;
  private lastWork: number;
  private settledBytes: number;
  private timer: NodeJS.Timeout | undefined;
  /** Full collections run so far. */
  compactions = 0;

  constructor(options: QuietCompactorOptions = {}) {
    this.quietMs = options.quietMs ?? 5000;
    this.growth = options.growth ?? 0.1;
    this.gc = options.gc ?? (globalThis as { gc?: () => void }).gc;
    this.heapBytes = options.heapBytes ?? (() => getHeapStatistics().total_heap_size);
    this.now = options.now ?? Date.now;
    this.lastWork = this.now();
    this.settledBytes = this.heapBytes();
  }

  /** Whether it can collect at all (node was started with `--expose-gc`, or a collection was given). */
  get enabled(): boolean {
    return this.gc !== undefined;
  }

  /** Notes a metric point: one of {@link WORK} means the runtime moved. */
  observe(point: Pick<MetricPoint, "name">): void {
    if (WORK.has(point.name)) this.lastWork = this.now();
  }

  /** Runs one full collection if the runtime is quiet and its heap grew; whether it did. */
  check(): boolean {
    if (!this.gc || this.now() - this.lastWork < this.quietMs) return false;
    if (this.heapBytes() <= this.settledBytes * (1 + this.growth)) return false;
    this.gc();
    this.compactions++;
    this.settledBytes = this.heapBytes();
    return true;
  }

  /** Checks every half of the quiet period (an unreferenced timer: it never keeps the process alive). */
  start(): void {
    if (!this.gc || this.timer) return;
    this.timer = setInterval(() => this.check(), Math.max(10, this.quietMs / 2));
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }
}
