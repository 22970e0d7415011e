import { setTimeout as sleep } from "node:timers/promises";
import { describe, expect, it } from "vitest";
import { createLogger, type LogRecord, withLogContext } from "./log.js";

describe("log contexts", () => {
  it("keep each concurrent unit of work's ids on its own records, nested contexts adding to their outer one", async () => {
    // Prepare: one logger shared by two concurrent tasks, as a batch's records share their agent's logger.
    const logger = createLogger("nexus-test", { level: "INFO" });
    const seen: LogRecord[] = [];
    const tee = (record: LogRecord) => seen.push(record);
    const work = (taskId: string, pauseMs: number) =>
      withLogContext({ taskId, agentId: "diag" }, async () => {
        await sleep(pauseMs);
        await withLogContext({ attempt: 1, attemptId: `${taskId}#1` }, async () => {
          await sleep(pauseMs);
          logger.info("inner", { taskIdSeen: taskId });
        });
        logger.info("outer", { taskIdSeen: taskId });
      });

    // Act: interleaved at every await.
    const realWrite = process.stdout.write;
    process.stdout.write = (() => true) as typeof process.stdout.write;
    try {
      await withLogContext({ requestId: "req-1" }, () => Promise.all([work("tsk_a", 5), work("tsk_b", 1)]), { tee });
    } finally {
      process.stdout.write = realWrite;
    }

    // Assess: each record has its own task's ids, the request's, and the attempt's only inside the inner context.
    expect(seen).toHaveLength(4);
    for (const record of seen) {
      expect(record.taskId).toBe(record.taskIdSeen);
      expect(record.requestId).toBe("req-1");
      expect(record.agentId).toBe("diag");
      expect(record.attemptId).toBe(record.message === "inner" ? `${record.taskId}#1` : undefined);
    }
  });
});
