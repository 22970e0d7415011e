export type { LogSink, TaskLogger } from "./attempt-log.js";
export { BackupFileError, exportToFile, type ImportTotals, importFromFile } from "./backup.js";
export {
  isLeaseLost,
  NexusApiError,
  NexusClient,
  type NexusClientOptions,
  NexusNetworkError,
  type RequestOptions,
} from "./client.js";
export { type CliIO, run as runCli } from "./commands.js";
export type * from "./types.js";
export {
  NexusWorker,
  type NexusWorkerOptions,
  type TaskContext,
  TaskFailure,
  type TaskHandler,
  type WorkerStage,
} from "./worker.js";
