/**
 * The single DynamoDB table, designed from the access patterns:
 *
 * | access pattern                         | key                                                    |
 * |----------------------------------------|--------------------------------------------------------|
 * | get agent                              | PK=AGENT#<id>            SK=AGENT                      |
 * | agent name is unique                   | PK=AGENTNAME#<name>      SK=AGENTNAME (guard item)     |
 * | list agents by name                    | GSI1 PK=AGENTS           SK=<name>                     |
 * | get task + its events (one Query)      | PK=TASK#<id>             SK=TASK | EVENT#<time>#<seq>  |
 * | list tasks, newest first               | GSI1 PK=TASKS            SK=<taskId> (time-sortable)   |
 * | list tasks of an agent, newest first   | GSI2 PK=TASKS#A#<agent>  SK=<taskId>                   |
 * | list tasks by status, newest first     | GSI3 PK=TASKS#S#<status> SK=<taskId>                   |
 * | list tasks by agent and status         | GSI4 PK=TASKS#A#<agent>#S#<status> SK=<taskId>         |
 * | idempotency key → task                 | PK=IDEMPOTENCY#<key>     SK=IDEMPOTENCY                |
 *
 * Every write is a single-item (conditional) write: no transactions.
 */
export const TABLE_KEYS = { partitionKey: "PK", sortKey: "SK" } as const;

export const GSIS = ["GSI1", "GSI2", "GSI3", "GSI4"] as const;
export type GsiName = (typeof GSIS)[number];

export const gsiKeys = (name: GsiName) => ({ partitionKey: `${name}PK`, sortKey: `${name}SK` }) as const;

/** CreateTable input for the emulator (the stack declares the same shape through CDK). */
export function createTableInput(tableName: string) {
  const attributes = [TABLE_KEYS.partitionKey, TABLE_KEYS.sortKey, ...GSIS.flatMap((g) => Object.values(gsiKeys(g)))];
  return {
    TableName: tableName,
    BillingMode: "PAY_PER_REQUEST" as const,
    AttributeDefinitions: attributes.map((AttributeName) => ({ AttributeName, AttributeType: "S" as const })),
    KeySchema: [
      { AttributeName: TABLE_KEYS.partitionKey, KeyType: "HASH" as const },
      { AttributeName: TABLE_KEYS.sortKey, KeyType: "RANGE" as const },
    ],
    GlobalSecondaryIndexes: GSIS.map((g) => ({
      IndexName: g,
      KeySchema: [
        { AttributeName: gsiKeys(g).partitionKey, KeyType: "HASH" as const },
        { AttributeName: gsiKeys(g).sortKey, KeyType: "RANGE" as const },
      ],
      Projection: { ProjectionType: "ALL" as const },
    })),
  };
}

export const keys = {
  agent: (id: string) => ({ PK: `AGENT#${id}`, SK: "AGENT" }),
  agentName: (name: string) => ({ PK: `AGENTNAME#${name.toLowerCase()}`, SK: "AGENTNAME" }),
  task: (id: string) => ({ PK: `TASK#${id}`, SK: "TASK" }),
  taskEvent: (taskId: string, at: string, seq: string) => ({ PK: `TASK#${taskId}`, SK: `EVENT#${at}#${seq}` }),
  idempotency: (key: string) => ({ PK: `IDEMPOTENCY#${key}`, SK: "IDEMPOTENCY" }),
  agentsIndex: (name: string) => ({ GSI1PK: "AGENTS", GSI1SK: name.toLowerCase() }),
  taskIndexes: (taskId: string, agentId: string, status: string) => ({
    GSI1PK: "TASKS",
    GSI1SK: taskId,
    GSI2PK: `TASKS#A#${agentId}`,
    GSI2SK: taskId,
    GSI3PK: `TASKS#S#${status}`,
    GSI3SK: taskId,
    GSI4PK: `TASKS#A#${agentId}#S#${status}`,
    GSI4SK: taskId,
  }),
} as const;
