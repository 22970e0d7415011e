import { startLocal } from "@nexus/local";
import { afterEach, describe, expect, it, vi } from "vitest";

describe("stopping the local runtime", () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it("waits for the failures inbox's run in flight: nothing runs against the emulators once they are stopped", async () => {
    const written: string[] = [];
    for (const stream of [process.stdout, process.stderr]) {
      const write = stream.write.bind(stream);
      vi.spyOn(stream, "write").mockImplementation(((chunk: string | Uint8Array, ...rest: never[]) => {
        written.push(String(chunk));
        return write(chunk, ...rest);
      }) as typeof stream.write);
    }
    // The inbox's timer fires every few milliseconds, so each stop comes while its queue sampling or ingestion runs.
    for (let run = 0; run < 3; run++) {
      const nexus = await startLocal({ port: 0, logLevel: "ERROR", failureIngestIntervalMs: 5 });
      await new Promise((resolve) => setTimeout(resolve, 200));
      await nexus.stop();
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
    const failures = written.filter((line) => /queue sampling failed|failure ingestion failed/.test(line));
    expect(failures).toEqual([]);
    // The capture sees what the runtime's loggers write (log.ts writes to the process's streams).
    expect(written.join("")).not.toContain("capture check");
    process.stderr.write("capture check\n");
    expect(written.join("")).toContain("capture check");
  }, 120_000);
});
