/** What Nexus uses of the Lambda SDK, imported on first use (consumers.ts): its waiters left out, see sdk/s3.ts. */
export { GetEventSourceMappingCommand, LambdaClient, UpdateEventSourceMappingCommand } from "@aws-sdk/client-lambda";
