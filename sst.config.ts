import { Aspects } from "aws-cdk-lib";
import { LoggingFormat, SystemLogLevel } from "aws-cdk-lib/aws-lambda";
import { AwsSolutionsChecks } from "cdk-nag";
import type { SSTConfig } from "sst";
import { GITHUB_OIDC_STAGE, GithubOidc } from "./stacks/github-oidc.js";
import { Nexus } from "./stacks/Nexus.js";
import { isEphemeralStage } from "./stacks/settings.js";

export default {
  config(globals) {
    return {
      name: "nexus",
      region: globals.region ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? "us-east-1",
    };
  },
  stacks(app) {
    // Must run before any stack is added: SST copies the app defaults into each stack when it is created.
    // Log retention is NOT set here: SST's `logRetention` makes CDK add its LogRetention custom-resource
    // Lambda (nodejs22.x, logs:*RetentionPolicy on "*"). The stack gives every function its own LogGroup
    // with a retention and a role that can write only to that group (see `nexusFunction` in stacks/functions.ts).
    app.setDefaultFunctionProps({
      runtime: "nodejs24.x",
      architecture: "arm_64",
      tracing: "active",
      loggingFormat: LoggingFormat.JSON,
      // The platform's own records at WARN: no start and report record per invocation (about 650 bytes, $0.30 per
      // million invocations of log ingestion); timeouts and crashes are still logged, and duration and memory are
      // Lambda's metrics all the same (README, Cost per task).
      systemLogLevelV2: SystemLogLevel.WARN,
    });
    // Throwaway stages (dev-*, local-*, test-*) remove everything with the stack; other stages keep CDK's
    // per-resource defaults, and the stack retains the table explicitly.
    if (isEphemeralStage(app.stage)) app.setDefaultRemovalPolicy("destroy");

    // The github-oidc stage holds only the role GitHub Actions deploys with (stacks/github-oidc.ts); every other stage
    // is a deployment of Nexus.
    if (app.stage === GITHUB_OIDC_STAGE) app.stack(GithubOidc);
    else app.stack(Nexus);

    // AWS Solutions checks; justified exceptions are suppressed next to the resource they concern
    // (stacks/*.ts), each with its reason. Results surface as error/warning annotations in the
    // cloud assembly, and tests/stacks/security.test.ts fails on any unsuppressed error.
    Aspects.of(app).add(new AwsSolutionsChecks({ verbose: true }));
  },
} satisfies SSTConfig;
