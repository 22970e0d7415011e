/** Small helpers shared by the bench phases. */

/** Nearest-rank percentile of an ascending-sorted array (p in 0..100). */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1] ?? Number.NaN;
}

export function median(values: readonly number[]): number {
  return percentile(
    [...values].sort((a, b) => a - b),
    50,
  );
}

/** Runs `work(i)` for i in [0, count) with at most `limit` calls in flight. */
export async function pool(count: number, limit: number, work: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < count) {
      const i = next++;
      await work(i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, count) }, lane));
}

export interface ThroughputResult {
  /** Tasks measured. */
  tasks: number;
  /** First submit → last stored finish, ms. */
  wallMs: number;
  tasksPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  /** Tasks that did not end `succeeded` (should be 0). */
  notSucceeded: number;
}

/**
 * Throughput and latency from per-task (createdAt, finishedAt) pairs as stored, in epoch ms:
 * throughput = N / (last finish − first submit), latency = finishedAt − createdAt.
 */
export function summarize(
  startedAt: number,
  spans: ReadonlyArray<{ createdAt: number; finishedAt: number }>,
  notSucceeded: number,
): ThroughputResult {
  const latencies = spans.map((s) => s.finishedAt - s.createdAt).sort((a, b) => a - b);
  const lastFinish = spans.reduce((max, s) => Math.max(max, s.finishedAt), startedAt);
  const wallMs = Math.max(1, lastFinish - startedAt);
  return {
    tasks: spans.length,
    wallMs,
    tasksPerSecond: (spans.length / wallMs) * 1000,
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
    notSucceeded,
  };
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
