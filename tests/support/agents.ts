import { type ActionContext, type Agent, type AgentSpec, RegisterAgentInput } from "@nexus/core";

/** An agent record for a spec, as the registry holds a built-in agent. */
export function agentOf(spec: AgentSpec, overrides: Partial<Agent> = {}): Agent {
  const { id, ...rest } = spec;
  const input = RegisterAgentInput.parse({ ...rest, name: id });
  return {
    id,
    name: id,
    kind: input.kind,
    description: input.description,
    builtin: true,
    status: "active",
    actions: input.actions,
    queue: { url: `queue/${id}`, arn: `arn:${id}`, dlqUrl: `queue/${id}-dlq`, dlqArn: `arn:${id}-dlq` },
    createdAt: "2026-01-01T00:00:00.000Z",
    updatedAt: "2026-01-01T00:00:00.000Z",
    lastHeartbeatAt: null,
    ...overrides,
  };
}

/** What an action handler is called with, outside a worker: a first of three attempts, never aborted. */
export const actionContext = (taskId: string): ActionContext => ({
  taskId,
  attempt: 1,
  maxAttempts: 3,
  signal: new AbortController().signal,
});
