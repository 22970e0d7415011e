import { readFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { parseArgs } from "node:util";
import { BackupFileError, exportToFile, importFromFile } from "./backup.js";
import { NexusApiError, NexusClient, NexusNetworkError } from "./client.js";
import type {
  Agent,
  ApiKey,
  CreateScheduleInput,
  Failure,
  Page,
  Plan,
  PlanSummary,
  Schedule,
  SubmitTaskInput,
  SubmittedTasks,
  Task,
} from "./types.js";

/** Where the CLI reads its settings and writes its output (the process's, or a test's). */
export interface CliIO {
  env: NodeJS.ProcessEnv;
  stdout: { write(text: string): unknown; isTTY?: boolean };
  stderr: { write(text: string): unknown };
  fetch?: typeof fetch;
  /** How often --follow polls (default 500 ms). */
  pollMs?: number;
}

export const EXIT = { ok: 0, apiError: 1, usage: 2 } as const;
export const DEFAULT_URL = "http://127.0.0.1:3000";

class UsageError extends Error {}

const OPTIONS = {
  url: { type: "string" },
  key: { type: "string" },
  json: { type: "boolean" },
  help: { type: "boolean", short: "h" },
  params: { type: "string" },
  "idempotency-key": { type: "string" },
  follow: { type: "boolean", short: "f" },
  agent: { type: "string" },
  status: { type: "string" },
  limit: { type: "string" },
  cursor: { type: "string" },
  file: { type: "string" },
  goal: { type: "string" },
  constraints: { type: "string" },
  name: { type: "string" },
  "dry-run": { type: "boolean" },
  role: { type: "string" },
  expires: { type: "string" },
  "rate-limit": { type: "string" },
  comment: { type: "string" },
  max: { type: "string" },
  cron: { type: "string" },
  rate: { type: "string" },
  timezone: { type: "string" },
  action: { type: "string" },
  disabled: { type: "boolean" },
  enabled: { type: "string" },
  count: { type: "string" },
  force: { type: "boolean" },
} as const;
type Flag = keyof typeof OPTIONS;
type Values = { [K in Flag]?: (typeof OPTIONS)[K]["type"] extends "boolean" ? boolean : string };
const COMMON: Flag[] = ["url", "key", "json", "help"];

interface Call {
  client: NexusClient;
  io: CliIO;
  json: boolean;
  values: Values;
  args: string[];
}

interface Command {
  args: string[];
  flags: Flag[];
  summary: string;
  run(call: Call): Promise<number>;
}

const FINISHED = ["succeeded", "failed", "cancelled"];

const USAGE = `nexus: the Nexus API from the command line

usage: nexus <group> <command> [arguments] [flags]

  agents list [--limit N] [--cursor C]
  agents get <id>
  tasks submit <agent> <action> [--params JSON|@file] [--idempotency-key K] [--follow]
  tasks submit-many --file tasks.jsonl   (one task per line: {"agentId", "action", "params"?, "idempotencyKey"?})
  tasks list [--agent ID] [--status S] [--limit N] [--cursor C]
  tasks get <id>
  tasks cancel <id>
  plans submit (--file plan.json | --goal "..." [--constraints JSON]) [--name N] [--dry-run] [--follow]
  plans list [--status S] [--limit N] [--cursor C]
  plans get|cancel|retry <id>
  plans approve|reject <id> <stepId> [--comment TEXT]
  failures list [--agent ID] [--status open|redriven] [--limit N] [--cursor C]
  failures get <id>
  failures redrive <id> [--params JSON|@file]
  failures redrive-all --agent ID [--max N]
  schedules create (--file schedule.json | --name N (--cron EXPR | --rate EXPR) [--timezone TZ]
                    --agent ID --action NAME [--params JSON|@file] [--disabled])
  schedules list [--limit N] [--cursor C]
  schedules get|delete|run-now <id>
  schedules update <id> [--file changes.json] [--name N] [--cron EXPR | --rate EXPR] [--timezone TZ] [--enabled true|false]
  schedules preview (--cron EXPR | --rate EXPR) [--timezone TZ] [--count N]
  keys create --name N --role admin|operator|viewer|agent [--agent ID] [--expires ISO] [--rate-limit N]
  keys list [--limit N] [--cursor C]
  keys get|revoke <id>
  backup export --file backup.jsonl      (admin; run again to resume an interrupted export)
  backup import --file backup.jsonl [--force]   (admin; into an empty deployment; run again to resume)

flags everywhere:
  --url URL    the API (default: $NEXUS_URL, else ${DEFAULT_URL})
  --key KEY    an API key (default: $NEXUS_API_KEY)
  --json       machine output: the API's JSON on stdout, errors as JSON on stderr
  --follow     (submit) show live progress until the task or plan ends, then its result

exit codes: 0 ok · 1 API error (its code is printed) or a followed task/plan that failed · 2 usage error
`;

// ── output ────────────────────────────────────────────────────────────────────────────────────────

const pretty = (value: unknown) => JSON.stringify(value, null, 2);

function table(rows: string[][], header: string[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) =>
    cells
      .map((cell, i) => (i === cells.length - 1 ? cell : cell.padEnd(widths[i] ?? 0)))
      .join("  ")
      .trimEnd();
  return [line(header), ...rows.map(line)].join("\n");
}

function page<T>(result: Page<T>, header: string[], row: (item: T) => string[]): string {
  const body = result.items.length === 0 ? "(none)" : table(result.items.map(row), header);
  return result.nextCursor ? `${body}\nmore: --cursor ${result.nextCursor}` : body;
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)}s`;

function taskText(task: Task): string {
  const lines = [
    `${task.id}  ${task.agentId}.${task.action}  ${task.status}  attempt ${task.attempts}/${task.maxAttempts}`,
  ];
  if (task.planId) lines.push(`plan ${task.planId} step ${task.stepId}`);
  lines.push(`created ${task.createdAt}${task.finishedAt ? `  finished ${task.finishedAt}` : ""}`);
  if (task.error)
    lines.push(`error: ${task.error.code}: ${task.error.message}${task.error.retriable ? " (retriable)" : ""}`);
  if (task.status === "succeeded") lines.push(`result: ${pretty(task.result ?? null)}`);
  return lines.join("\n");
}

function agentText(agent: Agent): string {
  const lines = [
    `${agent.id}  ${agent.builtin ? "built-in" : "custom"}  ${agent.status}  kind ${agent.kind}`,
    ...(agent.description ? [agent.description] : []),
    "actions:",
    ...agent.actions.map((a) => `  ${a.name}${a.description ? ` — ${a.description}` : ""}`),
  ];
  return lines.join("\n");
}

function planText(plan: Plan): string {
  const lines = [`${plan.id}  ${plan.name}  ${plan.status}  run ${plan.run}`];
  if (plan.error) lines.push(`error: ${plan.error.stepId ?? "plan"}: ${plan.error.code}: ${plan.error.message}`);
  const target = (s: Plan["steps"][number]) =>
    s.kind === "agent" ? `${s.agentId}.${s.action}` : s.kind === "wait" ? `wait ${s.seconds}s` : "approval";
  lines.push(
    table(
      plan.steps.map((s) => [s.id, target(s), s.status, String(s.attempts), s.taskId ?? "-"]),
      ["STEP", "WHAT", "STATUS", "ATTEMPTS", "TASK"],
    ),
  );
  return lines.join("\n");
}

const failureRow = (f: Failure) => [
  f.id,
  f.agentId,
  f.action ?? "-",
  f.error.code,
  String(f.attempts),
  f.failedAt,
  f.status === "redriven" ? `redriven → ${f.redriveTaskId ?? "queue"}` : f.status,
];
const FAILURE_HEADER = ["ID", "AGENT", "ACTION", "ERROR", "ATTEMPTS", "FAILED", "STATUS"];

const scheduleRow = (s: Schedule) => [
  s.id,
  s.name,
  s.cron ? `${s.cron}${s.unixCron ? ` (${s.unixCron})` : ""} ${s.timezone}` : (s.rate ?? "-"),
  s.target.type === "task" ? `task ${s.target.agentId}.${s.target.action}` : `plan ${s.target.name ?? s.name}`,
  s.enabled ? "enabled" : "disabled",
  s.nextRunAt ?? "-",
  s.lastRun ? `${s.lastRun.outcome} ${s.lastRun.at}` : "-",
];
const SCHEDULE_HEADER = ["ID", "NAME", "WHEN", "TARGET", "STATE", "NEXT RUN", "LAST RUN"];

const keyRow = (k: ApiKey) => [k.id, k.name, k.role, k.agentId ?? "-", k.createdAt, k.revokedAt ? "revoked" : ""];
const keyText = (k: ApiKey) => table([keyRow(k)], ["ID", "NAME", "ROLE", "AGENT", "CREATED", ""]);

function show(call: Call, value: unknown, human: () => string): number {
  call.io.stdout.write(`${call.json ? pretty(value) : human()}\n`);
  return EXIT.ok;
}

// ── input ─────────────────────────────────────────────────────────────────────────────────────────

function jsonFlag(flag: string, raw: string): unknown {
  let text = raw;
  if (raw.startsWith("@")) {
    try {
      text = readFileSync(raw.slice(1), "utf8");
    } catch (error) {
      throw new UsageError(`--${flag}: cannot read ${raw.slice(1)}: ${(error as Error).message}`);
    }
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new UsageError(`--${flag} is not valid JSON: ${(error as Error).message}`);
  }
}

function intFlag(flag: string, raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  if (!/^\d+$/.test(raw)) throw new UsageError(`--${flag} must be a whole number`);
  return Number(raw);
}

/** The JSON object in the file a --file flag names. */
function objectFile(path: string): Record<string, unknown> {
  const value = jsonFlag("file", `@${path}`);
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new UsageError(`--file: ${path} must hold a JSON object`);
  }
  return value as Record<string, unknown>;
}

/**
 * The tasks in a file: one JSON object per line (blank lines and lines starting with # skipped), or one JSON array.
 * A line that is not an object is a usage error naming its line.
 */
function tasksFile(path: string): SubmitTaskInput[] {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    throw new UsageError(`--file: cannot read ${path}: ${(error as Error).message}`);
  }
  if (text.trimStart().startsWith("[")) {
    const all = jsonFlag("file", text);
    if (!Array.isArray(all)) throw new UsageError(`--file: ${path} must hold a JSON array or one object per line`);
    return all as SubmitTaskInput[];
  }
  const tasks: SubmitTaskInput[] = [];
  text.split("\n").forEach((line, i) => {
    if (line.trim() === "" || line.trimStart().startsWith("#")) return;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (error) {
      throw new UsageError(`--file: line ${i + 1} is not valid JSON: ${(error as Error).message}`);
    }
    if (typeof value !== "object" || value === null || Array.isArray(value)) {
      throw new UsageError(`--file: line ${i + 1} must be a JSON object (a task)`);
    }
    tasks.push(value as SubmitTaskInput);
  });
  if (tasks.length === 0) throw new UsageError(`--file: ${path} holds no tasks`);
  return tasks;
}

/** Tasks one `POST /v1/tasks/batch` carries at most. */
const BATCH_TASKS = 100;

const listQuery = (v: Values) => ({
  ...(v.limit === undefined ? {} : { limit: intFlag("limit", v.limit) }),
  ...(v.cursor === undefined ? {} : { cursor: v.cursor }),
});

// ── follow ────────────────────────────────────────────────────────────────────────────────────────

/** Polls until `done`, drawing a one-line progress (redrawn in place on a terminal); transient errors are retried. */
async function follow<T>(
  call: Call,
  first: T,
  read: () => Promise<T>,
  line: (value: T, ms: number) => string,
  key: (value: T) => string,
  done: (value: T) => boolean,
): Promise<T> {
  const started = Date.now();
  const tty = !call.json && call.io.stdout.isTTY === true;
  let current = first;
  let shown = "";
  let failures = 0;
  for (;;) {
    if (!call.json) {
      if (tty) call.io.stdout.write(`\r\x1b[2K${line(current, Date.now() - started)}`);
      else if (key(current) !== shown) call.io.stdout.write(`${line(current, Date.now() - started)}\n`);
      shown = key(current);
    }
    if (done(current)) break;
    await sleep(call.io.pollMs ?? 500);
    try {
      current = await read();
      failures = 0;
    } catch (error) {
      const transient = error instanceof NexusNetworkError || (error instanceof NexusApiError && error.transient);
      if (!transient || ++failures > 10) throw error;
    }
  }
  if (tty) call.io.stdout.write("\n");
  return current;
}

async function followTask(call: Call, task: Task): Promise<number> {
  const final = await follow(
    call,
    task,
    () => call.client.tasks.get(task.id),
    (t, ms) => `${t.id} ${t.status} · attempt ${t.attempts}/${t.maxAttempts} · ${seconds(ms)}`,
    (t) => `${t.status}/${t.attempts}`,
    (t) => FINISHED.includes(t.status),
  );
  if (call.json) call.io.stdout.write(`${pretty(final)}\n`);
  else if (final.status === "succeeded") call.io.stdout.write(`result: ${pretty(final.result ?? null)}\n`);
  if (final.status === "succeeded") return EXIT.ok;
  const why = final.error ? `${final.error.code}: ${final.error.message}` : final.status;
  call.io.stderr.write(`task ${final.status}: ${why}\n`);
  return EXIT.apiError;
}

async function followPlan(call: Call, plan: Plan): Promise<number> {
  const progress = (p: Plan, ms: number) => {
    const done = p.steps.filter((s) => s.status === "succeeded").length;
    const gate = p.steps.find((s) => s.status === "waiting_approval");
    return `${p.id} ${p.status} · ${done}/${p.steps.length} steps${gate ? ` · waiting for approval of '${gate.id}'` : ""} · ${seconds(ms)}`;
  };
  const final = await follow(
    call,
    plan,
    () => call.client.plans.get(plan.id),
    progress,
    (p) => `${p.status}/${p.steps.map((s) => s.status).join(",")}`,
    (p) => FINISHED.includes(p.status),
  );
  call.io.stdout.write(`${call.json ? pretty(final) : planText(final)}\n`);
  if (final.status === "succeeded") return EXIT.ok;
  const why = final.error
    ? `${final.error.stepId ?? "plan"}: ${final.error.code}: ${final.error.message}`
    : final.status;
  call.io.stderr.write(`plan ${final.status}: ${why}\n`);
  return EXIT.apiError;
}

// ── commands ──────────────────────────────────────────────────────────────────────────────────────

const LIST = ["limit", "cursor"] as Flag[];

const COMMANDS: Record<string, Record<string, Command>> = {
  agents: {
    list: {
      args: [],
      flags: LIST,
      summary: "agents by name",
      run: async (c) => {
        const result = await c.client.agents.list(listQuery(c.values));
        return show(c, result, () =>
          page(result, ["ID", "KIND", "STATUS", "BUILT-IN", "ACTIONS"], (a) => [
            a.id,
            a.kind,
            a.status,
            a.builtin ? "yes" : "no",
            a.actions.map((action) => action.name).join(", "),
          ]),
        );
      },
    },
    get: {
      args: ["id"],
      flags: [],
      summary: "one agent with its actions",
      run: async (c) => {
        const agent = await c.client.agents.get(c.args[0] ?? "");
        return show(c, agent, () => agentText(agent));
      },
    },
  },
  tasks: {
    submit: {
      args: ["agent", "action"],
      flags: ["params", "idempotency-key", "follow"],
      summary: "submit a task",
      run: async (c) => {
        const [agentId = "", action = ""] = c.args;
        const task = await c.client.tasks.submit({
          agentId,
          action,
          ...(c.values.params === undefined ? {} : { params: jsonFlag("params", c.values.params) }),
          ...(c.values["idempotency-key"] === undefined ? {} : { idempotencyKey: c.values["idempotency-key"] }),
        });
        if (c.values.follow) return followTask(c, task);
        return show(c, task, () => taskText(task));
      },
    },
    "submit-many": {
      args: [],
      flags: ["file"],
      summary: "submit the tasks in a file, 100 a request",
      run: async (c) => {
        if (c.values.file === undefined) throw new UsageError("tasks submit-many needs --file");
        const tasks = tasksFile(c.values.file);
        const items: SubmittedTasks["items"] = [];
        for (let start = 0; start < tasks.length; start += BATCH_TASKS) {
          try {
            items.push(...(await c.client.tasks.submitMany(tasks.slice(start, start + BATCH_TASKS))).items);
          } catch (error) {
            // What the earlier requests queued stays queued: say how far it got, and where to go on from.
            if (start > 0 && error instanceof NexusApiError) {
              const message = `${error.message} (in the request from task ${start + 1}; tasks 1 to ${start} were submitted)`;
              throw new NexusApiError(error.status, error.code, message, {
                details: error.details,
                ...(error.requestId === undefined ? {} : { requestId: error.requestId }),
              });
            }
            throw error;
          }
        }
        return show(c, { items }, () =>
          table(
            items.map((item, i) => [
              String(i + 1),
              item.task.id,
              item.task.agentId,
              item.task.action,
              item.replayed ? "replayed" : item.task.status,
            ]),
            ["#", "ID", "AGENT", "ACTION", "STATUS"],
          ),
        );
      },
    },
    list: {
      args: [],
      flags: ["agent", "status", ...LIST],
      summary: "tasks newest first",
      run: async (c) => {
        const result = await c.client.tasks.list({
          ...listQuery(c.values),
          ...(c.values.agent === undefined ? {} : { agentId: c.values.agent }),
          ...(c.values.status === undefined ? {} : { status: c.values.status as Task["status"] }),
        });
        return show(c, result, () =>
          page(result, ["ID", "AGENT", "ACTION", "STATUS", "ATTEMPTS", "CREATED"], (t) => [
            t.id,
            t.agentId,
            t.action,
            t.status,
            `${t.attempts}/${t.maxAttempts}`,
            t.createdAt,
          ]),
        );
      },
    },
    get: {
      args: ["id"],
      flags: [],
      summary: "a task with its result or error",
      run: async (c) => {
        const task = await c.client.tasks.get(c.args[0] ?? "");
        return show(c, task, () => taskText(task));
      },
    },
    cancel: {
      args: ["id"],
      flags: [],
      summary: "cancel a queued or running task",
      run: async (c) => {
        const task = await c.client.tasks.cancel(c.args[0] ?? "");
        return show(c, task, () => taskText(task));
      },
    },
  },
  plans: {
    submit: {
      args: [],
      flags: ["file", "goal", "constraints", "name", "dry-run", "follow"],
      summary: "submit a plan (steps from a file, or a goal)",
      run: async (c) => {
        const { file, goal, constraints, name } = c.values;
        if ((file === undefined) === (goal === undefined)) throw new UsageError("plans submit needs --file or --goal");
        if (constraints !== undefined && goal === undefined) throw new UsageError("--constraints goes with --goal");
        const fromFile = file === undefined ? {} : objectFile(file);
        const input = {
          ...fromFile,
          ...(goal === undefined ? {} : { goal }),
          ...(constraints === undefined ? {} : { constraints: jsonFlag("constraints", constraints) as object }),
          ...(name === undefined ? {} : { name }),
        };
        if (c.values["dry-run"]) {
          const preview = await c.client.plans.preview(input);
          return show(c, preview, () => pretty(preview));
        }
        const plan = await c.client.plans.create(input);
        if (c.values.follow) return followPlan(c, plan);
        return show(c, plan, () => planText(plan));
      },
    },
    list: {
      args: [],
      flags: ["status", ...LIST],
      summary: "plans newest first",
      run: async (c) => {
        const result = await c.client.plans.list({
          ...listQuery(c.values),
          ...(c.values.status === undefined ? {} : { status: c.values.status as PlanSummary["status"] }),
        });
        return show(c, result, () =>
          page(result, ["ID", "NAME", "STATUS", "RUN", "CREATED"], (p) => [
            p.id,
            p.name,
            p.status,
            String(p.run),
            p.createdAt,
          ]),
        );
      },
    },
    ...Object.fromEntries(
      (["get", "cancel", "retry"] as const).map((name) => [
        name,
        {
          args: ["id"],
          flags: [],
          summary: { get: "a plan with its steps", cancel: "cancel a plan", retry: "run a failed plan again" }[name],
          run: async (c: Call) => {
            const plan = await c.client.plans[name](c.args[0] ?? "");
            return show(c, plan, () => planText(plan));
          },
        } satisfies Command,
      ]),
    ),
    ...Object.fromEntries(
      (["approve", "reject"] as const).map((name) => [
        name,
        {
          args: ["id", "stepId"],
          flags: ["comment"],
          summary: `${name} an approval gate`,
          run: async (c: Call) => {
            const plan = await c.client.plans[name](c.args[0] ?? "", c.args[1] ?? "", c.values.comment);
            return show(c, plan, () => planText(plan));
          },
        } satisfies Command,
      ]),
    ),
  },
  failures: {
    list: {
      args: [],
      flags: ["agent", "status", ...LIST],
      summary: "the failures inbox, newest first",
      run: async (c) => {
        const result = await c.client.failures.list({
          ...listQuery(c.values),
          ...(c.values.agent === undefined ? {} : { agentId: c.values.agent }),
          ...(c.values.status === undefined ? {} : { status: c.values.status as Failure["status"] }),
        });
        return show(c, result, () => page(result, FAILURE_HEADER, failureRow));
      },
    },
    get: {
      args: ["id"],
      flags: [],
      summary: "one failure",
      run: async (c) => {
        const failure = await c.client.failures.get(c.args[0] ?? "");
        return show(c, failure, () => `${table([failureRow(failure)], FAILURE_HEADER)}\n${failure.error.message}`);
      },
    },
    redrive: {
      args: ["id"],
      flags: ["params"],
      summary: "run a failed task again (params optionally edited)",
      run: async (c) => {
        const params = c.values.params === undefined ? {} : { params: jsonFlag("params", c.values.params) };
        const result = await c.client.failures.redrive(c.args[0] ?? "", params);
        return show(c, result, () =>
          result.task ? `redriven as ${taskText(result.task)}` : "the message was put back on its queue",
        );
      },
    },
    "redrive-all": {
      args: [],
      flags: ["agent", "max"],
      summary: "redrive an agent's open failures",
      run: async (c) => {
        if (c.values.agent === undefined) throw new UsageError("failures redrive-all needs --agent");
        const result = await c.client.failures.redriveAgent(c.values.agent, intFlag("max", c.values.max));
        return show(c, result, () =>
          [
            `redriven: ${result.redriven.length}`,
            ...result.redriven.map((r) => `  ${r.failureId} → ${r.taskId ?? "queue"}`),
            `skipped: ${result.skipped.length}`,
            ...result.skipped.map((r) => `  ${r.failureId}: ${r.code}: ${r.message}`),
          ].join("\n"),
        );
      },
    },
  },
  schedules: {
    create: {
      args: [],
      flags: ["file", "name", "cron", "rate", "timezone", "agent", "action", "params", "disabled"],
      summary: "create a schedule",
      run: async (c) => {
        const v = c.values;
        const input = (v.file === undefined ? {} : objectFile(v.file)) as Partial<CreateScheduleInput>;
        if (v.agent !== undefined || v.action !== undefined) {
          if (v.agent === undefined || v.action === undefined)
            throw new UsageError("a task target needs --agent and --action");
          const params = v.params === undefined ? {} : { params: jsonFlag("params", v.params) };
          input.target = { type: "task", agentId: v.agent, action: v.action, ...params };
        } else if (v.params !== undefined) {
          throw new UsageError("--params goes with --agent and --action");
        }
        if (v.name !== undefined) input.name = v.name;
        if (v.cron !== undefined) input.cron = v.cron;
        if (v.rate !== undefined) input.rate = v.rate;
        if (v.timezone !== undefined) input.timezone = v.timezone;
        if (v.disabled) input.enabled = false;
        if (!input.name || !input.target) {
          throw new UsageError("schedules create needs --file, or --name, --cron or --rate, --agent and --action");
        }
        const schedule = await c.client.schedules.create(input as CreateScheduleInput);
        return show(c, schedule, () => table([scheduleRow(schedule)], SCHEDULE_HEADER));
      },
    },
    list: {
      args: [],
      flags: LIST,
      summary: "schedules",
      run: async (c) => {
        const result = await c.client.schedules.list(listQuery(c.values));
        return show(c, result, () => page(result, SCHEDULE_HEADER, scheduleRow));
      },
    },
    get: {
      args: ["id"],
      flags: [],
      summary: "a schedule with its recent runs",
      run: async (c) => {
        const schedule = await c.client.schedules.get(c.args[0] ?? "");
        return show(c, schedule, () => {
          const runs = schedule.recentRuns.map((r) => [r.at, r.trigger, r.outcome, r.taskId ?? r.planId ?? "-"]);
          const recent = runs.length ? table(runs, ["AT", "TRIGGER", "OUTCOME", "STARTED"]) : "(no runs yet)";
          return `${table([scheduleRow(schedule)], SCHEDULE_HEADER)}\n\n${recent}`;
        });
      },
    },
    update: {
      args: ["id"],
      flags: ["file", "name", "cron", "rate", "timezone", "enabled"],
      summary: "change a schedule",
      run: async (c) => {
        const v = c.values;
        const changes = (v.file === undefined ? {} : objectFile(v.file)) as Partial<CreateScheduleInput>;
        if (v.name !== undefined) changes.name = v.name;
        if (v.cron !== undefined) changes.cron = v.cron;
        if (v.rate !== undefined) changes.rate = v.rate;
        if (v.timezone !== undefined) changes.timezone = v.timezone;
        if (v.enabled !== undefined) {
          if (v.enabled !== "true" && v.enabled !== "false") throw new UsageError("--enabled is true or false");
          changes.enabled = v.enabled === "true";
        }
        const schedule = await c.client.schedules.update(c.args[0] ?? "", changes);
        return show(c, schedule, () => table([scheduleRow(schedule)], SCHEDULE_HEADER));
      },
    },
    delete: {
      args: ["id"],
      flags: [],
      summary: "delete a schedule",
      run: async (c) => {
        const deleted = await c.client.schedules.delete(c.args[0] ?? "");
        return show(c, deleted, () => `deleted ${deleted.id}`);
      },
    },
    preview: {
      args: [],
      flags: ["cron", "rate", "timezone", "count"],
      summary: "an expression as it would be stored, and its next runs (nothing is created)",
      run: async (c) => {
        const { cron, rate, timezone, count } = c.values;
        if ((cron === undefined) === (rate === undefined)) throw new UsageError("give --cron or --rate");
        const preview = await c.client.schedules.preview({
          ...(cron === undefined ? {} : { cron }),
          ...(rate === undefined ? {} : { rate }),
          ...(timezone === undefined ? {} : { timezone }),
          ...(count === undefined ? {} : { count: intFlag("count", count) }),
        });
        return show(c, preview, () =>
          [`${preview.cron ?? preview.rate} ${preview.timezone}`, ...preview.nextRuns].join("\n"),
        );
      },
    },
    "run-now": {
      args: ["id"],
      flags: [],
      summary: "run a schedule's target now",
      run: async (c) => {
        const run = await c.client.schedules.runNow(c.args[0] ?? "");
        return show(c, run, () =>
          [`${run.outcome}${run.taskId ? ` task ${run.taskId}` : ""}${run.planId ? ` plan ${run.planId}` : ""}`]
            .concat(run.error ? [`error: ${run.error.code}: ${run.error.message}`] : [])
            .join("\n"),
        );
      },
    },
  },
  keys: {
    create: {
      args: [],
      flags: ["name", "role", "agent", "expires", "rate-limit"],
      summary: "create an API key (shown once)",
      run: async (c) => {
        const { name, role, agent, expires } = c.values;
        if (name === undefined || role === undefined) throw new UsageError("keys create needs --name and --role");
        const rate = intFlag("rate-limit", c.values["rate-limit"]);
        const key = await c.client.keys.create({
          name,
          role: role as ApiKey["role"],
          ...(agent === undefined ? {} : { agentId: agent }),
          ...(expires === undefined ? {} : { expiresAt: expires }),
          ...(rate === undefined ? {} : { rateLimitPerMinute: rate }),
        });
        return show(c, key, () => `${keyText(key)}\nkey: ${key.key}\n(the key is shown this once; keep it now)`);
      },
    },
    list: {
      args: [],
      flags: LIST,
      summary: "API keys, newest first",
      run: async (c) => {
        const result = await c.client.keys.list(listQuery(c.values));
        return show(c, result, () => page(result, ["ID", "NAME", "ROLE", "AGENT", "CREATED", ""], keyRow));
      },
    },
    get: {
      args: ["id"],
      flags: [],
      summary: "one key",
      run: async (c) => {
        const key = await c.client.keys.get(c.args[0] ?? "");
        return show(c, key, () => keyText(key));
      },
    },
    revoke: {
      args: ["id"],
      flags: [],
      summary: "revoke a key for good",
      run: async (c) => {
        const key = await c.client.keys.revoke(c.args[0] ?? "");
        return show(c, key, () => keyText(key));
      },
    },
  },
};

const count = (n: number) => n.toLocaleString("en-US");
const progressLine = (c: Call, text: string, done: boolean) => {
  if (c.json) return;
  const tty = c.io.stdout.isTTY === true;
  c.io.stderr.write(tty ? `\r${text}${done ? "\n" : ""}` : `${text}\n`);
};

function requireFile(c: Call): string {
  const file = c.values.file;
  if (!file) throw new UsageError("--file is required");
  return file;
}

/** A backup file that cannot be used (missing, incomplete, in the way): exit 1 with its code, as an API error. */
async function withFile(c: Call, work: () => Promise<number>): Promise<number> {
  try {
    return await work();
  } catch (error) {
    if (!(error instanceof BackupFileError)) throw error;
    c.io.stderr.write(
      c.json
        ? `${JSON.stringify({ error: { code: error.code, message: error.message } })}\n`
        : `error: ${error.code}: ${error.message}\n`,
    );
    return EXIT.apiError;
  }
}

COMMANDS.backup = {
  export: {
    args: [],
    flags: ["file"],
    summary: "export the whole deployment as JSON Lines (resumable)",
    run: (c) =>
      withFile(c, async () => {
        const file = requireFile(c);
        const done = await exportToFile(c.client, file, {
          onProgress: (p) =>
            progressLine(c, `${p.resumed ? "resumed: " : ""}${count(p.lines)} lines, ${count(p.pages)} pages`, p.done),
        });
        return show(
          c,
          { file, ...done },
          () => `exported backup ${done.backupId} to ${file} (${count(done.lines)} lines)`,
        );
      }),
  },
  import: {
    args: [],
    flags: ["file", "force"],
    summary: "import a backup file into an empty deployment (resumable)",
    run: (c) =>
      withFile(c, async () => {
        const file = requireFile(c);
        const totals = await importFromFile(c.client, file, {
          force: c.values.force === true,
          onProgress: (p) => progressLine(c, `${count(p.line)} of ${count(p.lines)} lines`, p.done),
        });
        return show(c, totals, () => {
          const rows = Object.entries(totals.expected).map(([entity, n]) => [
            entity,
            count(n),
            count(totals.restored[entity] ?? 0),
          ]);
          const notes = [
            totals.existing ? `${count(totals.existing)} items were there already (a resumed or repeated import)` : "",
            totals.omittedObjects ? `${count(totals.omittedObjects)} payload objects are not in the file (README)` : "",
            totals.resumedPlans ? `${count(totals.resumedPlans)} open plan runs resumed` : "",
          ].filter(Boolean);
          return [
            `imported backup ${totals.backupId}`,
            table(rows, ["ENTITY", "IN BACKUP", "RESTORED NOW"]),
            ...notes,
          ].join("\n");
        });
      }),
  },
};

// ── entry ─────────────────────────────────────────────────────────────────────────────────────────

function usageOf(group?: string): string {
  if (!group || !COMMANDS[group]) return USAGE;
  const lines = USAGE.split("\n").filter((line, i, all) => {
    const command = /^ {2}\S/.test(line) ? line : all.slice(0, i).findLast((l) => /^ {2}\S/.test(l));
    return /^ {2}/.test(line) && (command ?? "").startsWith(`  ${group} `);
  });
  const text = lines.map((line) => (/^ {2}\S/.test(line) ? `  nexus ${line.trim()}` : `      ${line}`));
  return `usage:\n${text.join("\n")}\n\nnexus --help for the flags every command takes\n`;
}

function errorText(error: NexusApiError | NexusNetworkError, json: boolean): string {
  if (json) {
    const status = error instanceof NexusApiError ? error.status : undefined;
    const details = error instanceof NexusApiError ? error.details : undefined;
    const requestId = error instanceof NexusApiError ? error.requestId : undefined;
    return JSON.stringify({ error: { code: error.code, message: error.message, status, details, requestId } });
  }
  let text = `error: ${error.code}: ${error.message}`;
  if (error instanceof NexusApiError) {
    if (Array.isArray(error.details)) {
      for (const d of error.details as Array<{ path?: string; message?: string }>) {
        text += `\n  ${d.path ?? ""}: ${d.message ?? JSON.stringify(d)}`;
      }
    } else if (error.details !== undefined) {
      text += `\n  ${JSON.stringify(error.details)}`;
    }
    if (error.requestId) text += `\n  (request ${error.requestId})`;
  }
  return text;
}

/** Runs one CLI invocation; returns its exit code (0 ok, 1 API error, 2 usage). */
export async function run(argv: string[], io: CliIO): Promise<number> {
  let values: Values;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true }));
  } catch (error) {
    io.stderr.write(`${(error as Error).message}\n\n${USAGE}`);
    return EXIT.usage;
  }
  const [group, name, ...args] = positionals;
  const command = group && name ? COMMANDS[group]?.[name] : undefined;
  if (values.help) {
    io.stdout.write(usageOf(group));
    return EXIT.ok;
  }
  const json = values.json === true;
  try {
    if (!command) {
      throw new UsageError(group ? `unknown command: ${[group, name].filter(Boolean).join(" ")}` : "no command given");
    }
    if (args.length !== command.args.length) {
      throw new UsageError(`${group} ${name} takes ${command.args.map((a) => `<${a}>`).join(" ") || "no arguments"}`);
    }
    const extra = (Object.keys(values) as Flag[]).find(
      (flag) => !COMMON.includes(flag) && !command.flags.includes(flag),
    );
    if (extra) throw new UsageError(`${group} ${name} does not take --${extra}`);
    const key = values.key ?? io.env.NEXUS_API_KEY;
    if (!key) throw new UsageError("no API key: pass --key or set NEXUS_API_KEY");
    const url = values.url ?? io.env.NEXUS_URL ?? DEFAULT_URL;
    if (!/^https?:\/\/[^\s/]/.test(url)) throw new UsageError(`--url must be an http(s) URL, not '${url}'`);
    const client = new NexusClient({ url, key, ...(io.fetch ? { fetch: io.fetch } : {}) });
    return await command.run({ client, io, json, values, args });
  } catch (error) {
    if (error instanceof UsageError) {
      io.stderr.write(`${error.message}\n\n${usageOf(command ? group : undefined)}`);
      return EXIT.usage;
    }
    if (error instanceof NexusApiError || error instanceof NexusNetworkError) {
      io.stderr.write(`${errorText(error, json)}\n`);
      return EXIT.apiError;
    }
    throw error;
  }
}
