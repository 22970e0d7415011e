import { describe, expect, it } from "vitest";
import { MemoryMetrics, type MetricPoint, metrics, useMetricsSink } from "./metrics.js";

describe("metrics recorded in process", () => {
  it("go to every installed sink, with their unit, and are queried by name, dimensions and window", () => {
    // Prepare: a sink installed, as the local runtime installs its own.
    const memory = new MemoryMetrics();
    const seen: MetricPoint[] = [];
    const stopListening = memory.subscribe((point) => seen.push(point));
    const uninstall = useMetricsSink(memory);

    // Act
    metrics().count("TasksSubmitted", 1, { Agent: "diag" });
    metrics().count("TasksSubmitted", 2, { Agent: "ops" });
    metrics().duration("TaskDuration", 12.5, { Agent: "diag" });
    metrics().count("AgentOnline", 1, { Agent: "diag" });
    metrics().count("AgentOnline", 0, { Agent: "diag" });
    metrics().count("ApiRequests", 1, { StatusClass: "5xx" });
    uninstall();
    metrics().count("TasksSubmitted", 100, { Agent: "diag" }); // nowhere: no sink installed
    stopListening();

    // Assess
    expect(memory.sum({ name: "TasksSubmitted" })).toBe(3);
    expect(memory.sum({ name: "TasksSubmitted", dimensions: { Agent: "diag" } })).toBe(1);
    expect(memory.sum({ name: "TasksSubmitted", since: Date.now() + 1000 })).toBe(0);
    expect(memory.query({ name: "TaskDuration" })).toEqual([
      expect.objectContaining({ unit: "Milliseconds", value: 12.5, dimensions: { Agent: "diag" } }),
    ]);
    expect(memory.latest({ name: "AgentOnline", dimensions: { Agent: "diag" } })).toBe(0);
    expect(memory.sum({ name: "ApiRequests", dimensions: { StatusClass: "5xx" } })).toBe(1);
    expect(memory.snapshot()).toContainEqual({
      name: "TasksSubmitted",
      dimensions: { Agent: "ops" },
      sum: 2,
      count: 1,
    });
    expect(seen).toHaveLength(6);
  });

  it("keep at most their bound of points, the oldest dropped first, and totals since start", () => {
    const memory = new MemoryMetrics({ maxPoints: 10 });
    const uninstall = useMetricsSink(memory);
    for (let i = 1; i <= 3000; i++) metrics().count("TasksSucceeded", i, { Agent: "diag" });
    uninstall();
    const kept = memory.query({ name: "TasksSucceeded" });
    expect(kept.length).toBeGreaterThanOrEqual(10);
    expect(kept.length).toBeLessThanOrEqual(10 + 1024);
    expect(kept.at(-1)?.value).toBe(3000);
    expect(kept[0]?.value).toBe(3000 - kept.length + 1);
    expect(memory.snapshot()).toEqual([
      { name: "TasksSucceeded", dimensions: { Agent: "diag" }, sum: (3000 * 3001) / 2, count: 3000 },
    ]);
  });
});
