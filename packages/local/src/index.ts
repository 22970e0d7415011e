export { type AlarmChange, LocalAlarms } from "./alarms.js";
export { type Emulator, LOOPBACK, startDynamo, startSqs } from "./emulators.js";
export { type FunctionName, invoking, runningFunction } from "./invocations.js";
export { QueuePoller } from "./poller.js";
export {
  ADMIN_KEY_SECRET,
  type LocalNexus,
  type LocalOptions,
  RUNTIME_FILE,
  startLocal,
  TABLE_NAME,
} from "./runtime.js";
export { type SecretsEmulator, startSecrets } from "./secrets-server.js";
export { type ExecutionUsage, LOG_ENVELOPE_BYTES, type LocalStepFunctions, startStepFunctions } from "./sfn-server.js";
export {
  builtinStandIns,
  researchStandIn,
  type StandIn,
  type StandInContext,
  type StandInFactory,
  startResearchStandIn,
} from "./standins/index.js";
