/**
 * The single DynamoDB table, designed from the access patterns. Every item and index key is built here; each
 * entity's items are read and written by its store in this folder (`agents.ts`, `tasks.ts`, …) and nowhere else.
 *
 * | entity      | access pattern                            | key                                                          |
 * |-------------|-------------------------------------------|--------------------------------------------------------------|
 * | agent       | get an agent (with its heartbeat, health) | PK=AGENT#<id>                  SK=AGENT                      |
 * |             | list agents by name                       | GSI1 PK=AGENTS                 SK=<name, lower case>         |
 * | task        | get a task (its events are on the item)   | PK=TASK#<id>                   SK=TASK                       |
 * |             | list tasks, newest first                  | GSI1 PK=TASKS                  SK=<taskId> (time-sortable)   |
 * |             | list tasks of an agent, newest first      | GSI2 PK=TASKS#A#<agent>        SK=<taskId>                   |
 * |             | list tasks by status, newest first        | GSI3 PK=TASKS#S#<status>       SK=<taskId>                   |
 * |             | list tasks by agent and status            | GSI4 PK=TASKS#A#<agent>#S#<status> SK=<taskId>               |
 * | idempotency | idempotency key → task                    | PK=IDEMPOTENCY#<key>           SK=IDEMPOTENCY                |
 * | api key     | get a key (with its hash)                 | PK=KEY#<id>                    SK=KEY                        |
 * |             | list keys, newest first                   | GSI1 PK=KEYS                   SK=<createdAt>#<id>           |
 * | audit       | one request's record                      | PK=AUDIT#<id>                  SK=AUDIT                      |
 * |             | a count of refused requests (401, 429)    | PK=AUDIT#COUNT#<status>#<minute>#<source>#<key> SK=AUDIT     |
 * |             | list records and counts, newest first     | GSI1 PK=AUDIT                  SK=<id>                       |
 * | failure     | get a failure                             | PK=FAILURE#<id>                SK=FAILURE                    |
 * |             | list failures by status, newest first     | GSI1 PK=FAILURES#<status>      SK=<failedAt>#<id>            |
 * |             | list by agent and status, newest first    | GSI2 PK=FAILURES#A#<agent>#<status> SK=<failedAt>#<id>       |
 * | plan        | a plan and its steps (one Query)          | PK=PLAN#<id>                   SK=PLAN | STEP#<stepId>       |
 * |             | list plans, newest first                  | GSI1 PK=PLANS                  SK=<id>                       |
 * |             | list plans by status, newest first        | GSI3 PK=PLANS#S#<status>       SK=<id>                       |
 * | schedule    | get a schedule; its runs (one Query)      | PK=SCHEDULE#<id>  SK=SCHEDULE | RUN#<scheduledAt>[#<kind>]   |
 * |             | schedule name is unique (guard item)      | PK=SCHEDULENAME#<name, lower case> SK=SCHEDULENAME           |
 * |             | list schedules by name                    | GSI1 PK=SCHEDULES              SK=<name, lower case>#<id>    |
 * |             | due schedules (enabled ones only)         | GSI3 PK=SCHEDULES#DUE          SK=<nextRunAt>#<id>           |
 * | counter     | requests of a key in one minute           | PK=RATE#<keyId>#<minute>       SK=COUNTER                    |
 * |             | tasks of a capped action in one UTC day   | PK=CAP#<agent>.<action>#<day>  SK=COUNTER                    |
 *
 * Every write is a single-item (conditional) write: no transactions. Batches (BatchWriteItem, BatchGetItem) only
 * put new items and read by key. Counters, schedule runs and deleted schedules carry `expiresAt` (DynamoDB TTL).
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

/** The index partitions that lists Query (GSI partition key values). */
export const partitions = {
  agents: "AGENTS",
  apiKeys: "KEYS",
  audit: "AUDIT",
  failures: (status: string) => `FAILURES#${status}`,
  failuresOfAgent: (agentId: string, status: string) => `FAILURES#A#${agentId}#${status}`,
  plans: "PLANS",
  plansIn: (status: string) => `PLANS#S#${status}`,
  schedules: "SCHEDULES",
  schedulesDue: "SCHEDULES#DUE",
  tasks: "TASKS",
  tasksOfAgent: (agentId: string) => `TASKS#A#${agentId}`,
  tasksIn: (status: string) => `TASKS#S#${status}`,
  tasksOfAgentIn: (agentId: string, status: string) => `TASKS#A#${agentId}#S#${status}`,
} as const;

