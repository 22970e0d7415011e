export { type Emulator, LOOPBACK, startDynamo, startSqs } from "./emulators.js";
export { QueuePoller } from "./poller.js";
export { type LocalNexus, type LocalOptions, startLocal, TABLE_NAME } from "./runtime.js";
