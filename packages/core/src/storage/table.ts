/**
 * The single DynamoDB table, designed from the access patterns. Every item and index key is built here; each
 * entity's items are read and written by its store in this folder (`agents.ts`, `tasks.ts`, …) and nowhere else.
 *
 * | entity      | access pattern                            | key                                                          |
 * |-------------|-------------------------------------------|--------------------------------------------------------------|
 * | agent       | get an agent (with its heartbeat, health) | PK=AGENT#<id>                  SK=AGENT                      |
 * |             | list agents by name                       | GSI1 PK=AGENTS                 SK=<name, lower case>         |
 * | task        | get a task (its events are on the item)   | PK=TASK#<id>                   SK=TASK                       |
 * |             | list tasks, newest first                  | TASKS_ALL PK=TASKS#<shard>     SK=<taskId> (time-sortable)   |
 * |             | list tasks of an agent, newest first      | TASKS_AGENT PK=TASKS#A#<agent>#<shard>   SK=<taskId>         |
 * |             | list tasks by status, newest first        | TASKS_STATUS PK=TASKS#S#<status>#<shard> SK=<taskId> (1)     |
 * |             | list tasks by agent and status            | TASKS_AGENT_STATUS PK=TASKS#A#<agent>#S#<status>#<shard>     |
 * | idempotency | idempotency key → task                    | PK=IDEMPOTENCY#<key>           SK=IDEMPOTENCY                |
 * | api key     | get a key (with its hash)                 | PK=KEY#<id>                    SK=KEY                        |
 * |             | list keys, newest first                   | GSI1 PK=KEYS                   SK=<createdAt>#<id>           |
 * | audit       | one request's record                      | PK=AUDIT#<id>                  SK=AUDIT                      |
 * |             | a count of refused requests (401, 429)    | PK=AUDIT#COUNT#<status>#<minute>#<source>#<key> SK=AUDIT     |
 * |             | list records and counts, newest first     | GSI1 PK=AUDIT#<shard>          SK=<id>                       |
 * | failure     | get a failure                             | PK=FAILURE#<id>                SK=FAILURE                    |
 * |             | list failures by status, newest first     | GSI1 PK=FAILURES#<status>      SK=<failedAt>#<id>            |
 * |             | list by agent and status, newest first    | GSI2 PK=FAILURES#A#<agent>#<status> SK=<failedAt>#<id>       |
 * | plan        | a plan and its steps (one Query)          | PK=PLAN#<id>                   SK=PLAN | STEP#<stepId>       |
 * |             | list plans, newest first                  | GSI1 PK=PLANS#<shard>          SK=<id>                       |
 * |             | list plans by status, newest first        | GSI3 PK=PLANS#S#<status>#<shard> SK=<id>                     |
 * | schedule    | get a schedule; its runs (one Query)      | PK=SCHEDULE#<id>  SK=SCHEDULE | RUN#<scheduledAt>[#<kind>]   |
 * |             | schedule name is unique (guard item)      | PK=SCHEDULENAME#<name, lower case> SK=SCHEDULENAME           |
 * |             | list schedules by name                    | GSI1 PK=SCHEDULES              SK=<name, lower case>#<id>    |
 * |             | due schedules (enabled ones only)         | GSI3 PK=SCHEDULES#DUE          SK=<nextRunAt>#<id>           |
 * | event       | the change feed, oldest first             | PK=EVENTS#<hour>#<shard>       SK=<at>#<eventId> (TTL 24 h)  |
 * | task log    | an attempt's log lines (with the task)    | PK=TASK#<id>                   SK=LOG#<attempt>              |
 * | counter     | requests of a key in one minute           | PK=RATE#<keyId>#<minute>       SK=COUNTER                    |
 * |             | tasks of a capped action in one UTC day   | PK=CAP#<agent>.<action>#<day>  SK=COUNTER                    |
 * | sweep       | where a sweep cut short stopped           | PK=SWEEP#<tasks | plans>       SK=SWEEP                      |
 *
 * (1) Running tasks are indexed under `queued` ({@link indexedStatus}).
 *
 * Tasks have indexes of their own (`TASKS_*`, sort key `TASKS_SK` = the task id), projecting keys only: an update
 * that changes no index key writes nothing to them, and a listing reads its page's items by key (BatchGetItem).
 * Task items carry no GSI1–GSI4 keys; the other entities keep those indexes, which project all attributes.
 * A list key that every task or every mutating request writes is write-sharded: `<partition>#<shard>`, the shard
 * a stable hash of the item's id (see {@link SHARDS}); a listing queries every shard and merges (query.ts).
 *
 * Every write is a single-item (conditional) write: no transactions. Batches (BatchWriteItem, BatchGetItem) only
 * put new items and read by key. Counters, schedule runs and deleted schedules carry `expiresAt` (DynamoDB TTL).
 */
export const TABLE_KEYS = { partitionKey: "PK", sortKey: "SK" } as const;

export const GSIS = ["GSI1", "GSI2", "GSI3", "GSI4"] as const;
export type GsiName = (typeof GSIS)[number];

export const gsiKeys = (name: GsiName) => ({ partitionKey: `${name}PK`, sortKey: `${name}SK` }) as const;

/** The task listings' indexes: keys only, partition keys write-sharded, one sort key attribute (the task id). */
export const TASK_INDEXES = ["TASKS_ALL", "TASKS_AGENT", "TASKS_STATUS", "TASKS_AGENT_STATUS"] as const;
export type TaskIndexName = (typeof TASK_INDEXES)[number];
export const taskIndexKeys = (name: TaskIndexName) => ({ partitionKey: `${name}_PK`, sortKey: "TASKS_SK" }) as const;

