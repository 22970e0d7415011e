import { appendFileSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import {
  type Context,
  createClients,
  DEFAULT_SETTINGS,
  ensureTable,
  fileObjectStore,
  s3ObjectStore,
  secretsManager,
  TableLayoutError,
} from "@nexus/core";
import * as Backup from "@nexus/core/backup";
import * as Keys from "@nexus/core/keys";
import { startDynamo } from "./emulators.js";
import { RUNTIME_FILE, TABLE_NAME } from "./runtime.js";

const USAGE = `Works straight on the table: creates an API key for operators who have no admin key at hand, or exports a
table no API serves (e.g. one restored from a point in time) as a backup file for \`nexus backup import\`.

usage: npm run admin -- keys create --name <name> --role <admin|operator|viewer|agent> [--agent <id>] [--expires <ISO date>]
       npm run admin -- backup export --file <backup.jsonl>   (NEXUS_PAYLOADS: the bucket of the payloads, in AWS)

In AWS: set NEXUS_TABLE (the stack's TableName output) and AWS credentials allowed to write to it.
Locally: uses the data directory (NEXUS_DATA_DIR, default .nexus), whether or not \`npm run dev\` is running.
The key is printed once; only its hash is stored.`;

interface Target {
  ctx: Context;
  close(): Promise<void>;
}

async function localTarget(dataDir: string): Promise<Target> {
  const runtimeFile = join(dataDir, RUNTIME_FILE);
  if (existsSync(runtimeFile)) {
    const running = JSON.parse(readFileSync(runtimeFile, "utf8")) as { endpoints: { dynamodb: string } };
    const clients = createClients({
      region: "us-east-1",
      dynamodbEndpoint: running.endpoints.dynamodb,
      credentials: { accessKeyId: "local", secretAccessKey: "local" },
    });
    try {
      await ensureTable(clients.ddb, TABLE_NAME, join(dataDir, "dynamodb"));
      return { ctx: contextOf(TABLE_NAME, clients), close: async () => clients.ddb.destroy() };
    } catch (error) {
      clients.ddb.destroy();
      if (error instanceof TableLayoutError) throw error;
      // otherwise a stale file from a runtime that did not stop cleanly
    }
  }
  const dynamo = await startDynamo({ path: join(dataDir, "dynamodb") });
  const clients = createClients({
    region: "us-east-1",
    dynamodbEndpoint: dynamo.endpoint,
    credentials: { accessKeyId: "local", secretAccessKey: "local" },
  });
  try {
    await ensureTable(clients.ddb, TABLE_NAME, join(dataDir, "dynamodb"));
  } catch (error) {
    clients.ddb.destroy();
    await dynamo.stop();
    throw error;
  }
  return {
    ctx: contextOf(TABLE_NAME, clients),
    close: async () => {
      clients.ddb.destroy();
      await dynamo.stop();
    },
  };
}

function contextOf(tableName: string, clients: ReturnType<typeof createClients>): Context {
  return {
    tableName,
    queuePrefix: "",
    builtinQueues: {},
    ddb: clients.ddb,
    sqs: clients.sqs,
    secrets: secretsManager(clients.secretsClient),
    settings: DEFAULT_SETTINGS,
    now: () => new Date(),
  };
}

export async function run(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      name: { type: "string" },
      role: { type: "string" },
      agent: { type: "string" },
      expires: { type: "string" },
      file: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  const command = positionals.slice(0, 2).join(" ");
  if (
    values.help ||
    !["keys create", "backup export"].includes(command) ||
    (command === "backup export" && !values.file)
  ) {
    process.stdout.write(`${USAGE}\n`);
    return values.help ? 0 : 2;
  }
  const target = env.NEXUS_TABLE
    ? (() => {
        const clients = createClients();
        return { ctx: contextOf(env.NEXUS_TABLE, clients), close: async () => clients.ddb.destroy() };
      })()
    : await localTarget(resolve(env.NEXUS_DATA_DIR ?? ".nexus"));
  try {
    if (command === "backup export") return await exportTable(target.ctx, values.file ?? "", env);
    const { key, token } = await Keys.create(
      target.ctx,
      {
        name: values.name,
        role: values.role,
        ...(values.agent ? { agentId: values.agent } : {}),
        ...(values.expires ? { expiresAt: values.expires } : {}),
      },
      "cli",
    );
    process.stdout.write(`${JSON.stringify({ ...key, key: token }, null, 2)}\n`);
    process.stderr.write("The key is shown once: store it now. Send it as Authorization: Bearer <key>.\n");
    return 0;
  } catch (error) {
    const detail = (error as { details?: unknown }).details;
    process.stderr.write(`error: ${(error as Error).message}${detail ? ` ${JSON.stringify(detail)}` : ""}\n`);
    return 1;
  } finally {
    await target.close();
  }
}

/**
 * The whole table into a backup file, page after page, as `GET /v1/backup/export` writes it (the same code), with the
 * payload objects from NEXUS_PAYLOADS (the payloads bucket) in AWS, or the data directory's locally.
 */
async function exportTable(ctx: Context, file: string, env: NodeJS.ProcessEnv): Promise<number> {
  if (existsSync(file)) throw new Error(`${file} exists: choose another file`);
  const payloads = env.NEXUS_PAYLOADS
    ? s3ObjectStore({ bucket: env.NEXUS_PAYLOADS })
    : env.NEXUS_TABLE
      ? undefined
      : fileObjectStore({ dir: join(resolve(env.NEXUS_DATA_DIR ?? ".nexus"), "payloads") });
  const source: Context = { ...ctx, ...(payloads ? { payloads } : {}) };
  writeFileSync(file, "");
  let cursor: string | undefined;
  let lines = 0;
  do {
    const page = await Backup.exportPage(source, cursor);
    appendFileSync(file, page.lines.map((line) => `${line}\n`).join(""));
    lines += page.lines.length;
    process.stderr.write(`${lines} lines\n`);
    cursor = page.nextCursor ?? undefined;
  } while (cursor);
  process.stdout.write(`${JSON.stringify({ file, lines })}\n`);
  return 0;
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(import.meta.filename)) {
  run(process.argv.slice(2)).then((code) => process.exit(code));
}
