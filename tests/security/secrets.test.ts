import { type LocalNexus, startLocal } from "@nexus/local";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { apiClient, type Json } from "../support/client.js";

/**
 * Runs a representative slice of traffic (successes, failures, denied and malformed requests, key
 * lifecycle, retries and dead letters) with known secret values in play, capturing every log line and
 * every response, then scans all of it for the secrets.
 */
const ADMIN_KEY = "nxk_adm1n0000000_SECRETadminKEYvalue-0123456789abcdefghijklmnop";
const PROVIDER_SECRET = "twilio-auth-token-SECRET-9f8e7d6c5b4a39281706";

let nexus: LocalNexus;
const captured: string[] = [];
const restore: Array<() => void> = [];

function capture(stream: NodeJS.WriteStream) {
  const original = stream.write.bind(stream);
  stream.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
    captured.push(typeof chunk === "string" ? chunk : Buffer.from(chunk).toString("utf8"));
    return (original as (...args: unknown[]) => boolean)(chunk, ...rest);
  }) as typeof stream.write;
  restore.push(() => {
    stream.write = original;
  });
}

/** Also console.* (the test runner routes it around the process streams). */
function captureConsole() {
  for (const method of ["log", "info", "warn", "error", "debug", "trace"] as const) {
    // biome-ignore lint/suspicious/noConsole: the test wraps console to capture what product code might print
    const original = console[method];
    console[method] = (...args: unknown[]) => {
      captured.push(args.map((a) => (typeof a === "string" ? a : JSON.stringify(a))).join(" "));
      original(...args);
    };
    restore.push(() => {
      console[method] = original;
    });
  }
}

beforeAll(async () => {
  capture(process.stdout);
  capture(process.stderr);
  captureConsole();
  nexus = await startLocal({
    port: 0,
    logLevel: "DEBUG",
    adminKey: ADMIN_KEY,
    secrets: { "nexus/twilio": JSON.stringify({ accountSid: "AC123", authToken: PROVIDER_SECRET }) },
    settings: { rateLimitPerMinute: 100_000 },
  });
});
afterAll(async () => {
  await nexus?.stop();
  for (const undo of restore) undo();
});

describe("secrets stay secret", () => {
  it("never appear in a log line, an error, a response or the audit trail", async () => {
    const responses: string[] = [];
    const record = async (reply: Promise<{ status: number; headers: Headers; body: Json }>) => {
      const r = await reply;
      responses.push(JSON.stringify(r.body), JSON.stringify([...r.headers.entries()]));
      return r;
    };
    const admin = apiClient(nexus.url, ADMIN_KEY);
    const created = await admin.post("/v1/keys", { name: "operator", role: "operator" });
    const operatorKey: string = created.body.key;
    const operator = apiClient(nexus.url, operatorKey);

    await record(admin.post("/v1/agents", { name: "secretive", actions: [{ name: "a" }] }));
    const ok = await record(operator.post("/v1/tasks", { agentId: "diag", action: "echo", params: { x: 1 } }));
    const failing = await record(operator.post("/v1/tasks", { agentId: "diag", action: "fail", params: { times: 9 } }));
    await record(operator.post("/v1/tasks", { agentId: "diag", action: "sleep", params: { ms: -1 } }));
    await record(
      operator.raw("POST", "/v1/tasks", undefined, { body: "{oops", headers: { "content-type": "application/json" } }),
    );
    await record(apiClient(nexus.url, `${operatorKey}x`).get("/v1/agents"));
    await record(apiClient(nexus.url, ADMIN_KEY.replace("SECRET", "SECRXT")).get("/v1/keys"));
    await record(apiClient(nexus.url).get("/v1/tasks"));
    await record(operator.get("/v1/keys"));
    await record(admin.get("/v1/keys?limit=100"));
    await record(admin.get(`/v1/keys/${created.body.id}`));
    await record(admin.get("/v1/audit?limit=100"));
    await operator.waitForTask(ok.body.id);
    await record(operator.get(`/v1/tasks/${(await operator.waitForTask(failing.body.id, ["failed"], 30_000)).id}`));
    await record(admin.delete(`/v1/keys/${created.body.id}`));
    await record(operator.get("/v1/agents"));
    await record(admin.get("/v1/audit?limit=100"));

    const logs = captured.join("");
    expect(logs.length).toBeGreaterThan(0); // DEBUG logging did run
    const everything = [logs, ...responses].join("\n");
    for (const secret of [ADMIN_KEY, operatorKey, PROVIDER_SECRET]) {
      const secretPart = secret.slice(17); // the part after a key's public id
      expect(everything.includes(secret), `secret ${secret.slice(0, 8)}… leaked`).toBe(false);
      expect(everything.includes(secretPart), `secret part of ${secret.slice(0, 8)}… leaked`).toBe(false);
    }
  });
});
