import { Logger } from "@aws-lambda-powertools/logger";
import { builtinSpecs } from "@nexus/agents/specs";
import { createApp } from "@nexus/api";
import { contextFromEnv } from "@nexus/core";
import { handle } from "hono/aws-lambda";

const logger = new Logger({ serviceName: "nexus-api" });

/** The HTTP API: the Hono app behind API Gateway (HTTP API, payload v2). */
export const handler = handle(createApp({ ctx: contextFromEnv(), logger, builtinSpecs }));
