import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { createServer } from "node:net";
import { join, resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import * as Keys from "@nexus/core/keys";
import { pool } from "./stats.js";

/**
 * Memory and disk of `npm run dev` (packages/local/src/main.ts in a process of its own with the dev script's node flags,
 * as a user runs it): RSS
 * idle, at the peak of a burst of `diag echo` tasks and after it, the growth per 10,000 stored tasks, and the
 * local table's disk per stored task against the task item's own size. Goals (issue figures): idle ≤ 300 MB, peak
 * ≤ 500 MB and back near idle after, growth ≤ 50 MB per 10,000 tasks, disk within 3x the item size.
 */
export interface MemoryResult {
  idleMb: number;
  peakMb: number;
  /** RSS 5 s after the burst's last task finished. */
  afterMb: number;
  /** RSS at the end of the watch after the burst ({@link SETTLE_WATCH_MS}). */
  settledMb: number;
  /** Seconds from the burst's last task to RSS within {@link NEAR_IDLE} of idle; null when it did not get there. */
  nearIdleAfterS: number | null;
  burst: number;
  stored: number;
  growthPer10kMb: number;
  diskBytesPerTask: number;
  itemBytes: number;
}

const ROOT = resolve(import.meta.dirname, "../..");
/** "Back near idle": RSS at most this much above the idle figure (10 %). */
export const NEAR_IDLE = 0.1;
/** How long RSS is watched after a burst: V8's memory reducer shrinks the heap once allocation has slowed for a while. */
const SETTLE_WATCH_MS = 30_000;
const MAIN = "packages/local/src/main.ts";

/**
 * The node arguments `npm run dev` starts the runtime with (its V8 heap bounds, the TypeScript loader): those between
 * `node` and the entry in package.json's `dev` script, so that the bench measures the very process a user runs.
 */
export function devNodeArgs(): string[] {
  const { scripts } = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { scripts: { dev: string } };
  const command = scripts.dev.split("&&").find((part) => part.trim().endsWith(MAIN));
  const words = command?.trim().split(/\s+/) ?? [];
  if (words[0] !== "node") throw new Error(`the dev script does not run node … ${MAIN}: ${scripts.dev}`);
  return words.slice(1, -1);
}

export async function freePort(): Promise<number> {
  const server = createServer().listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as { port: number };
  server.close();
  await once(server, "close");
  return port;
}

/**
 * Watches RSS for {@link SETTLE_WATCH_MS} after work ended: RSS 5 s in, at the end, and the first second it was
 * within {@link NEAR_IDLE} of `idleMb`.
 */
async function settle(pid: number, idleMb: number) {
  const start = performance.now();
  let after5sMb = Number.NaN;
  let nearIdleAfterS: number | null = null;
  let rss = rssMb(pid);
  for (let elapsed = 0; elapsed < SETTLE_WATCH_MS; elapsed = performance.now() - start) {
    await sleep(500);
    rss = rssMb(pid);
    const seconds = (performance.now() - start) / 1000;
    if (Number.isNaN(after5sMb) && seconds >= 5) after5sMb = rss;
    if (nearIdleAfterS === null && rss <= idleMb * (1 + NEAR_IDLE)) nearIdleAfterS = seconds;
  }
  return { after5sMb, settledMb: rss, nearIdleAfterS };
}

const rssMb = (pid: number) => {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? Number.NaN);
  return kb / 1024;
};

/** The bytes of the files under `dir`. */
export function diskBytes(dir: string): number {
  let total = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    total += entry.isDirectory() ? diskBytes(path) : statSync(path).size;
  }
  return total;
}

