/** Baseline of the API: bare Hono on Lambda with the DynamoDB and SQS clients, each instantiated. */
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { SQSClient } from "@aws-sdk/client-sqs";
import { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import { Hono } from "hono";
import { handle } from "hono/aws-lambda";

const ddb = DynamoDBDocumentClient.from(new DynamoDBClient({}));
const sqs = new SQSClient({});
const app = new Hono();
app.get("/v1/health", (c) => c.json({ status: "ok", clients: [typeof ddb.send, typeof sqs.send] }));
export const handler = handle(app);
