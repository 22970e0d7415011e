import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import {
  type Context,
  createClients,
  DEFAULT_SETTINGS,
  ensureTable,
  Keys,
  secretsManager,
  TableLayoutError,
} from "@nexus/core";
import { startDynamo } from "./emulators.js";
import { RUNTIME_FILE, TABLE_NAME } from "./runtime.js";

const USAGE = `Creates an API key straight in the table, for operators who have no admin key at hand.

usage: npm run admin -- keys create --name <name> --role <admin|operator|viewer|agent> [--agent <id>] [--expires <ISO date>]

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
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help || positionals[0] !== "keys" || positionals[1] !== "create") {
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

if (process.argv[1] && resolve(process.argv[1]) === resolve(import.meta.filename)) {
  run(process.argv.slice(2)).then((code) => process.exit(code));
}
