import { type ChildProcess, execFileSync } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as Keys from "@nexus/core/keys";
import { afterAll, describe, expect, it } from "vitest";
import { devNodeArgs, freePort, startDev } from "./bench/memory.js";

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

  it("exposes a full collection, which the runtime runs once quiet after work (compactor.ts)", () => {
    expect(args).toContain("--expose-gc");
    const out = execFileSync(process.execPath, [...args, "-e", "process.stdout.write(typeof globalThis.gc)"]);
    expect(out.toString()).toBe("function");
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

describe("npm run dev's process under large results at once", () => {
  let child: ChildProcess | undefined;
  const dataDir = mkdtempSync(join(tmpdir(), "nexus-large-bodies-"));
  afterAll(async () => {
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = once(child, "exit");
      child.kill("SIGTERM");
      await exited;
    }
    rmSync(dataDir, { recursive: true, force: true });
  });

  it("serves 40 remote workers completing 5 MB results at the same moment, and keeps running", async () => {
    // Unbounded, the bodies' parsing, redaction, hashing and storing ran the bounded heap out (V8's fatal
    // "heap out of memory") and the runtime stopped: large bodies take turns (packages/local/src/body-gate.ts).
    const port = await freePort();
    const admin = Keys.generate().token;
    child = await startDev(dataDir, port, admin);
    let stderr = "";
    child.stderr?.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const url = `http://127.0.0.1:${port}`;
    const call = async (method: string, path: string, body?: unknown) => {
      const reply = await fetch(`${url}${path}`, {
        method,
        headers: { authorization: `Bearer ${admin}`, "content-type": "application/json" },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      return { status: reply.status, body: (await reply.json()) as Record<string, unknown> };
    };
    const agent = await call("POST", "/v1/agents", { name: "bulk", actions: [{ name: "make" }] });
    expect(agent.status).toBe(201);
    const agentId = agent.body.id as string;
    const ids: string[] = [];
    for (let i = 0; i < 40; i++) {
      const submitted = await call("POST", "/v1/tasks", { agentId, action: "make", params: { i } });
      expect(submitted.status).toBe(202);
      ids.push(submitted.body.id as string);
    }
    const claimed: Array<{ id: string; leaseToken: string }> = [];
    while (claimed.length < ids.length) {
      const claim = await call("POST", `/v1/agents/${agentId}/tasks/claim`, { max: 10, waitSeconds: 2 });
      expect(claim.status).toBe(200);
      claimed.push(...(claim.body.tasks as typeof claimed));
    }
    const text = "x".repeat(5_000_000 - 100);
    const completed = await Promise.all(
      claimed.map((task) =>
        call("POST", `/v1/tasks/${task.id}/complete`, { leaseToken: task.leaseToken, result: { text } }).then(
          (reply) => reply.status,
          (error: Error) =>
            `${error.message}; the runtime ${child?.signalCode ?? child?.exitCode ?? "runs"}: ${stderr.slice(0, 300)}`,
        ),
      ),
    );
    expect(completed).toEqual(ids.map(() => 200));
    expect(child.exitCode).toBeNull();
    const tasks = await Promise.all(ids.map((id) => call("GET", `/v1/tasks/${id}`)));
    expect(tasks.map((t) => [t.body.status, (t.body.resultRef as { bytes: number } | undefined)?.bytes])).toEqual(
      ids.map(() => ["succeeded", JSON.stringify({ text }).length]),
    );
  }, 120_000);
});
