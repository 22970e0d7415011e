import { resolve } from "node:path";
import { CorsOriginsSetting } from "@nexus/core";
import * as Alarms from "@nexus/core/alarms";
import type { AlarmChange } from "./alarms.js";
import { startLocal } from "./runtime.js";

/** A whole number of seconds from the environment, or the default; anything else stops the start with its name. */
function seconds(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 0) throw new Error(`${name} must be a whole number of seconds, not '${raw}'`);
  return value;
}

/** `NEXUS_CORS_ORIGINS`, checked as the stack checks it; a bad value stops the start with what is wrong. */
function corsOrigins(): string[] | undefined {
  const raw = process.env.NEXUS_CORS_ORIGINS?.trim();
  if (!raw) return undefined;
  const parsed = CorsOriginsSetting.safeParse(raw);
  if (!parsed.success) {
    throw new Error(`NEXUS_CORS_ORIGINS is not valid (${parsed.error.issues[0]?.message}), got ${JSON.stringify(raw)}`);
  }
  return parsed.data;
}

/** An alarm's change of state, one line in the `npm run dev` output. */
function alarmLine(change: AlarmChange): string {
  const time = change.at.slice(11, 19);
  return `${time} alarm ${change.to.padEnd(17)} ${change.key} (was ${change.from}): ${change.reason}\n`;
}

function describeFault(fault: unknown): string {
  return fault instanceof Error ? (fault.stack ?? `${fault.name}: ${fault.message}`) : String(fault);
}

/** `npm run dev`: the whole of Nexus on 127.0.0.1, data kept under NEXUS_DATA_DIR (default .nexus/). */
async function main() {
  // The SDK warns once per process that its releases after January 2027 need Node 22; the locked ones run here.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
  const dataDir = resolve(process.env.NEXUS_DATA_DIR ?? ".nexus");
  const port = Number(process.env.PORT ?? 3000);
  const cors = corsOrigins();
  // A fault in an emulator, stand-in or poller is logged; it never takes the runtime down.
  process.on("unhandledRejection", (reason) => {
    process.stderr.write(`unhandled fault (Nexus keeps running): ${describeFault(reason)}\n`);
  });
  process.on("uncaughtException", (error) => {
    process.stderr.write(`uncaught fault (Nexus keeps running): ${describeFault(error)}\n`);
  });
  const nexus = await startLocal({
    dataDir,
    port,
    sweepIntervalMs: seconds("NEXUS_SWEEP_INTERVAL_SECONDS", 5) * 1000,
    sweepGraceMs: seconds("NEXUS_SWEEP_GRACE_SECONDS", 300) * 1000,
    leaseGraceMs: seconds("NEXUS_LEASE_GRACE_SECONDS", 5) * 1000,
    logLevel: (process.env.LOG_LEVEL as "INFO" | undefined) ?? "INFO",
    // The built-in agents' concurrency, batches and timeouts: the setting the stack reads.
    agentScaling: process.env.NEXUS_AGENT_SCALING,
    ...(process.env.NEXUS_ADMIN_KEY ? { adminKey: process.env.NEXUS_ADMIN_KEY } : {}),
    settings: { ...(cors ? { corsOrigins: cors } : {}) },
    alarms: {
      settings: Alarms.parseAlarmSettings(process.env.NEXUS_ALARMS),
      intervalMs: Math.max(1, seconds("NEXUS_ALARM_INTERVAL_SECONDS", 5)) * 1000,
      onChange: (change) => process.stdout.write(alarmLine(change)),
      ...(process.env.NEXUS_ALARM_CHAT?.trim() ? { chatChannel: process.env.NEXUS_ALARM_CHAT.trim() } : {}),
    },
  });
  const lines = [
    "Nexus is running locally.",
    `  Dashboard    ${nexus.url}/   (sign in with an API key; the admin key is kept in ${dataDir}/admin-key)`,
    `  API          ${nexus.url}/v1/health`,
    `  API docs     ${nexus.url}/docs`,
    `  OpenAPI      ${nexus.url}/openapi.json`,
    `  CORS         ${cors ? cors.join(", ") : "off (NEXUS_CORS_ORIGINS unset: same-origin pages only)"}`,
    `  DynamoDB     ${nexus.endpoints.dynamodb}  (dynalite; data in ${dataDir})`,
    `  SQS          ${nexus.endpoints.sqs}  (local-aws-sqs, in memory)`,
    `  Secrets      ${nexus.endpoints.secretsManager}  (local Secrets Manager endpoint)`,
    `  Plans        ${nexus.endpoints.stepFunctions}  (local Step Functions endpoint: the stack's plan state machine)`,
    `  Alarms       ${nexus.url}/v1/alarms  (the stack's alarms over this runtime's metrics; changes are printed here)`,
    nexus.adminKeyCreated
      ? `  Admin key    ${nexus.adminKey}\n               (shown once; kept in ${dataDir}/admin-key. Send it as Authorization: Bearer <key>)`
      : `  Admin key    ${process.env.NEXUS_ADMIN_KEY ? "from NEXUS_ADMIN_KEY" : `kept in ${dataDir}/admin-key`}`,
    ...Object.values(nexus.standIns).flatMap((standIn) => standIn.describe.map((line) => `  ${line}`)),
    `  Recovered    ${nexus.recovery.tasks.requeued} unfinished tasks put back on their queues (${nexus.recovery.tasks.failed} out of attempts), ${nexus.recovery.plans.resumed} plan runs resumed, ${nexus.recovery.plans.settled} settled`,
    "Press Ctrl-C to stop.",
  ];
  process.stdout.write(`${lines.join("\n")}\n`);
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    process.stdout.write(`\n${signal}: stopping Nexus…\n`);
    await nexus.stop();
    process.stdout.write("stopped.\n");
    process.exit(0);
  };
  process.on("SIGINT", () => void stop("SIGINT"));
  process.on("SIGTERM", () => void stop("SIGTERM"));
}

main().catch((error: unknown) => {
  process.stderr.write(`Nexus failed to start: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
