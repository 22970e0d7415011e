/** What Nexus uses of the Step Functions SDK, imported on first use (workflows.ts, context.ts); see sdk/s3.ts. */
export {
  DescribeExecutionCommand,
  SendTaskFailureCommand,
  SendTaskHeartbeatCommand,
  SendTaskSuccessCommand,
  SFNClient,
  StartExecutionCommand,
  StopExecutionCommand,
} from "@aws-sdk/client-sfn";
