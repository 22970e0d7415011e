/**
 * What Nexus uses of the S3 SDK, imported on first use (objects.ts). A module behind `import()` keeps all its exports:
 * a client's whole module keeps its every command, waiter and paginator. And esbuild's code splitting places a whole
 * file by the entry points its importers reach it from, so a file kept for a chunk read on first use lands in what a
 * cold start reads as soon as the handler's own imports reach it too, as they do through the SDK's shared index modules
 * (`@smithy/core/client` holds the waiters' code). Naming only what Nexus calls keeps the waiters out of every cold
 * start (tests/stacks/bundling.test.ts), and the other commands (with their schemas) out of the chunk read on first
 * use. What the S3 client itself needs (its XML protocol, checksum streams) comes in that way still, through
 * `@aws-sdk/core/protocols` and `@smithy/core/serde`, which the DynamoDB and SQS clients import.
 */
export { GetObjectCommand, NoSuchKey, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
