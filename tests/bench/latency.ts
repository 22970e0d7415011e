import { CreateQueueCommand, ReceiveMessageCommand, SendMessageCommand, SQSClient } from "@aws-sdk/client-sqs";
import { startLocal, startSqs } from "@nexus/local";
import { median, percentile } from "./stats.js";

/**
 * Latency of one task on an idle local runtime: `diag echo` submitted over HTTP, then its status read every 2 ms
 * until it succeeded, one task at a time (N samples, a pause between them). Baseline, same run: one message
 * through the same SQS emulator (send, then the waiting long poll's answer), the floor any queue hop has locally.
 */
export interface LatencyResult {
  samples: number;
  echo: { p50Ms: number; p99Ms: number; storedP50Ms: number; storedP99Ms: number };
  sqsHop: { p50Ms: number; p99Ms: number };
}

const CREDENTIALS = { accessKeyId: "local", secretAccessKey: "local" };
const p99 = (values: number[]) =>
  percentile(
    [...values].sort((a, b) => a - b),
    99,
  );

async function sqsHop(samples: number): Promise<number[]> {
  const sqs = await startSqs();
  const client = new SQSClient({ endpoint: sqs.endpoint, region: "us-east-1", credentials: CREDENTIALS });
  try {
    const { QueueUrl } = await client.send(new CreateQueueCommand({ QueueName: "bench-hop" }));
    const out: number[] = [];
    for (let i = 0; i < samples; i++) {
      const waiting = client.send(new ReceiveMessageCommand({ QueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }));
      await new Promise((r) => setTimeout(r, 20)); // the poll is waiting when the message arrives
      const t0 = performance.now();
      await client.send(new SendMessageCommand({ QueueUrl, MessageBody: String(i) }));
      const got = await waiting;
      if (!got.Messages?.length) throw new Error("the baseline's long poll returned nothing");
      out.push(performance.now() - t0);
    }
    return out;
  } finally {
    client.destroy();
    await sqs.stop();
  }
}

export async function runLatencyBench(samples: number): Promise<LatencyResult> {
  const hop = await sqsHop(samples);
  const nexus = await startLocal({ port: 0, logLevel: "SILENT", settings: { rateLimitPerMinute: 1_000_000_000 } });
  const headers = { authorization: `Bearer ${nexus.adminKey}`, "content-type": "application/json" };
  const client: number[] = [];
  const stored: number[] = [];
  try {
    for (let i = 0; i < samples + 5; i++) {
      const t0 = performance.now();
      const submitted = await fetch(`${nexus.url}/v1/tasks`, {
        method: "POST",
        headers,
        body: JSON.stringify({ agentId: "diag", action: "echo", params: { i } }),
      });
      const { id } = (await submitted.json()) as { id: string };
      for (;;) {
        const task = (await (await fetch(`${nexus.url}/v1/tasks/${id}`, { headers })).json()) as {
          status: string;
          createdAt: string;
          finishedAt: string;
        };
        if (task.status === "succeeded") {
          if (i >= 5) {
            client.push(performance.now() - t0);
            stored.push(Date.parse(task.finishedAt) - Date.parse(task.createdAt));
          }
          break;
        }
        if (task.status !== "queued" && task.status !== "running") throw new Error(`echo ended ${task.status}`);
        await new Promise((r) => setTimeout(r, 2));
      }
      await new Promise((r) => setTimeout(r, 30)); // idle again before the next one
    }
  } finally {
    await nexus.stop();
  }
  return {
    samples,
    echo: {
      p50Ms: median(client),
      p99Ms: p99(client),
      storedP50Ms: median(stored),
      storedP99Ms: p99(stored),
    },
    sqsHop: { p50Ms: median(hop), p99Ms: p99(hop) },
  };
}

export function latencyLines(r: LatencyResult): string[] {
  const ms = (n: number) => `${n.toFixed(1)} ms`;
  const met = r.echo.p50Ms <= 50 && r.echo.p99Ms <= 150;
  return [
    `idle latency: diag echo submitted over HTTP to an idle local runtime, one at a time, ${r.samples} samples`,
    `  echo, client (POST → seen succeeded, 2 ms polls)   p50 ${ms(r.echo.p50Ms)}   p99 ${ms(r.echo.p99Ms)}`,
    `  echo, stored (createdAt → finishedAt)             p50 ${ms(r.echo.storedP50Ms)}   p99 ${ms(r.echo.storedP99Ms)}`,
    `  baseline: one message through the same SQS emulator (send → long poll answers)   p50 ${ms(r.sqsHop.p50Ms)}   p99 ${ms(r.sqsHop.p99Ms)}`,
    `  ratio echo/hop at the median: ${(r.echo.p50Ms / r.sqsHop.p50Ms).toFixed(2)}x`,
    `  goal p50 <= 50 ms and p99 <= 150 ms: ${met ? "met" : "NOT met"}`,
  ];
}