/** Every index of the table: its name, key attributes and what it projects. */
export const INDEXES = [
  ...GSIS.map((name) => ({ name, keys: gsiKeys(name), projection: "ALL" as const })),
  ...TASK_INDEXES.map((name) => ({ name, keys: taskIndexKeys(name), projection: "KEYS_ONLY" as const })),
];

/**
 * Write shards per sharded list key. One index partition takes about 1,000 write units a second; a task's index
 * entries are under 1 KB (1 unit), and a status change is a delete and a put in the status indexes, so a status
 * partition (e.g. `queued`) takes 2 units per task. 32 shards: 10,000 tasks/s is 625 units/s per shard, and the
 * limit is 16,000 tasks/s (README, Data model). Audit: one put per mutating request. Plans: a few per plan.
 * Events: about three per task (queued, started, succeeded), each a put of a small item: 32 shards per hour.
 */
export const SHARDS = { tasks: 32, audit: 32, plans: 8, events: 32 } as const;

/** A stable shard of `id` in [0, shards): FNV-1a of its UTF-16 code units. */
export function shardOf(id: string, shards: number): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < id.length; i++) hash = Math.imul(hash ^ id.charCodeAt(i), 0x01000193);
  return (hash >>> 0) % shards;
}

/** The index partition of shard `shard` of a sharded list key. */
export const shardKey = (partition: string, shard: number) => `${partition}#${shard}`;

/** CreateTable input for the emulator (the stack declares the same shape through CDK). */
export function createTableInput(tableName: string) {
  const attributes = [
    ...new Set([TABLE_KEYS.partitionKey, TABLE_KEYS.sortKey, ...INDEXES.flatMap((i) => Object.values(i.keys))]),
  ];
  return {
    TableName: tableName,
    BillingMode: "PAY_PER_REQUEST" as const,
    AttributeDefinitions: attributes.map((AttributeName) => ({ AttributeName, AttributeType: "S" as const })),
    KeySchema: [
      { AttributeName: TABLE_KEYS.partitionKey, KeyType: "HASH" as const },
      { AttributeName: TABLE_KEYS.sortKey, KeyType: "RANGE" as const },
    ],
    GlobalSecondaryIndexes: INDEXES.map((index) => ({
      IndexName: index.name,
      KeySchema: [
        { AttributeName: index.keys.partitionKey, KeyType: "HASH" as const },
        { AttributeName: index.keys.sortKey, KeyType: "RANGE" as const },
      ],
      Projection: { ProjectionType: index.projection },
    })),
  };
}

/** The index partitions that lists Query (GSI partition key values; sharded ones without their shard). */
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
  tasksIn: (status: string) => `TASKS#S#${indexedStatus(status)}`,
  tasksOfAgentIn: (agentId: string, status: string) => `TASKS#A#${agentId}#S#${indexedStatus(status)}`,
} as const;

/**
 * The status a task is indexed under in the status indexes: a running task stays under `queued` (both are open), so
 * the claim that starts an attempt and the retry that requeues it move no index entry (each move is a delete and a
 * put in both status indexes: 4 write units). A listing of either reads that partition and keeps the tasks in the
 * status asked for (storage/tasks.ts).
 */
export const indexedStatus = (status: string) => (status === "running" ? "queued" : status);

/** Item keys (`PK`, `SK`) and index keys (`GSI<n>PK`, `GSI<n>SK`) of every item, by entity. */
export const keys = {
  agent: (id: string) => ({ PK: `AGENT#${id}`, SK: "AGENT" }),
  agentIndexes: (name: string) => ({ GSI1PK: partitions.agents, GSI1SK: name.toLowerCase() }),

  task: (id: string) => ({ PK: `TASK#${id}`, SK: "TASK" }),
  taskIndexes: (taskId: string, agentId: string, status: string) => {
    const shard = shardOf(taskId, SHARDS.tasks);
    return {
      TASKS_ALL_PK: shardKey(partitions.tasks, shard),
      TASKS_AGENT_PK: shardKey(partitions.tasksOfAgent(agentId), shard),
      TASKS_STATUS_PK: shardKey(partitions.tasksIn(status), shard),
      TASKS_AGENT_STATUS_PK: shardKey(partitions.tasksOfAgentIn(agentId, status), shard),
      TASKS_SK: taskId,
    };
  },
  idempotency: (key: string) => ({ PK: `IDEMPOTENCY#${key}`, SK: "IDEMPOTENCY" }),

  apiKey: (id: string) => ({ PK: `KEY#${id}`, SK: "KEY" }),
  apiKeyIndexes: (id: string, createdAt: string) => ({ GSI1PK: partitions.apiKeys, GSI1SK: `${createdAt}#${id}` }),

  audit: (id: string) => ({ PK: `AUDIT#${id}`, SK: "AUDIT" }),
  auditCount: (count: string) => ({ PK: `AUDIT#COUNT#${count}`, SK: "AUDIT" }),
  /** An audit item's index keys: its shard from `shardBy` (a count's shard stays put as requests add to it). */
  auditIndexes: (id: string, shardBy = id) => ({
    GSI1PK: shardKey(partitions.audit, shardOf(shardBy, SHARDS.audit)),
    GSI1SK: id,
  }),

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
    GSI1PK: shardKey(partitions.plans, shardOf(id, SHARDS.plans)),
    GSI1SK: id,
    GSI3PK: shardKey(partitions.plansIn(status), shardOf(id, SHARDS.plans)),
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

  sweepPosition: (part: string) => ({ PK: `SWEEP#${part}`, SK: "SWEEP" }),
} as const;
