import { runningFunction } from "@nexus/local";
import { Client } from "@smithy/core/client";

/** One AWS SDK command as sent: by which function (the local runtime's invocation), to which service, with what input. */
export interface SdkCall {
  /** The function whose invocation sent it (packages/local/src/invocations.ts); undefined: the runtime's own start-up. */
  fn: string | undefined;
  /** The client, e.g. `DynamoDBClient`. */
  client: string;
  /** The command, e.g. `PutItemCommand` (a DynamoDB document client's commands are recorded as the item commands). */
  command: string;
  input: Record<string, unknown>;
}

type Stack = { add(middleware: unknown, options: { step: string; name: string; priority: string }): void };

/**
 * Records every command any AWS SDK client in this process sends, from now until the returned function is called: a
 * middleware (the initialize step, before anything else) added to each client's stack the first time it sends. Every
 * client of the product is covered, those the runtime makes and those code makes for itself (the comms agent's SES
 * client), since all of them send through this class.
 */
export function recordSdkCalls(onCall: (call: SdkCall) => void): () => void {
  const prototype = Client.prototype as unknown as { send: (...args: unknown[]) => unknown };
  const send = prototype.send;
  const stacks = new WeakSet<object>();
  prototype.send = function (this: { middlewareStack: Stack }, ...args: unknown[]) {
    const stack = this.middlewareStack;
    if (!stacks.has(stack)) {
      stacks.add(stack);
      stack.add(
        (next: (args: unknown) => Promise<unknown>, context: { clientName?: string; commandName?: string }) =>
          async (args: { input?: Record<string, unknown> }) => {
            onCall({
              fn: runningFunction(),
              client: context.clientName ?? "?",
              command: context.commandName ?? "?",
              input: args.input ?? {},
            });
            return next(args);
          },
        { step: "initialize", name: "nexusSdkCallRecorder", priority: "high" },
      );
    }
    return send.apply(this, args);
  };
  return () => {
    prototype.send = send;
  };
}
