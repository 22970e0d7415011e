import { commsStandIns } from "./comms.js";
import { startOpsStandIn } from "./ops.js";
import { startResearchStandIn } from "./research.js";
import type { StandInFactory } from "./types.js";

export { researchStandIn, startResearchStandIn } from "./research.js";
export type { StandIn, StandInContext, StandInFactory } from "./types.js";

/** The stand-ins `npm run dev` starts for the built-in agents. */
export const builtinStandIns: StandInFactory[] = [...commsStandIns, startOpsStandIn, startResearchStandIn];
