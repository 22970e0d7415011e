import { builtinSpecs } from "@nexus/agents/bundled-specs";
import { createApp } from "@nexus/api";
import { once } from "@nexus/core";
import { instrumented, lambdaContext, lambdaLogger } from "@nexus/core/lambda";
import type * as Plans from "@nexus/core/plans";
import { handle } from "hono/aws-lambda";

const logger = lambdaLogger("nexus-api");
const ctx = lambdaContext();

/** Goals are planned in-process by the strategy agent's planner, loaded with the first goal (few requests have one). */
const strategy = once(async () =>
  (await import("@nexus/agents/strategy")).createPlanner({ config: process.env, secrets: ctx.secrets, logger }),
);
const planner: Plans.Planner = { plan: async (request) => (await strategy()).plan(request) };

/** The HTTP API: the Hono app behind API Gateway (HTTP API, payload v2), which is reached over HTTPS only. */
export const handler = instrumented(logger, handle(createApp({ ctx, logger, builtinSpecs, planner, hsts: true })));
