/**
 * Task payloads: params and results over 32 KB, kept out of the table (packages/core/src/payloads.ts). One private
 * bucket; each function that reads or writes them is given its name and exactly the actions it needs, under the
 * `tasks/` prefix.
 */
import type { Stack } from "aws-cdk-lib";
import * as iam from "aws-cdk-lib/aws-iam";
import { NagSuppressions } from "cdk-nag";
import type { Function as SstFunction } from "sst/constructs";
import { privateBucket } from "./buckets.js";
import { escapeRegex } from "./settings.js";

/** Key prefix of every payload: `tasks/<taskId>/params-<sha256>.json`, `tasks/<taskId>/result-<attempt>-<sha256>.json`. */
export const PAYLOADS_PREFIX = "tasks/";

export type PayloadAction = "s3:GetObject" | "s3:PutObject";

export function addPayloads(stack: Stack, { ephemeral }: { ephemeral: boolean }) {
  // Kept as long as the tasks that reference them (no expiration); retained unless the stage is ephemeral.
  const bucket = privateBucket(stack, "Payloads", {
    ephemeral,
    holds:
      "Holds only task params and results over 32 KB, written and read by the Nexus functions' roles and downloaded through 5-minute presigned URLs the API hands to callers with a valid key.",
  });
  const objects = bucket.arnForObjects(`${PAYLOADS_PREFIX}*`);
  /** Gives `fn` the bucket's name and `actions` on payload objects only. */
  const grantPayloads = (fn: SstFunction, ...actions: PayloadAction[]) => {
    fn.addEnvironment("NEXUS_PAYLOADS", bucket.bucketName);
    fn.addToRolePolicy(new iam.PolicyStatement({ actions, resources: [objects] }));
    NagSuppressions.addResourceSuppressions(
      fn.role ?? fn,
      [
        {
          id: "AwsSolutions-IAM5",
          reason: `Payload objects are named per task at runtime (${PAYLOADS_PREFIX}<taskId>/…), so the role may ${actions.join(" and ")} objects under that prefix of the payloads bucket only.`,
          appliesTo: [{ regex: `/^Resource::<Payloads[0-9A-F]{8}\\.Arn>\\/${escapeRegex(`${PAYLOADS_PREFIX}*`)}$/` }],
        },
      ],
      true,
    );
  };
  return { payloadsBucket: bucket, grantPayloads };
}
