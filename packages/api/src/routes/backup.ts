import type { Context, Logger } from "@nexus/core";
import * as Audit from "@nexus/core/audit";
import * as Backup from "@nexus/core/backup";
import { pure } from "@nexus/core/pure";
import * as z from "zod";
import { auditEntry } from "../middleware.js";
import { denied, errors, json, route } from "../openapi.js";
import type { ApiApp } from "../router.js";

/** The header naming the next page of an export (absent on the last page). */
export const NEXT_CURSOR_HEADER = "Nexus-Next-Cursor";

const ExportQuery = /* @__PURE__ */ pure(() =>
  z.strictObject({
    cursor: z.string().max(4096).optional().describe("The cursor of the previous page; none starts a new export"),
  }),
);

const routes = {
  exportBackup: route("GET /v1/backup/export", {
    method: "get",
    path: "/v1/backup/export",
    operationId: "exportBackup",
    tags: ["backup"],
    summary: "One page of a backup of the whole deployment, as JSON Lines",
    description:
      "Without a cursor a new backup starts (its `asOf` is now) and the page begins with the header line; each page " +
      `names the next in the ${NEXT_CURSOR_HEADER} header, and the last page ends with the end line. Items created ` +
      "after `asOf` are left out; each item is read strongly consistent (see the README, Backups and restore). " +
      "API keys are exported with their hashes only. Every page is recorded in the audit trail.",
    request: { query: ExportQuery },
    responses: {
      200: {
        description: "JSON Lines: header (first page), items and their payload objects, end (last page)",
        headers: {
          [NEXT_CURSOR_HEADER]: {
            description: "The cursor of the next page; absent on the last",
            schema: { type: "string" },
          },
          "Nexus-Backup-Id": { description: "The backup's id", schema: { type: "string" } },
        },
        content: { "application/x-ndjson": { schema: z.string() } },
      },
      400: errors[400],
      ...denied,
    },
  }),
  importBackup: route("POST /v1/backup/import", {
    method: "post",
    path: "/v1/backup/import",
    operationId: "importBackup",
    tags: ["backup"],
    summary: "Take consecutive lines of a backup into this deployment",
    description:
      "Into an empty deployment (409 otherwise, unless `force`). Every line is checked before anything is written; a " +
      "bad one is a 400 naming its line number. Items are written only where nothing is stored under their key, so a " +
      "repeated or resumed import completes without duplicates. Custom agents get their queues, schedules their " +
      "triggers; the end line completes the import and resumes open plan runs.",
    request: { body: { ...json(Backup.ImportInput, "Lines of the backup file"), required: true } },
    responses: {
      200: json(Backup.ImportResult, "What was restored"),
      400: errors[400],
      409: json(
        errors[409].content["application/json"].schema,
        "The deployment is not empty (`deployment_not_empty`), or holds another backup's import (`import_in_progress`)",
      ),
      413: errors[413],
      ...denied,
    },
  }),
};

/** Backups (admin only): the whole deployment out as JSON Lines, page by page, and back into an empty one. */
export function registerBackupRoutes(app: ApiApp, options: { ctx: Context; logger: Logger }) {
  const { ctx, logger } = options;
  app.openapi(routes.exportBackup, async (c) => {
    const page = await Backup.exportPage(ctx, c.req.valid("query").cursor);
    // Reading everything is recorded, as a change is: who exported what, page by page.
    await Audit.record(ctx, { ...auditEntry(c), targetId: page.backupId, status: 200, outcome: "success" });
    c.header("Content-Type", "application/x-ndjson");
    c.header("Nexus-Backup-Id", page.backupId);
    if (page.nextCursor) c.header(NEXT_CURSOR_HEADER, page.nextCursor);
    const text = page.lines.length ? `${page.lines.join("\n")}\n` : "";
    // JSON Lines: a body the typed responses (JSON only) cannot describe.
    return c.body(new TextEncoder().encode(text) as Uint8Array<ArrayBuffer>, 200) as never;
  });
  app.openapi(routes.importBackup, async (c) => {
    const input = c.req.valid("json");
    c.set("auditTarget", input.backupId);
    return c.json(await Backup.importPage(ctx, input, { logger }), 200);
  });
}
