import { setTimeout as sleep } from "node:timers/promises";
import { ActionError, type AgentImplementation, parseParams } from "@nexus/core";
import * as Health from "@nexus/core/health";
import { diagSpec, EchoParams, FailParams, SleepParams } from "./spec.js";

export const diag: AgentImplementation = {
  spec: diagSpec,
  handlers: (env) => ({
    echo: async (params) => parseParams(EchoParams, params),
    sleep: async (params, { signal }) => {
      const { ms } = parseParams(SleepParams, params);
      await sleep(ms, undefined, { signal });
      return { sleptMs: ms };
    },
    fail: async (params, { attempt }) => {
      const { times, retriable } = parseParams(FailParams, params);
      if (attempt <= times) {
        throw new ActionError("drill_failure", `attempt ${attempt} fails on purpose (${times} to fail)`, { retriable });
      }
      return { attempt, failedBefore: times };
    },
    health: Health.healthAction(env, diagSpec.id, async () => [
      await Health.check("runtime", () => `running on Node.js ${process.version}`),
    ]),
  }),
};
