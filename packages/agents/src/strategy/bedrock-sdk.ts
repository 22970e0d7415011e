/**
 * What the planner uses of the Bedrock Runtime SDK, imported with the first request to the LLM (providers.ts): naming
 * it keeps the SDK's other commands out of that chunk (packages/core/src/sdk/s3.ts says why).
 */
export { BedrockRuntimeClient, ConverseCommand } from "@aws-sdk/client-bedrock-runtime";
