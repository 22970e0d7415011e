/**
 * Metering of what the local runtime asks of AWS, for the bench's listing and cost phases: every request its clients
 * send (an SDK middleware on each), DynamoDB's capacity units, SQS's 64 KB chunks, and how long each agent batch ran.
 *
 * DynamoDB units: ReturnConsumedCapacity "INDEXES" is asked on every DynamoDB call. dynalite reports the table's units
 * (items' sizes, as DynamoDB rounds them), not the indexes': those are computed from the item before and after each
 * write (read through a client of the meter's own, not metered) and the index definitions the table describes, by
 * DynamoDB's rules: an index entry costs a unit per KB of what the index projects, a change of its key is a delete
 * plus a put, an update that changes nothing the index holds writes nothing to it. A read costs at least one unit
 * (half when eventually consistent), whatever it finds: dynalite reports 0 for a Query that finds nothing.
 */
import {
  type AttributeValue,
  DescribeTableCommand,
  DynamoDBClient,
  GetItemCommand,
  type GlobalSecondaryIndexDescription,
} from "@aws-sdk/client-dynamodb";
import type { SQSClient } from "@aws-sdk/client-sqs";
import type { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";

// ---- DynamoDB item sizes (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/CapacityUnitCalculations.html)

type Item = Record<string, AttributeValue>;

function numberBytes(n: string): number {
  const digits = n.replace(/^-/, "").replace(".", "").replace(/^0+/, "").replace(/0+$/, "");
  return Math.ceil(Math.max(1, digits.length) / 2) + 1;
}

function valueBytes(value: AttributeValue): number {
  if (value.S !== undefined) return Buffer.byteLength(value.S, "utf8");
  if (value.N !== undefined) return numberBytes(value.N);
  if (value.B !== undefined) return value.B.length;
  if (value.BOOL !== undefined || value.NULL !== undefined) return 1;
  if (value.L !== undefined) return 3 + value.L.reduce((sum, v) => sum + 1 + valueBytes(v), 0);
  if (value.M !== undefined)
    return 3 + Object.entries(value.M).reduce((s, [k, v]) => s + 1 + k.length + valueBytes(v), 0);
  if (value.SS !== undefined) return value.SS.reduce((sum, v) => sum + Buffer.byteLength(v, "utf8"), 0);
  if (value.NS !== undefined) return value.NS.reduce((sum, v) => sum + numberBytes(v), 0);
  return 0;
}

/** An item's size as DynamoDB bills it: attribute names plus values. */
export const itemBytes = (item: Item | undefined): number =>
  item ? Object.entries(item).reduce((sum, [name, value]) => sum + Buffer.byteLength(name) + valueBytes(value), 0) : 0;

const writeUnits = (bytes: number) => Math.max(1, Math.ceil(bytes / 1024));

interface Index {
  name: string;
  keys: string[];
  /** Attributes it holds besides the keys: all, or these. */
  projects: "ALL" | string[];
}

function indexesOf(description: GlobalSecondaryIndexDescription[] | undefined): Index[] {
  return (description ?? []).map((gsi) => ({
    name: gsi.IndexName ?? "",
    keys: (gsi.KeySchema ?? []).map((k) => k.AttributeName ?? ""),
    projects:
      gsi.Projection?.ProjectionType === "ALL"
        ? "ALL"
        : gsi.Projection?.ProjectionType === "INCLUDE"
          ? (gsi.Projection.NonKeyAttributes ?? [])
          : [],
  }));
}

/** What an index holds of an item (undefined when the item is not in it). */
function entryOf(index: Index, tableKeys: string[], item: Item | undefined): Item | undefined {
  if (!item || !index.keys.every((k) => item[k] !== undefined)) return undefined;
  if (index.projects === "ALL") return item;
  const names = [...tableKeys, ...index.keys, ...index.projects];
  return Object.fromEntries(names.filter((n) => item[n] !== undefined).map((n) => [n, item[n] as AttributeValue]));
}

const same = (a: Item, b: Item) =>
  JSON.stringify(Object.entries(a).sort()) === JSON.stringify(Object.entries(b).sort());

/** Index write units of one item change, by index name. */
function indexUnits(indexes: Index[], tableKeys: string[], before: Item | undefined, after: Item | undefined) {
  const units: Record<string, number> = {};
  for (const index of indexes) {
    const old = entryOf(index, tableKeys, before);
    const now = entryOf(index, tableKeys, after);
    let n = 0;
    if (old && now && index.keys.every((k) => same({ k: old[k] as AttributeValue }, { k: now[k] as AttributeValue }))) {
      n = same(old, now) ? 0 : writeUnits(Math.max(itemBytes(old), itemBytes(now)));
    } else {
      n = (old ? writeUnits(itemBytes(old)) : 0) + (now ? writeUnits(itemBytes(now)) : 0);
    }
    if (n > 0) units[index.name] = n;
  }
  return units;
}

/** What the DynamoDB meter has counted. */
export interface DynamoTotals {
  /** Requests by operation (GetItem, UpdateItem, …). */
  requests: Record<string, number>;
  /** Write units to the table, as dynalite reports them (a batch's items each by its own size). */
  tableWrites: number;
  /** Write units to each index, computed. */
  indexWrites: Record<string, number>;
  /** Read units (table and index reads), as dynalite reports them, at least the minimum per request. */
  reads: number;
  /** Write units (table and indexes) by item kind: the PK up to its first `#`. */
  writesByKind: Record<string, number>;
}

const WRITES = /^(PutItem|UpdateItem|DeleteItem|BatchWriteItem)$/;
const CAPACITY = /^(GetItem|PutItem|UpdateItem|DeleteItem|Query|Scan|BatchGetItem|BatchWriteItem)$/;

type Consumed = { CapacityUnits?: number; Table?: { CapacityUnits?: number } };

/**
 * Meters every request `client` sends while on: counts it, asks for ReturnConsumedCapacity "INDEXES", and adds up read
 * units and write units (table and indexes; see the module's comment).
 */
export async function meterDynamo(client: DynamoDBDocumentClient, endpoint: string, tableName: string) {
  const raw = new DynamoDBClient({
    region: "us-east-1",
    endpoint,
    credentials: { accessKeyId: "local", secretAccessKey: "local" },
  });
  const { Table } = await raw.send(new DescribeTableCommand({ TableName: tableName }));
  const tableKeys = (Table?.KeySchema ?? []).map((k) => k.AttributeName ?? "");
  const indexes = indexesOf(Table?.GlobalSecondaryIndexes);
  const empty = (): DynamoTotals => ({ requests: {}, tableWrites: 0, indexWrites: {}, reads: 0, writesByKind: {} });
  let totals = empty();
  let on = false;
  const read = async (key: Item) =>
    (await raw.send(new GetItemCommand({ TableName: tableName, Key: key, ConsistentRead: true }))).Item;
  const keyOf = (item: Item) => Object.fromEntries(tableKeys.map((k) => [k, item[k] as AttributeValue]));
  const kindOf = (key: Item) => (key.PK?.S ?? "?").split("#")[0] ?? "?";
  const add = (key: Item, table: number, before: Item | undefined, after: Item | undefined) => {
    const units = indexUnits(indexes, tableKeys, before, after);
    totals.tableWrites += table;
    const kind = kindOf(key);
    totals.writesByKind[kind] = (totals.writesByKind[kind] ?? 0) + table;
    for (const [name, n] of Object.entries(units)) {
      totals.indexWrites[name] = (totals.indexWrites[name] ?? 0) + n;
      totals.writesByKind[kind] = (totals.writesByKind[kind] ?? 0) + n;
    }
  };
  const consumedOf = (output: unknown): number => {
    const consumed = (output as { ConsumedCapacity?: Consumed | Consumed[] }).ConsumedCapacity;
    const all = Array.isArray(consumed) ? consumed : consumed ? [consumed] : [];
    return all.reduce((sum, c) => sum + (c.CapacityUnits ?? c.Table?.CapacityUnits ?? 0), 0);
  };
  // At the build step the request is serialized: its JSON body holds the marshalled input, which this edits.
  client.middlewareStack.add(
    (next) => async (args) => {
      const request = args.request as { headers?: Record<string, string>; body?: unknown };
      const name = (request.headers?.["x-amz-target"] ?? "").split(".")[1] ?? "";
      if (!on) return next(args);
      totals.requests[name] = (totals.requests[name] ?? 0) + 1;
      if (!CAPACITY.test(name)) return next(args);
      const body = request.body;
      const text = typeof body === "string" ? body : new TextDecoder().decode(body as Uint8Array);
      const input = JSON.parse(text) as Record<string, unknown>;
      input.ReturnConsumedCapacity = "INDEXES";
      const json = JSON.stringify(input);
      request.body = typeof body === "string" ? json : new TextEncoder().encode(json);
      if (request.headers?.["content-length"]) request.headers["content-length"] = String(Buffer.byteLength(json));
      if (!WRITES.test(name)) {
        const out = await next(args);
        const minimum = name === "BatchGetItem" ? 0 : input.ConsistentRead ? 1 : 0.5;
        totals.reads += Math.max(minimum, consumedOf(out.output));
        return out;
      }
      if (name === "BatchWriteItem") {
        const requests = Object.values(
          input.RequestItems as Record<string, Array<Record<string, { Item?: Item; Key?: Item }>>>,
        ).flat();
        const keys = requests.map((r) => keyOf(r.PutRequest?.Item ?? r.DeleteRequest?.Key ?? {}));
        const before = await Promise.all(keys.map(read));
        const out = await next(args);
        const after = await Promise.all(keys.map(read));
        // dynalite reports a batch's units as one figure; each item is counted by its own size here.
        for (const [i, key] of keys.entries()) {
          add(key, writeUnits(Math.max(itemBytes(before[i]), itemBytes(after[i]))), before[i], after[i]);
        }
        return out;
      }
      const key = (input.Key as Item | undefined) ?? keyOf(input.Item as Item);
      const before = await read(key);
      const out = await next(args);
      const after = await read(key);
      add(key, consumedOf(out.output), before, after);
      return out;
    },
    { step: "build", name: "benchDynamoMeter" },
  );
  return {
    start: () => {
      totals = empty();
      on = true;
    },
    /** Stops counting; what was counted since start. */
    stop: (): DynamoTotals => {
      on = false;
      return totals;
    },
    close: () => raw.destroy(),
  };
}

/** What the SQS meter has counted. */
export interface SqsTotals {
  /** Requests by operation; ReceiveMessage split into those that returned messages and the empty ones. */
  requests: Record<string, number>;
  /** Billed requests but the empty receives: each 64 KB chunk of a message sent is one. */
  billed: number;
  /** Messages received (each delivery). */
  received: number;
  /** Batches handled by a consumer: a receive that returned messages, timed from its answer to its delete. */
  batches: Array<{ messages: number; ms: number }>;
}

const CHUNK = 64 * 1024;

/**
 * Meters every request `client` sends while on, and times each batch a poller handles: from the receive that returned
 * it to the delete of its messages (what a Lambda invocation of the event source mapping would run; the mapping's own
 * delete is not part of it).
 */
export function meterSqs(client: SQSClient) {
  const empty = (): SqsTotals => ({ requests: {}, billed: 0, received: 0, batches: [] });
  let totals = empty();
  let on = false;
  /** Receipt handle → the batch it came in. */
  const pending = new Map<string, { messages: number; at: number }>();
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const input = args.input as {
        MessageBody?: string;
        Entries?: Array<{ MessageBody?: string; ReceiptHandle?: string }>;
        ReceiptHandle?: string;
      };
      const op = String(context.commandName ?? "").replace(/Command$/, "");
      const handles = input.ReceiptHandle ? [input.ReceiptHandle] : (input.Entries ?? []).map((e) => e.ReceiptHandle);
      if (op.startsWith("DeleteMessage")) {
        const batch = handles.map((h) => (h ? pending.get(h) : undefined)).find(Boolean);
        if (batch && on) totals.batches.push({ messages: batch.messages, ms: performance.now() - batch.at });
        for (const h of handles) if (h) pending.delete(h);
      }
      const out = await next(args);
      // A receive sent before the meter was on may answer after: its batch is followed all the same.
      const messages = (out.output as { Messages?: Array<{ ReceiptHandle?: string }> }).Messages ?? [];
      if (messages.length > 0) {
        const batch = { messages: messages.length, at: performance.now() };
        for (const m of messages) if (m.ReceiptHandle) pending.set(m.ReceiptHandle, batch);
      }
      if (!on) return out;
      const label = op === "ReceiveMessage" ? (messages.length > 0 ? "ReceiveMessage" : "ReceiveMessage (empty)") : op;
      totals.requests[label] = (totals.requests[label] ?? 0) + 1;
      const bodies =
        input.MessageBody !== undefined ? [input.MessageBody] : (input.Entries ?? []).map((e) => e.MessageBody);
      const sent = bodies.filter((b): b is string => b !== undefined);
      // An empty receive is the pollers' idle cost (the event source mapping's too), not any task's.
      if (label !== "ReceiveMessage (empty)") {
        totals.billed += Math.max(1, Math.ceil(sent.reduce((sum, b) => sum + Buffer.byteLength(b), 0) / CHUNK));
      }
      totals.received += messages.length;
      return out;
    },
    { step: "initialize", name: "benchSqsMeter" },
  );
  return {
    start: () => {
      totals = empty();
      on = true;
    },
    /** What was counted so far (still counting). */
    peek: (): SqsTotals => totals,
    stop: (): SqsTotals => {
      on = false;
      return totals;
    },
  };
}
