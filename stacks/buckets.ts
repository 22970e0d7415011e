/**
 * The stack's buckets: private, TLS-only, S3-encrypted, retained unless the stage is ephemeral, with the cdk-nag
 * reason for having no access-log bucket of their own.
 */
import { Duration, RemovalPolicy, type Stack } from "aws-cdk-lib";
import * as s3 from "aws-cdk-lib/aws-s3";
import { NagSuppressions } from "cdk-nag";

export function privateBucket(
  stack: Stack,
  id: string,
  options: { ephemeral: boolean; expirationDays?: number; holds: string },
): s3.Bucket {
  const bucket = new s3.Bucket(stack, id, {
    blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
    encryption: s3.BucketEncryption.S3_MANAGED,
    enforceSSL: true,
    lifecycleRules: [
      {
        ...(options.expirationDays === undefined ? {} : { expiration: Duration.days(options.expirationDays) }),
        abortIncompleteMultipartUploadAfter: Duration.days(1),
      },
    ],
    // SST would turn auto-deletion on for ephemeral stages anyway (their default removal policy is destroy).
    removalPolicy: options.ephemeral ? RemovalPolicy.DESTROY : RemovalPolicy.RETAIN,
    autoDeleteObjects: options.ephemeral,
  });
  NagSuppressions.addResourceSuppressions(bucket, [
    {
      id: "AwsSolutions-S1",
      reason: `${options.holds} Object-level auditing is CloudTrail S3 data events (enable them on the account trail where required) rather than a second, log-holding bucket.`,
    },
  ]);
  return bucket;
}
