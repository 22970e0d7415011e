import { execFileSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { devNodeArgs } from "./bench/memory.js";

/**
 * `npm run dev` starts the runtime's node with V8's heap bounded (package.json's `dev` script): unbounded, V8 lets a
 * 2,000-task burst's garbage grow the heap to some 250 MB before its first full collection and keeps the pages, so the
 * process stayed at twice its idle RSS after the burst (README, Memory of the local runtime).
 */
describe("npm run dev's node process", () => {
  const args = devNodeArgs();
  const flag = (name: string) => {
    const value = args.find((a) => a.startsWith(`${name}=`))?.slice(name.length + 1);
    return value === undefined ? undefined : Number(value);
  };

  it("bounds the old generation and the young one", () => {
    expect(flag("--max-old-space-size")).toBeGreaterThanOrEqual(256);
    expect(flag("--max-old-space-size")).toBeLessThanOrEqual(1024);
    expect(flag("--max-semi-space-size")).toBeGreaterThanOrEqual(1);
    expect(flag("--max-semi-space-size")).toBeLessThanOrEqual(8);
  });

  it("gets those bounds: node started with the dev script's arguments has the heap limit they set", () => {
    const out = execFileSync(process.execPath, [
      ...args,
      "-e",
      "process.stdout.write(String(require('node:v8').getHeapStatistics().heap_size_limit))",
    ]);
    const limitMb = Number(out.toString()) / 1024 / 1024;
    // The old generation's bound plus the young generation (three semi-spaces at most).
    expect(limitMb).toBeGreaterThanOrEqual(flag("--max-old-space-size") ?? Number.NaN);
    expect(limitMb).toBeLessThanOrEqual((flag("--max-old-space-size") ?? 0) + 3 * (flag("--max-semi-space-size") ?? 0));
  });
});
