/**
 * How each built-in agent's consumer runs: in AWS its Lambda function and SQS event source mapping (stacks/agents.ts),
 * locally its queue poller (packages/local/src/runtime.ts). Both read the one setting, `NEXUS_AGENT_SCALING`, with
 * {@link agentScaling}, so a laptop runs an agent with the concurrency, batches and timeout it gets in AWS.
 * Light on purpose (zod only): the stack imports it.
 */
import { pure } from "@nexus/core/pure";
import * as z from "zod";

/** The variable both the stack (at synth time) and `npm run dev` (at start) read. */
export const SCALING_VARIABLE = "NEXUS_AGENT_SCALING";

export interface AgentScaling {
  /** Batches handled at once: the event source mapping's MaximumConcurrency (2 to 1,000), the poller's slots. */
  readonly maxConcurrency: number;
  /** Messages per invocation (1 to 10,000; over 10 needs a batching window). */
  readonly batchSize: number;
  /** How long to gather a batch before invoking, seconds (0 to 300). */
  readonly batchingWindowSeconds: number;
  /** Function memory, MB (128 to 10,240; AWS only). */
  readonly memorySize: number;
  /** Function timeout, seconds (1 to 900): a batch's deadline. Must cover the agent's longest action plus 5 s. */
  readonly timeoutSeconds: number;
}

/**
 * An agent with no defaults of its own (a custom agent given to the local runtime). Ten at once caps what one agent
 * takes of the account's Lambda concurrency (1,000 by default) and of its downstream services.
 */
export const DEFAULT_SCALING: AgentScaling = {
  maxConcurrency: 10,
  batchSize: 10,
  batchingWindowSeconds: 0,
  memorySize: 512,
  timeoutSeconds: 60,
};

/** Each built-in agent's defaults: why each differs from {@link DEFAULT_SCALING} is said beside it. */
export const BUILTIN_SCALING: Readonly<Record<string, AgentScaling>> = {
  diag: DEFAULT_SCALING,
  // SES sends 14 emails a second in a new production account (1 in the sandbox), Twilio 1 SMS a second per number:
  // two batches of ten at once stay near those limits; throttling is retried.
  comms: { ...DEFAULT_SCALING, maxConcurrency: 2 },
  ops: DEFAULT_SCALING,
  // One headless Chromium per task, one task per invocation, each with 2 GB: five browsers at once.
  research: { maxConcurrency: 5, batchSize: 1, batchingWindowSeconds: 0, memorySize: 2048, timeoutSeconds: 120 },
  // The planner may call an LLM, whose provider limits requests per minute.
  strategy: { ...DEFAULT_SCALING, maxConcurrency: 5 },
};

const ScalingOverride = /* @__PURE__ */ pure(() =>
  z.strictObject({
    maxConcurrency: z.int().min(2).max(1000).optional(),
    batchSize: z.int().min(1).max(10_000).optional(),
    batchingWindowSeconds: z.int().min(0).max(300).optional(),
    memorySize: z.int().min(128).max(10_240).optional(),
    timeoutSeconds: z.int().min(1).max(900).optional(),
  }),
);
export type ScalingOverride = z.output<typeof ScalingOverride>;

const ScalingSetting = /* @__PURE__ */ pure(() => z.record(z.string(), ScalingOverride));

/**
 * Each agent's scaling: its defaults ({@link BUILTIN_SCALING}, else {@link DEFAULT_SCALING}) with what the setting
 * says for it. `setting` is the JSON of `NEXUS_AGENT_SCALING`, e.g. `{"research": {"maxConcurrency": 20}}`; unset,
 * empty or blank → the defaults. Throws, naming the variable and the field, for text that is not JSON, an unknown agent
 * or field, a value out of range, or a batch over 10 without a batching window (Lambda refuses it).
 */
export function agentScaling(setting: string | undefined, agentIds: readonly string[]): Record<string, AgentScaling> {
  const fail = (what: string): never => {
    throw new Error(`${SCALING_VARIABLE} is not valid (${what}), got ${JSON.stringify(setting)}`);
  };
  let overrides: Record<string, ScalingOverride> = {};
  const text = setting?.trim();
  if (text) {
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      fail("must be JSON");
    }
    const parsed = ScalingSetting.safeParse(json);
    if (!parsed.success) {
      const [issue] = parsed.error.issues as [z.core.$ZodIssue];
      fail(`${issue.path.map(String).join(".") || "(root)"}: ${issue.message}`);
    } else {
      overrides = parsed.data;
    }
  }
  for (const id of Object.keys(overrides)) {
    if (!agentIds.includes(id)) fail(`${id}: no such built-in agent; one of ${agentIds.join(", ")}`);
  }
  return Object.fromEntries(
    agentIds.map((id) => {
      const scaling: AgentScaling = { ...(BUILTIN_SCALING[id] ?? DEFAULT_SCALING), ...overrides[id] };
      if (scaling.batchSize > 10 && scaling.batchingWindowSeconds < 1) {
        fail(`${id}.batchSize: over 10 needs batchingWindowSeconds of 1 or more`);
      }
      return [id, scaling];
    }),
  );
}

/**
 * How long a message stays invisible once received: AWS's guidance for SQS event sources, six times the function
 * timeout plus the batching window, so a batch still running is never handed to another invocation.
 */
export const visibilityTimeoutSeconds = ({ timeoutSeconds, batchingWindowSeconds }: AgentScaling) =>
  6 * timeoutSeconds + batchingWindowSeconds;
