/**
 * Captures what the process writes to stdout and stderr (the logger writes warnings and errors to stderr), line by
 * line, without showing it, until `restore`. `records()` are the lines that are JSON objects: log records and EMF.
 */
export function captureOutput() {
  const lines: string[] = [];
  const streams = [process.stdout, process.stderr] as const;
  const originals = streams.map((stream) => stream.write);
  for (const stream of streams) {
    stream.write = ((chunk: string | Uint8Array) => {
      lines.push(...String(chunk).split("\n").filter(Boolean));
      return true;
    }) as typeof stream.write;
  }
  const records = (): Array<Record<string, unknown>> =>
    lines.flatMap((line) => {
      try {
        const parsed: unknown = JSON.parse(line);
        return parsed && typeof parsed === "object" && !Array.isArray(parsed)
          ? [parsed as Record<string, unknown>]
          : [];
      } catch {
        return [];
      }
    });
  return {
    lines,
    records,
    /** The log records (not EMF). */
    logRecords: () => records().filter((r) => !("_aws" in r)),
    clear: () => {
      lines.length = 0;
    },
    restore: () => {
      streams.forEach((stream, i) => {
        stream.write = originals[i] as typeof stream.write;
      });
    },
  };
}
