/**
 * Baseline of strategy: the bare consumer; Bedrock is imported on first use, as the agent asks an LLM only for goals
 * its rules do not plan.
 */
import { consumer } from "./consumer.js";

export const handler = consumer(async (params) => {
  const { BedrockRuntimeClient, ConverseCommand } = await import("@aws-sdk/client-bedrock-runtime");
  return new BedrockRuntimeClient({}).send(
    new ConverseCommand({
      modelId: process.env.NEXUS_PLANNER_MODEL,
      messages: [{ role: "user", content: [{ text: String(params.goal) }] }],
    }),
  );
});
