import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { builtinSpecs } from "@nexus/agents/specs";
import { createApp } from "@nexus/api";
import { type Context, createLogger } from "@nexus/core";
import { afterAll, describe, expect, it } from "vitest";
import { schemaTypes } from "./support/openapi-types.js";

/**
 * The SDK's hand-written types (packages/sdk/src/types.ts) against the API's OpenAPI document: types are generated
 * from the document the API serves, and tsc checks that each SDK type and its schema are assignable both ways, so
 * neither can change without the other.
 */
const run = promisify(execFile);
const root = fileURLToPath(new URL("..", import.meta.url));
const work = mkdtempSync(join(tmpdir(), "nexus-sdk-contract-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** SDK type (an expression over `Sdk`) ↔ the document's type (over `Schemas`). */
const CONTRACT: Array<[string, string]> = [
  // The document's components are the input forms: fields with a default are optional, also in responses.
  ["Partial<Sdk.RetryPolicy>", 'Schemas["RetryPolicy"]'],
  ["Sdk.ActionSpec", 'Schemas["ActionSpec"]'],
  ["Sdk.Agent", 'Schemas["Agent"]'],
  ["Sdk.Page<Sdk.Agent>", 'Schemas["AgentPage"]'],
  ["Sdk.RegisterAgentInput", 'Schemas["RegisterAgentInput"]'],
  ["Sdk.TaskError", 'Schemas["TaskError"]'],
  ["Sdk.AgentHealth", 'Schemas["AgentHealth"]'],
  ["Sdk.PayloadRef", 'NonNullable<Schemas["Task"]["paramsRef"]>'],
  ["Sdk.TaskEvent", 'Schemas["TaskEvent"]'],
  ["Sdk.TaskStatus", 'Schemas["Task"]["status"]'],
  ["Sdk.Task", 'Schemas["Task"]'],
  ["Sdk.Page<Sdk.Task>", 'Schemas["TaskPage"]'],
  ["Sdk.SubmitTaskInput", 'Schemas["SubmitTaskInput"]'],
  ["Sdk.SubmitTasksInput", 'Schemas["SubmitTasksInput"]'],
  ["Sdk.SubmittedTasks", 'Schemas["SubmittedTasks"]'],
  ["Sdk.ClaimInput", 'Schemas["ClaimInput"]'],
  ["Sdk.ClaimedTask", 'Schemas["ClaimedTask"]'],
  ["Sdk.Lease", 'Schemas["Lease"]'],
  ["Sdk.PlanStep", 'Schemas["PlanStep"]'],
  ["Sdk.PlanSummary", 'Schemas["PlanSummary"]'],
  ["Sdk.Plan", 'Schemas["Plan"]'],
  ["Sdk.Page<Sdk.PlanSummary>", 'Schemas["PlanPage"]'],
  ["Sdk.PlanPreview", 'Schemas["PlanPreview"]'],
  ["Sdk.PlanStepInput", 'Schemas["AgentStepInput"] | Schemas["ApprovalStepInput"] | Schemas["WaitStepInput"]'],
  ["Sdk.CreatePlanInput", 'Schemas["CreatePlanInput"]'],
  ["Sdk.ApiKey", 'Schemas["ApiKey"]'],
  ["Sdk.Page<Sdk.ApiKey>", 'Schemas["ApiKeyPage"]'],
  ["Sdk.CreateKeyInput", 'Schemas["CreateKeyInput"]'],
  ["Sdk.Heartbeat", 'NonNullable<Schemas["AgentHealth"]["heartbeat"]>'],
  ["Sdk.HeartbeatInput", 'Schemas["HeartbeatInput"]'],
  ["Sdk.HeartbeatReceipt", 'Schemas["HeartbeatReceipt"]'],
  ["Sdk.Failure", 'Schemas["Failure"]'],
  ["Sdk.Page<Sdk.Failure>", 'Schemas["FailurePage"]'],
  ["Sdk.Redriven", 'Schemas["Redriven"]'],
  ["Sdk.BulkRedriven", 'Schemas["BulkRedriven"]'],
  ["Sdk.ScheduleTarget", 'Schemas["ScheduleTaskTarget"] | Schemas["SchedulePlanTarget"]'],
  ["Sdk.CreateScheduleInput", 'Schemas["CreateScheduleInput"]'],
  ["Sdk.UpdateScheduleInput", 'Schemas["UpdateScheduleInput"]'],
  ["Sdk.ScheduleRun", 'Schemas["ScheduleRun"]'],
  ["Sdk.ScheduleLastRun", 'Schemas["ScheduleLastRun"]'],
  ["Sdk.Schedule", 'Schemas["Schedule"]'],
  ["Sdk.Page<Sdk.Schedule>", 'Schemas["SchedulePage"]'],
  ["Sdk.ScheduleDetail", 'Schemas["ScheduleDetail"]'],
  ["Sdk.PreviewScheduleInput", 'Schemas["PreviewScheduleInput"]'],
  ["Sdk.SchedulePreview", 'Schemas["SchedulePreview"]'],
];

async function servedDocument() {
  // The document needs no storage: the app is made with an empty context and asked for it.
  const app = createApp({
    ctx: { settings: {} } as Context,
    logger: createLogger("nexus-test", { level: "SILENT" }),
    builtinSpecs,
  });
  const res = await app.request("/openapi.json");
  expect(res.status).toBe(200);
  return (await res.json()) as { components?: { schemas?: Record<string, unknown> } };
}

describe("the SDK's types", () => {
  it("are assignable both ways to the types generated from the OpenAPI document", async () => {
    writeFileSync(join(work, "openapi.ts"), schemaTypes(await servedDocument()));
    const sdkTypes = join(root, "packages/sdk/src/types.js");
    // Both ways, and the same property names (an optional property one side lacks would pass assignability).
    const checks = CONTRACT.map(
      ([sdk, doc], i) =>
        `// ${sdk} ↔ ${doc}\nexport const fromDocument${i} = (x: ${doc}): ${sdk} => x;\n` +
        `export const fromSdk${i} = (x: ${sdk}): ${doc} => x;\n` +
        `export const sameKeys${i}: SameKeys<${sdk}, ${doc}> = true;`,
    );
    writeFileSync(
      join(work, "contract.ts"),
      [
        `import type * as Sdk from ${JSON.stringify(sdkTypes)};`,
        'import type { Schemas } from "./openapi.js";',
        "type Keys<T> = T extends unknown ? keyof T : never;",
        "type SameKeys<A, B> = [Exclude<Keys<A>, Keys<B>>, Exclude<Keys<B>, Keys<A>>] extends [never, never]",
        "  ? true",
        "  : { sdkOnly: Exclude<Keys<A>, Keys<B>>; documentOnly: Exclude<Keys<B>, Keys<A>> };",
      ]
        .concat(checks)
        .join("\n"),
    );
    const tsc = join(root, "node_modules/typescript/bin/tsc");
    const args = [
      "--noEmit",
      "--strict",
      "--noErrorTruncation",
      "--module",
      "nodenext",
      "--moduleResolution",
      "nodenext",
    ];
    args.push("--types", "");
    const checked = await run(process.execPath, [tsc, ...args, "contract.ts"], { cwd: work }).then(
      (done) => done.stdout + done.stderr,
      (error: { stdout: string; stderr: string }) => error.stdout + error.stderr,
    );
    expect(checked).toBe("");
  });
});
