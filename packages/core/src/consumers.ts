import type { LambdaClient } from "@aws-sdk/client-lambda";
import { type ClientSource, withSdk } from "./lazy.js";

/** The Lambda SDK, imported with the first call: few invocations turn a consumer on or off. */
const sdk = () => import("./sdk/lambda.js");

/**
 * Turns an agent's queue consumer on and off: in AWS the agent function's SQS event source mapping, locally
 * the runtime's poller. While off, the agent's messages wait in its queue, untouched.
 */
export interface Consumers {
  setEnabled(agentId: string, enabled: boolean): Promise<void>;
  /**
   * Whether the agent's consumer is on now; undefined when it has none here, or it is between states. The
   * sweeper compares it with the agent's status and turns it back when they differ.
   */
  enabled?(agentId: string): Promise<boolean | undefined>;
}

/** The event source mappings of the built-in agents' functions, by agent id (set by the stack). */
export function lambdaConsumers(
  mappings: Record<string, string>,
  client: ClientSource<LambdaClient> = async () => new (await sdk()).LambdaClient({}),
): Consumers {
  const loaded = withSdk(sdk, client);
  return {
    async setEnabled(agentId, enabled) {
      const uuid = mappings[agentId];
      if (!uuid) return; // a custom agent: its workers run elsewhere and ask before they take work
      const [{ UpdateEventSourceMappingCommand }, lambda] = await loaded();
      await lambda.send(new UpdateEventSourceMappingCommand({ UUID: uuid, Enabled: enabled }));
    },
    async enabled(agentId) {
      const uuid = mappings[agentId];
      if (!uuid) return undefined;
      const [{ GetEventSourceMappingCommand }, lambda] = await loaded();
      const { State: state } = await lambda.send(new GetEventSourceMappingCommand({ UUID: uuid }));
      if (state === "Enabled" || state === "Enabling") return true;
      if (state === "Disabled" || state === "Disabling") return false;
      return undefined; // Creating, Updating, Deleting: look again next time
    },
  };
}
