/**
 * AWS Backup of the table (stacks/backup-plan.ts): a daily rule into an encrypted vault of its own, retention from the
 * deploying shell, the table selected by ARN, all of it kept when the stack goes.
 */
import { describe, expect, it } from "vitest";
import { BACKUP_SCHEDULE } from "../../stacks/backup-plan.js";
import { backupRetentionDays, DEFAULT_BACKUP_RETENTION_DAYS } from "../../stacks/settings.js";
import {
  APP_NAME,
  asArray,
  type CfnResource,
  obj,
  ofType,
  outputs,
  props,
  refOf,
  resources,
  STAGE,
  synthesizeApp,
} from "./synth.js";

synthesizeApp();

const only = (type: string): [string, CfnResource] => {
  const found = ofType(type);
  expect(found, type).toHaveLength(1);
  return found[0] as [string, CfnResource];
};

describe("AWS Backup of the table", () => {
  it("backs the table up daily into its own vault, kept for the default retention", () => {
    const [vaultId] = only("AWS::Backup::BackupVault");
    const [, plan] = only("AWS::Backup::BackupPlan");
    const planProps = obj(plan.Properties?.BackupPlan, "BackupPlan");
    expect(planProps.BackupPlanName).toBe(`${APP_NAME}-${STAGE}-table`);
    const rules = asArray(planProps.BackupPlanRule).map((rule) => obj(rule, "rule"));
    expect(rules).toHaveLength(1);
    const [rule] = rules;
    expect(rule).toMatchObject({
      RuleName: "daily",
      ScheduleExpression: `cron(${BACKUP_SCHEDULE.minute} ${BACKUP_SCHEDULE.hour} * * ? *)`,
      StartWindowMinutes: 60,
      CompletionWindowMinutes: 480,
      Lifecycle: { DeleteAfterDays: DEFAULT_BACKUP_RETENTION_DAYS },
    });
    expect(refOf(rule?.TargetBackupVault)).toBe(`${vaultId}.BackupVaultName`);
  });

  it("selects the table by its ARN, with a role only AWS Backup may assume", () => {
    const [tableId] = only("AWS::DynamoDB::Table");
    const [planId] = only("AWS::Backup::BackupPlan");
    const [, selection] = only("AWS::Backup::BackupSelection");
    expect(refOf(selection.Properties?.BackupPlanId)).toBe(`${planId}.BackupPlanId`);
    const selectionProps = obj(selection.Properties?.BackupSelection, "BackupSelection");
    expect(asArray(selectionProps.Resources).map(refOf)).toEqual([`${tableId}.Arn`]);
    const role = refOf(selectionProps.IamRoleArn)?.replace(/\.Arn$/, "") ?? "";
    const trust = JSON.stringify(props(role).AssumeRolePolicyDocument);
    expect(trust).toContain('"Service":"backup.amazonaws.com"');
    expect(asArray(props(role).ManagedPolicyArns).map((arn) => JSON.stringify(arn))).toEqual([
      expect.stringContaining("service-role/AWSBackupServiceRolePolicyForBackup"),
    ]);
  });

  it("encrypts the vault with a rotating customer-managed key; vault and key outlive the stack", () => {
    const [vaultId, vault] = only("AWS::Backup::BackupVault");
    expect(vault.Properties?.BackupVaultName).toBe(`${APP_NAME}-${STAGE}-backups`);
    // The vault's own key (the alarm topic has another).
    const keyId = refOf(vault.Properties?.EncryptionKeyArn)?.replace(/\.Arn$/, "") ?? "";
    const key = resources[keyId];
    expect(key?.Type).toBe("AWS::KMS::Key");
    if (!key) throw new Error("the vault's key is missing");
    expect(key.Properties?.EnableKeyRotation).toBe(true);
    for (const [id, resource] of [
      [vaultId, vault],
      [keyId, key],
    ] as const) {
      expect(resource.DeletionPolicy, id).toBe("Retain");
      expect(resource.UpdateReplacePolicy, id).toBe("Retain");
    }
    expect(refOf(outputs.BackupVaultName?.Value)).toBe(`${vaultId}.BackupVaultName`);
    expect(outputs.BackupPlanId).toBeDefined();
  });

  it("takes the retention from NEXUS_BACKUP_RETENTION_DAYS, refusing what AWS Backup would", () => {
    expect(backupRetentionDays({})).toBe(35);
    expect(backupRetentionDays({ NEXUS_BACKUP_RETENTION_DAYS: " " })).toBe(35);
    expect(backupRetentionDays({ NEXUS_BACKUP_RETENTION_DAYS: "90" })).toBe(90);
    expect(backupRetentionDays({ NEXUS_BACKUP_RETENTION_DAYS: "36500" })).toBe(36_500);
    for (const bad of ["0", "-1", "7.5", "a week", "36501", "1e3"]) {
      expect(() => backupRetentionDays({ NEXUS_BACKUP_RETENTION_DAYS: bad }), bad).toThrow(
        /NEXUS_BACKUP_RETENTION_DAYS/,
      );
    }
  });
});
