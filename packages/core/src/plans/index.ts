export { PLAN_DEFINITION_FILE, planDefinition } from "./asl.js";
export { CannotPlanError, type PlanDraft, type Planner, type PlanRequest } from "./planner.js";
export { type Created, type CreateOptions, cancel, create, decide, draft, get, list, retry } from "./plans.js";
export { type RecoverOptions, type RecoverResult, recover } from "./recovery.js";
export { handle, type StepPayload } from "./runner.js";
export * from "./schema.js";
export { resolve as resolveReferences, scan as scanReferences } from "./templates.js";
export { ancestorsOf, findCycle, validateSteps } from "./validate.js";
