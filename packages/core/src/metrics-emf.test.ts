import { afterEach, describe, expect, it, vi } from "vitest";
import type { MetricPoint } from "./metrics.js";
import { emfSink } from "./metrics-emf.js";

const point = (name: MetricPoint["name"], value: number, dimensions: MetricPoint["dimensions"] = {}): MetricPoint => ({
  name,
  unit: name === "TaskDuration" ? "Milliseconds" : "Count",
  value,
  dimensions,
  at: Date.now(),
});

/** The EMF records `flush` writes to stdout, parsed. */
function flushed(points: MetricPoint[]) {
  const lines: string[] = [];
  const write = vi.spyOn(process.stdout, "write").mockImplementation((chunk) => {
    lines.push(String(chunk));
    return true;
  });
  try {
    const sink = emfSink({ namespace: "Nexus/test" });
    for (const p of points) sink.record(p);
    sink.flush?.();
    sink.flush?.(); // nothing left: writes nothing more
  } finally {
    write.mockRestore();
  }
  return lines.map((line) => {
    expect(line.endsWith("\n")).toBe(true);
    return JSON.parse(line) as Record<string, unknown> & { _aws: { CloudWatchMetrics: unknown[]; Timestamp: number } };
  });
}

describe("EMF records (metrics in Lambda)", () => {
  afterEach(() => vi.restoreAllMocks());

  it("writes one record per dimension set, a metric's values as an array, without dimensions an empty set", () => {
    const records = flushed([
      point("TasksSucceeded", 1, { Agent: "diag" }),
      point("TaskDuration", 12.5, { Agent: "diag" }),
      point("TasksSucceeded", 1, { Agent: "diag" }),
      point("TasksSucceeded", 1, { Agent: "ops" }),
      point("PlanRunsSucceeded", 1),
    ]);
    expect(records).toEqual([
      {
        _aws: {
          Timestamp: expect.any(Number),
          CloudWatchMetrics: [
            {
              Namespace: "Nexus/test",
              Dimensions: [["Agent"]],
              Metrics: [
                { Name: "TasksSucceeded", Unit: "Count" },
                { Name: "TaskDuration", Unit: "Milliseconds" },
              ],
            },
          ],
        },
        Agent: "diag",
        TasksSucceeded: [1, 1],
        TaskDuration: 12.5,
      },
      {
        _aws: {
          Timestamp: expect.any(Number),
          CloudWatchMetrics: [
            { Namespace: "Nexus/test", Dimensions: [["Agent"]], Metrics: [{ Name: "TasksSucceeded", Unit: "Count" }] },
          ],
        },
        Agent: "ops",
        TasksSucceeded: 1,
      },
      {
        _aws: {
          Timestamp: expect.any(Number),
          CloudWatchMetrics: [
            { Namespace: "Nexus/test", Dimensions: [], Metrics: [{ Name: "PlanRunsSucceeded", Unit: "Count" }] },
          ],
        },
        PlanRunsSucceeded: 1,
      },
    ]);
  });

  it("puts at most 100 values of a metric in one record", () => {
    const records = flushed([
      ...Array.from({ length: 250 }, (_, i) => point("TaskDuration", i, { Agent: "diag" })),
      point("TasksFailed", 1, { Agent: "diag" }),
    ]);
    expect(records.map((r) => (Array.isArray(r.TaskDuration) ? r.TaskDuration.length : r.TaskDuration))).toEqual([
      100, 100, 50,
    ]);
    expect(records.flatMap((r) => r.TaskDuration as number[])).toEqual(Array.from({ length: 250 }, (_, i) => i));
    expect(records.map((r) => r.TasksFailed)).toEqual([1, undefined, undefined]);
    expect(records[2]?._aws.CloudWatchMetrics).toEqual([
      { Namespace: "Nexus/test", Dimensions: [["Agent"]], Metrics: [{ Name: "TaskDuration", Unit: "Milliseconds" }] },
    ]);
  });
});