/** Starts `npm run dev`'s node process (its node arguments, its entry) on `port`; resolves once it serves. */
export async function startDev(dataDir: string, port: number, adminKey: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, [...devNodeArgs(), join(ROOT, MAIN)], {
    cwd: ROOT,
    env: {
      ...process.env,
      NEXUS_DATA_DIR: dataDir,
      PORT: String(port),
      NEXUS_ADMIN_KEY: adminKey,
      LOG_LEVEL: "ERROR",
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  await new Promise<void>((ready, fail) => {
    child.stdout?.on("data", (chunk: Buffer) => {
      out += chunk.toString();
      if (out.includes("Press Ctrl-C")) ready();
    });
    child.once("exit", (code) => fail(new Error(`npm run dev exited (${code}) before it was ready`)));
  });
  return child;
}

export async function runMemoryBench(options: {
  dataDir: string;
  burst: number;
  stored: number;
}): Promise<MemoryResult> {
  const port = await freePort();
  const adminKey = Keys.generate().token;
  const child = await startDev(options.dataDir, port, adminKey);
  const pid = child.pid ?? 0;
  const url = `http://127.0.0.1:${port}`;
  // An operator key whose rate limit is out of the burst's way (the bootstrap key has the default 600/min).
  const created = await fetch(`${url}/v1/keys`, {
    method: "POST",
    headers: { authorization: `Bearer ${adminKey}`, "content-type": "application/json" },
    body: JSON.stringify({ name: "memory-bench", role: "operator", rateLimitPerMinute: 100_000 }),
  });
  const { key } = (await created.json()) as { key: string };
  const headers = { authorization: `Bearer ${key}`, "content-type": "application/json" };
  const submit = async (i: number) => {
    const reply = await fetch(`${url}/v1/tasks`, {
      method: "POST",
      headers,
      body: JSON.stringify({ agentId: "diag", action: "echo", params: { i, text: "a short payload of a few words" } }),
    });
    if (reply.status !== 202) throw new Error(`submit: ${reply.status} ${await reply.text()}`);
    return ((await reply.json()) as { id: string }).id;
  };
  const drained = async () => {
    for (const status of ["queued", "running"]) {
      const page = (await (await fetch(`${url}/v1/tasks?status=${status}&limit=1`, { headers })).json()) as {
        items: unknown[];
      };
      if (page.items.length > 0) return false;
    }
    return true;
  };
  try {
    await sleep(3000);
    const idleMb = rssMb(pid);
    let peakMb = idleMb;
    const sampler = setInterval(() => {
      peakMb = Math.max(peakMb, rssMb(pid));
    }, 100);
    await pool(options.burst, 32, async (i) => {
      await submit(i);
    });
    while (!(await drained())) await sleep(200);
    clearInterval(sampler);
    const burst = await settle(pid, idleMb);

    // Growth: more tasks stored, measured after they finished and the process settled.
    const before = burst.settledMb;
    await pool(options.stored, 32, async (i) => {
      await submit(options.burst + i);
    });
    while (!(await drained())) await sleep(200);
    const grown = (await settle(pid, idleMb)).settledMb - before;
    const lastId = await submit(options.burst + options.stored);
    while (!(await drained())) await sleep(100);
    const item = await (await fetch(`${url}/v1/tasks/${lastId}`, { headers })).text();
    const total = options.burst + options.stored + 1;
    return {
      idleMb,
      peakMb,
      afterMb: burst.after5sMb,
      settledMb: burst.settledMb,
      nearIdleAfterS: burst.nearIdleAfterS,
      burst: options.burst,
      stored: options.stored,
      growthPer10kMb: (grown / options.stored) * 10_000,
      diskBytesPerTask: diskBytes(join(options.dataDir, "dynamodb")) / total,
      itemBytes: Buffer.byteLength(item),
    };
  } finally {
    const exited = once(child, "exit");
    child.kill("SIGTERM");
    await exited;
  }
}

export function memoryLines(r: MemoryResult): string[] {
  const mb = (n: number) => `${n.toFixed(0)} MB`;
  const diskRatio = r.diskBytesPerTask / r.itemBytes;
  const over = (n: number) => `+${(((n - r.idleMb) / r.idleMb) * 100).toFixed(0)} %`;
  return [
    `memory and disk of npm run dev (its own process; RSS from /proc): ${r.burst}-task burst, then ${r.stored} more stored`,
    `  idle ${mb(r.idleMb)} (goal <= 300) · burst peak ${mb(r.peakMb)} (goal <= 500)`,
    `  after the burst: ${mb(r.afterMb)} at 5 s, ${mb(r.settledMb)} at ${SETTLE_WATCH_MS / 1000} s (${mb(r.settledMb - r.idleMb)} over idle, ${over(r.settledMb)}; the burst's rise was ${mb(r.peakMb - r.idleMb)})`,
    `  back near idle (within ${NEAR_IDLE * 100} % of it): ${r.nearIdleAfterS === null ? `not within ${SETTLE_WATCH_MS / 1000} s` : `after ${r.nearIdleAfterS.toFixed(1)} s`}`,
    `  growth per 10,000 stored tasks ${mb(r.growthPer10kMb)} (goal <= 50)`,
    `  disk per stored task ${Math.round(r.diskBytesPerTask).toLocaleString("en-US")} B against its item (as the API returns it) ${r.itemBytes.toLocaleString("en-US")} B: ${diskRatio.toFixed(1)}x (goal <= 3x)`,
  ];
}
