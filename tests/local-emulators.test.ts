import { mkdtempSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  CreateTableCommand,
  DynamoDBClient,
  PutItemCommand,
  QueryCommand,
  UpdateItemCommand,
} from "@aws-sdk/client-dynamodb";
import {
  CreateQueueCommand,
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
  SQSClient,
} from "@aws-sdk/client-sqs";
import { untilActive } from "@nexus/core";
import { startDynamo, startSqs } from "@nexus/local";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

/**
 * The local DynamoDB as the runtime starts it: dynalite on disk, with its writes made atomic and its iterators
 * closed. Both are watched at LevelDB's own interface (abstract-level, which dynalite's store is built on).
 */
// Resolved from dynalite, so it is the very module its LevelDB store is made from.
const require = createRequire(createRequire(import.meta.url).resolve("dynalite"));
const { AbstractLevel } = require("abstract-level") as {
  AbstractLevel: { prototype: Record<string, (...args: unknown[]) => unknown> };
};

const seen = { opened: 0, closed: 0, batches: [] as Array<Array<{ type: string; key: string }>> };
const originals = { values: AbstractLevel.prototype.values, batch: AbstractLevel.prototype.batch };
let dir = "";
let dynamo: Awaited<ReturnType<typeof startDynamo>>;
let client: DynamoDBClient;

beforeAll(async () => {
  AbstractLevel.prototype.values = function (this: unknown, ...args: unknown[]) {
    const iterator = originals.values?.apply(this, args) as { close: (...a: unknown[]) => Promise<void> };
    seen.opened++;
    const close = iterator.close.bind(iterator);
    let done = false;
    iterator.close = (...a: unknown[]) => {
      if (!done) seen.closed++;
      done = true;
      return close(...a);
    };
    return iterator;
  };
  AbstractLevel.prototype.batch = function (this: unknown, ...args: unknown[]) {
    if (Array.isArray(args[0])) seen.batches.push(args[0] as Array<{ type: string; key: string }>);
    return originals.batch?.apply(this, args);
  };
  dir = mkdtempSync(join(tmpdir(), "nexus-dynalite-"));
  dynamo = await startDynamo({ path: dir });
  client = new DynamoDBClient({
    endpoint: dynamo.endpoint,
    region: "us-east-1",
    credentials: { accessKeyId: "local", secretAccessKey: "local" },
  });
  const S = "S" as const;
  await client.send(
    new CreateTableCommand({
      TableName: "emulator-test",
      BillingMode: "PAY_PER_REQUEST",
      AttributeDefinitions: ["PK", "SK", "GPK", "GSK"].map((AttributeName) => ({ AttributeName, AttributeType: S })),
      KeySchema: [
        { AttributeName: "PK", KeyType: "HASH" },
        { AttributeName: "SK", KeyType: "RANGE" },
      ],
      GlobalSecondaryIndexes: [
        {
          IndexName: "BY_STATUS",
          KeySchema: [
            { AttributeName: "GPK", KeyType: "HASH" },
            { AttributeName: "GSK", KeyType: "RANGE" },
          ],
          Projection: { ProjectionType: "ALL" },
        },
      ],
    }),
  );
  await untilActive(client, "emulator-test");
});

afterAll(async () => {
  client?.destroy();
  await dynamo?.stop();
  if (originals.values) AbstractLevel.prototype.values = originals.values;
  if (originals.batch) AbstractLevel.prototype.batch = originals.batch;
  rmSync(dir, { recursive: true, force: true });
});

const put = (i: number, status: string) =>
  client.send(
    new PutItemCommand({
      TableName: "emulator-test",
      Item: { PK: { S: `T#${i}` }, SK: { S: "T" }, GPK: { S: status }, GSK: { S: String(i).padStart(6, "0") } },
    }),
  );

describe("the local DynamoDB", () => {
  it("writes an item and its index entries in one batch, a status change (index delete and put) included", async () => {
    await put(1, "queued");
    seen.batches.length = 0;
    await client.send(
      new UpdateItemCommand({
        TableName: "emulator-test",
        Key: { PK: { S: "T#1" }, SK: { S: "T" } },
        UpdateExpression: "SET GPK = :s",
        ExpressionAttributeValues: { ":s": { S: "running" } },
      }),
    );
    const batch = seen.batches.find((ops) => ops.some((op) => op.key.startsWith("item-emulator-test~")));
    expect(batch?.map((op) => `${op.type} ${op.key.split("~")[0]}`).sort()).toEqual([
      "del index-global",
      "put index-global",
      "put item-emulator-test",
    ]);
  });

  it("closes every iterator a request opened, however early the request stopped reading", async () => {
    for (let i = 10; i < 200; i++) await put(i, "queued");
    const before = { ...seen };
    for (let i = 0; i < 50; i++) {
      await client.send(
        new QueryCommand({
          TableName: "emulator-test",
          IndexName: "BY_STATUS",
          KeyConditionExpression: "GPK = :s",
          ExpressionAttributeValues: { ":s": { S: "queued" } },
          Limit: 5,
          ScanIndexForward: false,
        }),
      );
    }
    await new Promise((r) => setTimeout(r, 50)); // closing is asynchronous
    expect(seen.opened - before.opened).toBe(50);
    expect(seen.closed - before.closed).toBe(50);
  });
});

describe("the local SQS", () => {
  it("counts as SQS does: a message being worked on is not visible, and not also available", async () => {
    const sqs = await startSqs();
    const client = new SQSClient({
      endpoint: sqs.endpoint,
      region: "us-east-1",
      credentials: { accessKeyId: "local", secretAccessKey: "local" },
    });
    try {
      const { QueueUrl } = await client.send(new CreateQueueCommand({ QueueName: "counted" }));
      const counts = async () => {
        const { Attributes = {} } = await client.send(
          new GetQueueAttributesCommand({
            QueueUrl,
            AttributeNames: ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
          }),
        );
        return [
          Number(Attributes.ApproximateNumberOfMessages),
          Number(Attributes.ApproximateNumberOfMessagesNotVisible),
        ];
      };
      for (const body of ["a", "b"]) await client.send(new SendMessageCommand({ QueueUrl, MessageBody: body }));
      expect(await counts()).toEqual([2, 0]);
      const { Messages = [] } = await client.send(new ReceiveMessageCommand({ QueueUrl, MaxNumberOfMessages: 1 }));
      expect(Messages).toHaveLength(1);
      expect(await counts()).toEqual([1, 1]);
      await client.send(new DeleteMessageCommand({ QueueUrl, ReceiptHandle: Messages[0]?.ReceiptHandle }));
      expect(await counts()).toEqual([1, 0]);
    } finally {
      client.destroy();
      await sqs.stop();
    }
  });
});
