import type { Context } from "@nexus/core";
import * as Alarms from "@nexus/core/alarms";
import { pure } from "@nexus/core/pure";
import * as z from "zod";
import { denied, json, route } from "../openapi.js";
import type { ApiApp } from "../router.js";

const AlarmList = /* @__PURE__ */ pure(() =>
  z
    .object({
      source: z
        .enum(["local", "cloudwatch"])
        .describe("local: evaluated by this runtime every few seconds; cloudwatch: see the CloudWatch console"),
      items: z.array(Alarms.AlarmStatus),
    })
    .meta({ id: "AlarmList" }),
);

const routes = {
  listAlarms: route("GET /v1/alarms", {
    method: "get",
    path: "/v1/alarms",
    operationId: "listAlarms",
    tags: ["system"],
    summary: "The alarms and their states (OK, ALARM, INSUFFICIENT_DATA), those in ALARM first",
    responses: { 200: json(AlarmList, "Every alarm with its state, reason and since"), ...denied },
  }),
};

const ORDER: Record<Alarms.AlarmState, number> = { ALARM: 0, INSUFFICIENT_DATA: 1, OK: 2 };

/**
 * The alarms' states where this process evaluates them (the local runtime). In AWS the alarms are CloudWatch's: their
 * states, history and notifications are in CloudWatch (and the SNS topic), and this answers with none.
 */
export function registerAlarmRoutes(app: ApiApp, options: { ctx: Context }) {
  const { ctx } = options;
  app.openapi(routes.listAlarms, async (c) => {
    if (!ctx.alarms) return c.json({ source: "cloudwatch" as const, items: [] }, 200);
    const items = (await ctx.alarms.list()).sort((a, b) => ORDER[a.state] - ORDER[b.state] || (a.key < b.key ? -1 : 1));
    return c.json({ source: "local" as const, items }, 200);
  });
}
