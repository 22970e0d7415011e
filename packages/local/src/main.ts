import { resolve } from "node:path";
import { startLocal } from "./runtime.js";

/** `npm run dev`: the whole of Nexus on 127.0.0.1, data kept under NEXUS_DATA_DIR (default .nexus/). */
async function main() {
  // The SDK warns once per process that its releases after January 2027 need Node 22; the locked ones run here.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
  const dataDir = resolve(process.env.NEXUS_DATA_DIR ?? ".nexus");
  const port = Number(process.env.PORT ?? 3000);
  const nexus = await startLocal({
    dataDir,
    port,
    logLevel: (process.env.LOG_LEVEL as "INFO" | undefined) ?? "INFO",
    ...(process.env.NEXUS_ADMIN_KEY ? { adminKey: process.env.NEXUS_ADMIN_KEY } : {}),
  });
  const lines = [
    "Nexus is running locally.",
    `  API          ${nexus.url}/v1/health`,
    `  API docs     ${nexus.url}/docs`,
    `  OpenAPI      ${nexus.url}/openapi.json`,
    `  DynamoDB     ${nexus.endpoints.dynamodb}  (dynalite; data in ${dataDir})`,
    `  SQS          ${nexus.endpoints.sqs}  (local-aws-sqs, in memory)`,
    `  Secrets      ${nexus.endpoints.secretsManager}  (local Secrets Manager endpoint)`,
    `  Plans        ${nexus.endpoints.stepFunctions}  (local Step Functions endpoint: the stack's plan state machine)`,
    nexus.adminKeyCreated
      ? `  Admin key    ${nexus.adminKey}\n               (shown once; kept in ${dataDir}/admin-key. Send it as Authorization: Bearer <key>)`
      : `  Admin key    ${process.env.NEXUS_ADMIN_KEY ? "from NEXUS_ADMIN_KEY" : `kept in ${dataDir}/admin-key`}`,
    ...Object.values(nexus.standIns).flatMap((standIn) => standIn.describe.map((line) => `  ${line}`)),
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
