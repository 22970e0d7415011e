/**
 * What every bare agent baseline shares: a hand-written SQS consumer with its DynamoDB and SQS clients, nothing else.
 * Each record's task is marked done with one UpdateItem; a record the work fails on is re-sent with a delay.
 */
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { SendMessageCommand, SQSClient } from "@aws-sdk/client-sqs";
import { DynamoDBDocumentClient, UpdateCommand } from "@aws-sdk/lib-dynamodb";
import type { SQSEvent, SQSRecord } from "aws-lambda";

const ddb = DynamoDBDocumentClient.from(new DynamoDBClient({}));
const sqs = new SQSClient({});

export function consumer(work: (params: Record<string, unknown>) => Promise<unknown>) {
  return async (event: SQSEvent) => {
    const batchItemFailures: { itemIdentifier: string }[] = [];
    for (const record of event.Records) {
      try {
        await run(record, work);
      } catch {
        batchItemFailures.push({ itemIdentifier: record.messageId });
      }
    }
    return { batchItemFailures };
  };
}

async function run(record: SQSRecord, work: (params: Record<string, unknown>) => Promise<unknown>) {
  const { taskId, params } = JSON.parse(record.body) as { taskId: string; params: Record<string, unknown> };
  try {
    const result = await work(params);
    await ddb.send(
      new UpdateCommand({
        TableName: process.env.NEXUS_TABLE,
        Key: { PK: `TASK#${taskId}`, SK: "TASK" },
        UpdateExpression: "SET #s = :s, #r = :r",
        ExpressionAttributeNames: { "#s": "status", "#r": "result" },
        ExpressionAttributeValues: { ":s": "succeeded", ":r": result },
      }),
    );
  } catch {
    await sqs.send(
      new SendMessageCommand({ QueueUrl: record.eventSourceARN, MessageBody: record.body, DelaySeconds: 2 }),
    );
  }
}
