/**
 * AWS Backup of the table: a daily backup into a vault of its own, encrypted with a customer-managed KMS key, kept for
 * the configured number of days. On top of point-in-time recovery (stacks/table.ts), which covers the last 35 days to
 * the second: these are whole-table snapshots that outlive PITR's window, the table, and the stack.
 */
import { Duration, RemovalPolicy } from "aws-cdk-lib";
import * as backup from "aws-cdk-lib/aws-backup";
import type * as dynamodb from "aws-cdk-lib/aws-dynamodb";
import * as events from "aws-cdk-lib/aws-events";
import * as kms from "aws-cdk-lib/aws-kms";
import { NagSuppressions } from "cdk-nag";
import type { App, Stack } from "sst/constructs";
import { backupRetentionDays } from "./settings.js";

/** When the daily backup starts (UTC): 05:00, within an hour, done within eight. */
export const BACKUP_SCHEDULE = { hour: "5", minute: "0" } as const;

/**
 * The table's backup plan, its vault and the vault's key, named `<app>-<stage>-…`. Retained with the stack's removal:
 * recovery points are what is left when everything else is gone, and the key is what reads them.
 */
export function addBackupPlan(stack: Stack, { app, table }: { app: App; table: dynamodb.Table }) {
  const retentionDays = backupRetentionDays(process.env);
  const name = `${app.name}-${app.stage}`;
  const key = new kms.Key(stack, "BackupKey", {
    alias: `alias/${name}-backups`,
    description: `Encrypts the recovery points in the ${name}-backups vault (AWS Backup).`,
    enableKeyRotation: true,
    removalPolicy: RemovalPolicy.RETAIN,
  });
  const vault = new backup.BackupVault(stack, "BackupVault", {
    backupVaultName: `${name}-backups`,
    encryptionKey: key,
    removalPolicy: RemovalPolicy.RETAIN,
  });
  const plan = new backup.BackupPlan(stack, "BackupPlan", {
    backupPlanName: `${name}-table`,
    backupVault: vault,
    backupPlanRules: [
      new backup.BackupPlanRule({
        ruleName: "daily",
        scheduleExpression: events.Schedule.cron(BACKUP_SCHEDULE),
        startWindow: Duration.hours(1),
        completionWindow: Duration.hours(8),
        deleteAfter: Duration.days(retentionDays),
      }),
    ],
  });
  const selection = plan.addSelection("Table", { resources: [backup.BackupResource.fromDynamoDbTable(table)] });
  NagSuppressions.addResourceSuppressions(
    selection,
    [
      {
        id: "AwsSolutions-IAM4",
        reason:
          "The role AWS Backup assumes (backup.amazonaws.com only) to back up the table carries AWSBackupServiceRolePolicyForBackup, the managed policy AWS keeps in step with what its backup jobs call (DynamoDB's CreateBackup and StartAwsBackupJob, the vault key's grants).",
        appliesTo: ["Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSBackupServiceRolePolicyForBackup"],
      },
    ],
    true,
  );
  return { backupPlan: plan, backupVault: vault, backupKey: key, retentionDays };
}
