/**
 * The stack's scheduler resources are named after their schedule group, so that one value, the group's ARN
 * (`NEXUS_SCHEDULE_GROUP_ARN`), tells the API all of them. stacks/schedules.ts names the resources with these.
 */
export const scheduleFunctionName = (group: string) => group;
export const schedulerRoleName = (group: string) => `${group}-invoke`;
export const scheduleDlqName = (group: string) => `${group}-dlq`;

/** `arn:<partition>:scheduler:<region>:<account>:schedule-group/<group>` */
const GROUP_ARN = /^arn:([\w-]+):scheduler:([\w-]+):(\d{12}):schedule-group\/([\w.-]+)$/;

/** Everything the API needs to create a schedule in the group: the target function, its invoke role and the DLQ. */
export function schedulerResources(groupArn: string) {
  const match = GROUP_ARN.exec(groupArn);
  if (!match) throw new Error(`not a schedule group ARN: ${groupArn}`);
  const [, partition, region, account, group = ""] = match;
  return {
    group,
    targetArn: `arn:${partition}:lambda:${region}:${account}:function:${scheduleFunctionName(group)}`,
    roleArn: `arn:${partition}:iam::${account}:role/${schedulerRoleName(group)}`,
    deadLetterArn: `arn:${partition}:sqs:${region}:${account}:${scheduleDlqName(group)}`,
  };
}