/** Item keys (`PK`, `SK`) and index keys (`GSI<n>PK`, `GSI<n>SK`) of every item, by entity. */
export const keys = {
  agent: (id: string) => ({ PK: `AGENT#${id}`, SK: "AGENT" }),
  agentIndexes: (name: string) => ({ GSI1PK: partitions.agents, GSI1SK: name.toLowerCase() }),

  task: (id: string) => ({ PK: `TASK#${id}`, SK: "TASK" }),
  taskIndexes: (taskId: string, agentId: string, status: string) => ({
    GSI1PK: partitions.tasks,
    GSI1SK: taskId,
    GSI2PK: partitions.tasksOfAgent(agentId),
    GSI2SK: taskId,
    GSI3PK: partitions.tasksIn(status),
    GSI3SK: taskId,
    GSI4PK: partitions.tasksOfAgentIn(agentId, status),
    GSI4SK: taskId,
  }),
  idempotency: (key: string) => ({ PK: `IDEMPOTENCY#${key}`, SK: "IDEMPOTENCY" }),

  apiKey: (id: string) => ({ PK: `KEY#${id}`, SK: "KEY" }),
  apiKeyIndexes: (id: string, createdAt: string) => ({ GSI1PK: partitions.apiKeys, GSI1SK: `${createdAt}#${id}` }),

  audit: (id: string) => ({ PK: `AUDIT#${id}`, SK: "AUDIT" }),
  auditCount: (count: string) => ({ PK: `AUDIT#COUNT#${count}`, SK: "AUDIT" }),
  auditIndexes: (id: string) => ({ GSI1PK: partitions.audit, GSI1SK: id }),

  failure: (id: string) => ({ PK: `FAILURE#${id}`, SK: "FAILURE" }),
  failureIndexes: (failure: { id: string; agentId: string; failedAt: string }, status: string) => ({
    GSI1PK: partitions.failures(status),
    GSI1SK: `${failure.failedAt}#${failure.id}`,
    GSI2PK: partitions.failuresOfAgent(failure.agentId, status),
    GSI2SK: `${failure.failedAt}#${failure.id}`,
  }),

  plan: (id: string) => ({ PK: `PLAN#${id}`, SK: "PLAN" }),
  planStep: (planId: string, stepId: string) => ({ PK: `PLAN#${planId}`, SK: `STEP#${stepId}` }),
  planIndexes: (id: string, status: string) => ({
    GSI1PK: partitions.plans,
    GSI1SK: id,
    GSI3PK: partitions.plansIn(status),
    GSI3SK: id,
  }),

  schedule: (id: string) => ({ PK: `SCHEDULE#${id}`, SK: "SCHEDULE" }),
  scheduleRun: (id: string, key: string) => ({ PK: `SCHEDULE#${id}`, SK: `RUN#${key}` }),
  scheduleName: (name: string) => ({ PK: `SCHEDULENAME#${name.toLowerCase()}`, SK: "SCHEDULENAME" }),
  scheduleIndexes: (name: string, id: string) => ({
    GSI1PK: partitions.schedules,
    GSI1SK: `${name.toLowerCase()}#${id}`,
  }),
  scheduleDue: (nextRunAt: string, id: string) => ({ GSI3PK: partitions.schedulesDue, GSI3SK: `${nextRunAt}#${id}` }),

  rateCounter: (keyId: string, minute: number) => ({ PK: `RATE#${keyId}#${minute}`, SK: "COUNTER" }),
  capCounter: (name: string, day: string) => ({ PK: `CAP#${name}#${day}`, SK: "COUNTER" }),
} as const;
