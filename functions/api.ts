import { Logger } from "@aws-lambda-powertools/logger";
import { builtinSpecs } from "@nexus/agents/specs";
import { createPlanner } from "@nexus/agents/strategy";
import { createApp } from "@nexus/api";
import { contextFromEnv } from "@nexus/core";
import { handle } from "hono/aws-lambda";

const logger = new Logger({ serviceName: "nexus-api" });
const ctx = contextFromEnv();

/** The HTTP API: the Hono app behind API Gateway (HTTP API, payload v2); goals are planned in-process. */
export const handler = handle(
  createApp({
    ctx,
    logger,
    builtinSpecs,
    planner: createPlanner({ config: process.env, secrets: ctx.secrets, logger }),
  }),
);
