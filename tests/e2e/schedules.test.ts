import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as Schedules from "@nexus/core/schedules";
import { type LocalNexus, startLocal } from "@nexus/local";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { apiClient, type Json } from "../support/client.js";
import { manualClock } from "../support/context.js";
import { useLocalNexus } from "../support/local.js";

const MINUTE = 60_000;
// A Monday morning; the test moves the clock by hand and fires due schedules with `scheduler.tick()`.
const clock = manualClock(new Date("2026-03-02T08:00:00Z"));
const local = useLocalNexus({ now: clock.now, scheduleIntervalMs: 0, sweepIntervalMs: 3_600_000 });

/** Moves the clock to `at` (ISO), then fires what is due. */
async function tickAt(at: string) {
  clock.advance(Date.parse(at) - clock.now().getTime());
  return local.nexus.scheduler.tick();
}

let n = 0;
const created: string[] = [];
async function createSchedule(body: Json) {
  const reply = await local.api.post("/v1/schedules", { name: `schedule-${++n}`, ...body });
  expect(reply.status, JSON.stringify(reply.body)).toBe(201);
  created.push(reply.body.id);
  return reply.body;
}
const getSchedule = async (id: string) => (await local.api.get(`/v1/schedules/${id}`)).body;
const echo = (params: Json = {}) => ({ type: "task", agentId: "diag", action: "echo", params });

beforeAll(async () => {
  // A custom agent with no worker: its tasks stay queued (an unfinished previous run).
  const idle = await local.api.post("/v1/agents", { name: "idle", actions: [{ name: "work" }] });
  expect(idle.status).toBe(201);
});

// Every test's schedules go with it, so the next test's clock moves fire only its own.
afterEach(async () => {
  for (const id of created.splice(0)) await local.api.delete(`/v1/schedules/${id}`);
});

describe("creating schedules", () => {
  it("creates cron and rate schedules showing their next run and no last run", async () => {
    const daily = await createSchedule({ cron: "cron(0 9 * * ? *)", target: echo({ hello: "world" }) });
    expect(daily).toMatchObject({
      cron: "cron(0 9 * * ? *)",
      rate: null,
      timezone: "UTC",
      enabled: true,
      overlap: "skip",
      nextRunAt: "2026-03-02T09:00:00.000Z",
      lastRun: null,
      runs: 0,
      missedRuns: 0,
      createdBy: "bootstrap",
      target: { type: "task", agentId: "diag", action: "echo", params: { hello: "world" } },
    });
    // 09:00 in New York is 14:00 UTC until DST starts there on March 8, 13:00 UTC after.
    const ny = await createSchedule({ cron: "0 9 ? * MON-FRI *", timezone: "America/New_York", target: echo() });
    expect(ny).toMatchObject({ cron: "cron(0 9 ? * MON-FRI *)", nextRunAt: "2026-03-02T14:00:00.000Z" });
    const every = await createSchedule({ rate: "rate(5 minutes)", target: echo() });
    expect(every).toMatchObject({ cron: null, rate: "rate(5 minutes)", nextRunAt: "2026-03-02T08:05:00.000Z" });

    const one = await local.api.get(`/v1/schedules/${daily.id}`);
    expect(one.status).toBe(200);
    expect(one.body).toMatchObject({ id: daily.id, nextRunAt: daily.nextRunAt, recentRuns: [] });
    const page = await local.api.get("/v1/schedules?limit=100");
    expect(page.body.items.map((s: Json) => s.id)).toEqual(expect.arrayContaining([daily.id, ny.id, every.id]));
  });

  it("takes five-field Unix cron, storing the EventBridge form that runs at the same times, with the next runs", async () => {
    // 2026-03-02 is a Monday; the clock is at 08:00 UTC or later that week.
    const weekdays = await createSchedule({ cron: "0 9 * * 1-5", target: echo() });
    expect(weekdays).toMatchObject({ cron: "cron(0 9 ? * MON-FRI *)", unixCron: "0 9 * * 1-5", rate: null });
    expect(weekdays.nextRuns).toHaveLength(5);
    expect(weekdays.nextRuns[0]).toBe(weekdays.nextRunAt);
    for (const run of weekdays.nextRuns) {
      expect(new Date(run).getUTCHours()).toBe(9);
      expect([1, 2, 3, 4, 5]).toContain(new Date(run).getUTCDay());
    }
    const fiveMinutes = await createSchedule({ cron: "*/5 * * * *", target: echo() });
    expect(fiveMinutes.cron).toBe("cron(*/5 * * * ? *)");
    const gaps = fiveMinutes.nextRuns
      .slice(1)
      .map((run: string, i: number) => Date.parse(run) - Date.parse(fiveMinutes.nextRuns[i]));
    expect(gaps).toEqual([5, 5, 5, 5].map((m) => m * MINUTE));
    const daily = await createSchedule({ cron: "@daily", target: echo() });
    expect(daily).toMatchObject({ cron: "cron(0 0 * * ? *)", unixCron: "@daily" });

    // Shown the same way when read and listed; an EventBridge expression has no Unix form.
    expect(await getSchedule(weekdays.id)).toMatchObject({ nextRuns: weekdays.nextRuns, unixCron: "0 9 * * 1-5" });
    const listed = (await local.api.get("/v1/schedules?limit=100")).body.items.find((s: Json) => s.id === daily.id);
    expect(listed).toMatchObject({ cron: daily.cron, nextRuns: daily.nextRuns });
    const plain = await createSchedule({ cron: "cron(0 9 * * ? *)", target: echo() });
    expect(plain.unixCron).toBeNull();

    // PATCH: a Unix expression replaces the cron; a rate or an EventBridge expression drops the Unix form.
    const patched = await local.api.raw("PATCH", `/v1/schedules/${plain.id}`, { cron: "30 6 * * 0" });
    expect(patched.body).toMatchObject({ cron: "cron(30 6 ? * SUN *)", unixCron: "30 6 * * 0" });
    expect(new Date(patched.body.nextRunAt).getUTCDay()).toBe(0);
    const rate = await local.api.raw("PATCH", `/v1/schedules/${plain.id}`, { rate: "rate(1 hour)" });
    expect(rate.body).toMatchObject({ cron: null, unixCron: null, rate: "rate(1 hour)" });
    // Disabled: no next run, no next runs.
    const off = await local.api.raw("PATCH", `/v1/schedules/${plain.id}`, { enabled: false });
    expect(off.body).toMatchObject({ nextRunAt: null, nextRuns: [] });

    // Both day fields set means "either" in Unix cron: refused, naming the two schedules that do it.
    const either = await local.api.post("/v1/schedules", { name: `either-${++n}`, cron: "0 9 1 * 1", target: echo() });
    expect(either.status).toBe(400);
    expect(either.body.error.details[0]).toMatchObject({ path: "cron" });
    expect(either.body.error.details[0].message).toMatch(/'0 9 1 \* \*' and '0 9 \* \* 1'/);
  });

  it("refuses what would certainly fail, with a 400 naming the field, and stores nothing", async () => {
    const before = (await local.api.get("/v1/schedules?limit=100")).body.items.length;
    const cases: Array<[Json, string, RegExp]> = [
      [{ cron: "cron(0 9 * * *)", target: echo() }, "cron", /6 fields/],
      [{ cron: "cron(0 9 * * * *)", target: echo() }, "cron", /use '\?' in one of them/],
      [{ cron: "cron(61 9 * * ? *)", target: echo() }, "cron", /minutes: 61 is out of range/],
      [{ cron: "cron(0 9 1 1 ? 2020)", target: echo() }, "cron", /no run after now/],
      [{ rate: "rate(30 seconds)", target: echo() }, "rate", /shortest rate is 1 minute/],
      [{ target: echo() }, "cron", /exactly one of cron or rate/],
      [{ cron: "cron(0 9 * * ? *)", rate: "rate(5 minutes)", target: echo() }, "cron", /exactly one/],
      [{ cron: "cron(0 9 * * ? *)", timezone: "Mars/Olympus", target: echo() }, "timezone", /IANA/],
      [{ rate: "rate(1 hour)", target: { ...echo(), agentId: "nobody" } }, "target.agentId", /unknown agent/],
      [{ rate: "rate(1 hour)", target: { ...echo(), action: "fly" } }, "target.action", /no action 'fly'/],
      [
        { rate: "rate(1 hour)", target: { type: "task", agentId: "diag", action: "sleep", params: { ms: "long" } } },
        "target.params.ms",
        /number/i,
      ],
      [
        {
          rate: "rate(1 hour)",
          target: { type: "plan", steps: [{ id: "a", agentId: "diag", action: "echo", dependsOn: ["ghost"] }] },
        },
        "target.steps.0.dependsOn.0",
        /unknown step 'ghost'/,
      ],
      [
        { rate: "rate(1 hour)", target: { type: "plan", steps: [{ id: "a", agentId: "nobody", action: "echo" }] } },
        "target.steps.0.agentId",
        /unknown agent/,
      ],
      [{ rate: "rate(1 hour)", target: { type: "plan" } }, "target.steps", /give steps, or a goal/],
    ];
    for (const [body, field, message] of cases) {
      const reply = await local.api.post("/v1/schedules", { name: `refused-${++n}`, ...body });
      const label = `${JSON.stringify(body)} → ${reply.status} ${JSON.stringify(reply.body)}`;
      expect(reply.status, label).toBe(400);
      expect(reply.body.error.code, label).toBe("validation_error");
      const issue = reply.body.error.details.find((d: Json) => d.path === field);
      expect(issue, label).toBeDefined();
      expect(issue.message, label).toMatch(message);
    }
    expect((await local.api.get("/v1/schedules?limit=100")).body.items.length).toBe(before);
  });

  it("keeps names unique", async () => {
    const first = await createSchedule({ name: "nightly-report", rate: "rate(1 day)", target: echo() });
    const again = await local.api.post("/v1/schedules", {
      name: "Nightly-Report",
      rate: "rate(1 day)",
      target: echo(),
    });
    expect(again.status).toBe(409);
    expect(again.body.error.code).toBe("schedule_name_taken");
    // Freed by deleting: the name can be used again.
    expect((await local.api.delete(`/v1/schedules/${first.id}`)).status).toBe(200);
    await createSchedule({ name: "nightly-report", rate: "rate(1 day)", target: echo() });
  });
});

describe("previewing expressions", () => {
  const preview = (body: Json) => local.api.post("/v1/schedules/preview", body);

  it("shows the stored form and the next runs from now, creating nothing", async () => {
    const before = (await local.api.get("/v1/schedules?limit=100")).body.items.length;
    const now = clock.now();
    // The next five 09:00s on weekdays from now, in UTC, computed here by hand.
    const weekdays: string[] = [];
    for (let day = 0; weekdays.length < 5; day++) {
      const at = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() + day, 9));
      if (at > now && at.getUTCDay() >= 1 && at.getUTCDay() <= 5) weekdays.push(at.toISOString());
    }
    const cron = await preview({ cron: "0 9 ? * MON-FRI *" });
    expect(cron.status, JSON.stringify(cron.body)).toBe(200);
    expect(cron.body).toEqual({ cron: "cron(0 9 ? * MON-FRI *)", timezone: "UTC", nextRuns: weekdays });

    const rate = await preview({ rate: "rate(2 hours)", count: 3 });
    expect(rate.status).toBe(200);
    const hours = [1, 2, 3].map((k) => new Date(now.getTime() + k * 2 * 3_600_000).toISOString());
    expect(rate.body).toEqual({ rate: "rate(2 hours)", timezone: "UTC", nextRuns: hours });

    // The runs a created schedule would have are the preview's.
    const created = await createSchedule({ cron: "cron(30 7 ? * MON-FRI *)", timezone: "Asia/Tokyo", target: echo() });
    const same = await preview({ cron: "cron(30 7 ? * MON-FRI *)", timezone: "Asia/Tokyo", count: 20 });
    expect(same.body.nextRuns).toHaveLength(20);
    expect(same.body.nextRuns[0]).toBe(created.nextRunAt);
    expect((await local.api.get("/v1/schedules?limit=100")).body.items.length).toBe(before + 1);
  });

  it("previews Unix cron as the EventBridge expression it will be stored as", async () => {
    const reply = await preview({ cron: "*/20 * * * *", count: 3 });
    expect(reply.status).toBe(200);
    const start = Math.floor(clock.now().getTime() / (20 * MINUTE)) * 20 * MINUTE;
    expect(reply.body).toEqual({
      cron: "cron(*/20 * * * ? *)",
      unixCron: "*/20 * * * *",
      timezone: "UTC",
      nextRuns: [1, 2, 3].map((k) => new Date(start + k * 20 * MINUTE).toISOString()),
    });
  });

  it("refuses bad input with a 400 naming the field", async () => {
    const cases: Array<[Json, string, RegExp]> = [
      [{ cron: "cron(61 9 * * ? *)" }, "cron", /minutes: 61 is out of range/],
      [{ cron: "0 9 1 * MON" }, "cron", /both set/],
      [{ cron: "0 9 L * *" }, "cron", /not Unix cron/],
      [{ cron: "cron(0 9 1 1 ? 2020)" }, "cron", /no run after now/],
      [{ rate: "rate(30 seconds)" }, "rate", /shortest rate/],
      [{}, "cron", /exactly one of cron or rate/],
      [{ cron: "cron(0 9 * * ? *)", rate: "rate(1 hour)" }, "cron", /exactly one/],
      [{ rate: "rate(1 hour)", timezone: "Mars/Olympus" }, "timezone", /IANA/],
      [{ rate: "rate(1 hour)", count: 21 }, "count", /20/],
      [{ rate: "rate(1 hour)", count: 0 }, "count", /1/],
      [{ rate: "rate(1 hour)", count: 2.5 }, "count", /int/i],
      [{ rate: "rate(1 hour)", target: echo() }, "(body)", /Unrecognized key: "target"/],
    ];
    for (const [body, field, message] of cases) {
      const reply = await preview(body);
      const label = `${JSON.stringify(body)} → ${reply.status} ${JSON.stringify(reply.body)}`;
      expect(reply.status, label).toBe(400);
      const issue = reply.body.error.details?.find((d: Json) => d.path === field);
      expect(issue, label).toBeDefined();
      expect(issue.message, label).toMatch(message);
    }
  });
});

describe("firing", () => {
  it("fires at its scheduled time: the task runs and the schedule shows its last and next run", async () => {
    const schedule = await createSchedule({ cron: "cron(* * * * ? *)", target: echo({ ping: 1 }) });
    expect((await tickAt(new Date(Date.parse(schedule.nextRunAt) - 1000).toISOString())).length).toBe(0);
    const [fired] = await tickAt(schedule.nextRunAt);
    expect(fired?.fired[0]?.run).toMatchObject({ outcome: "started", scheduledAt: schedule.nextRunAt });
    const taskId = String(fired?.fired[0]?.run?.taskId);
    const task = await local.api.waitForTask(taskId);
    expect(task).toMatchObject({ status: "succeeded", result: { ping: 1 }, agentId: "diag", action: "echo" });

    const after = await getSchedule(schedule.id);
    expect(after).toMatchObject({
      runs: 1,
      nextRunAt: new Date(Date.parse(schedule.nextRunAt) + MINUTE).toISOString(),
      lastRun: {
        scheduledAt: schedule.nextRunAt,
        trigger: "schedule",
        outcome: "started",
        taskId,
        planId: null,
        status: "succeeded",
      },
    });
    expect(after.recentRuns).toEqual([expect.objectContaining({ outcome: "started", taskId })]);
  });

  it("runs a plan target as a plan", async () => {
    const schedule = await createSchedule({
      rate: "rate(10 minutes)",
      target: {
        type: "plan",
        name: "scheduled chain",
        steps: [
          { id: "first", agentId: "diag", action: "echo", params: { n: 1 } },
          {
            id: "second",
            agentId: "diag",
            action: "echo",
            params: { got: "{{steps.first.result.n}}" },
            dependsOn: ["first"],
          },
        ],
      },
    });
    const [fired] = await tickAt(schedule.nextRunAt);
    const planId = String(fired?.fired[0]?.run?.planId);
    expect(planId).toMatch(/^pln_/);
    const plan = await local.api.waitForPlan(planId);
    expect(plan).toMatchObject({ status: "succeeded", name: "scheduled chain", createdBy: `schedule:${schedule.id}` });
    expect(plan.steps.find((s: Json) => s.id === "second").result).toEqual({ got: 1 });
    expect((await getSchedule(schedule.id)).lastRun).toMatchObject({ planId, taskId: null, status: "succeeded" });
  });

  it("starts one task for one scheduled time, however often it is delivered", async () => {
    const schedule = await createSchedule({ rate: "rate(1 hour)", target: echo({ once: true }) });
    const scheduledAt = new Date(schedule.nextRunAt);
    const { ctx } = local.nexus;
    // EventBridge Scheduler delivers at least once: concurrent and later duplicates of the same time.
    const results = await Promise.all([1, 2, 3].map(() => Schedules.fire(ctx, schedule.id, { scheduledAt })));
    results.push(await Schedules.fire(ctx, schedule.id, { scheduledAt }));
    expect(results.filter((r) => r.status === "recorded")).toHaveLength(1);
    expect(results.filter((r) => r.status === "duplicate")).toHaveLength(3);
    const taskId = results.find((r) => r.status === "recorded")?.run?.taskId;
    expect(results.at(-1)?.run?.taskId).toBe(taskId);

    const tasks = (await local.api.get("/v1/tasks?agentId=diag&limit=100")).body.items;
    const key = `schedule:${schedule.id}:${scheduledAt.toISOString()}`;
    expect(tasks.filter((t: Json) => t.idempotencyKey === key).map((t: Json) => t.id)).toEqual([taskId]);
    expect((await getSchedule(schedule.id)).runs).toBe(1);
  });

  it("skips a run while the previous one is unfinished (overlap skip), and runs it with overlap allow", async () => {
    const target = { type: "task", agentId: "idle", action: "work" };
    const skip = await createSchedule({ cron: "cron(0/5 * * * ? *)", target });
    const allow = await createSchedule({ cron: "cron(0/5 * * * ? *)", target, overlap: "allow" });
    await tickAt(skip.nextRunAt);
    const firstTask = (await getSchedule(skip.id)).lastRun.taskId;
    expect((await local.api.get(`/v1/tasks/${firstTask}`)).body.status).toBe("queued");

    await tickAt(new Date(Date.parse(skip.nextRunAt) + 5 * MINUTE).toISOString());
    const skipped = await getSchedule(skip.id);
    expect(skipped.lastRun).toMatchObject({
      outcome: "skipped",
      taskId: null,
      error: { code: "previous_run_unfinished", message: expect.stringContaining(firstTask) },
    });
    expect(skipped.runs).toBe(2);
    expect(skipped.recentRuns.map((r: Json) => r.outcome)).toEqual(["skipped", "started"]);
    const allowed = await getSchedule(allow.id);
    expect(allowed.recentRuns.map((r: Json) => r.outcome)).toEqual(["started", "started"]);

    // Once the previous task is over, the next run starts again.
    expect((await local.api.post(`/v1/tasks/${firstTask}/cancel`)).status).toBe(200);
    await tickAt(new Date(Date.parse(skip.nextRunAt) + 10 * MINUTE).toISOString());
    expect((await getSchedule(skip.id)).lastRun).toMatchObject({ outcome: "started", taskId: expect.any(String) });
  });

  it("records a run whose target refuses it as failed", async () => {
    const agent = await local.api.post("/v1/agents", { name: "short-lived", actions: [{ name: "work" }] });
    expect(agent.status).toBe(201);
    const schedule = await createSchedule({
      rate: "rate(1 hour)",
      target: { type: "task", agentId: "short-lived", action: "work" },
    });
    expect((await local.api.delete("/v1/agents/short-lived")).status).toBe(200);
    await tickAt(schedule.nextRunAt);
    expect((await getSchedule(schedule.id)).lastRun).toMatchObject({
      outcome: "failed",
      taskId: null,
      error: { code: "not_found" },
    });
  });

  it("does not fire a disabled schedule; enabling it computes its next run from now", async () => {
    const schedule = await createSchedule({ cron: "cron(0/15 * * * ? *)", target: echo(), enabled: false });
    expect(schedule.nextRunAt).toBeNull();
    const now = clock.now().getTime();
    expect(await tickAt(new Date(now + 60 * MINUTE).toISOString())).toEqual([]);
    expect(await getSchedule(schedule.id)).toMatchObject({ runs: 0, lastRun: null });

    const enabled = await local.api.raw("PATCH", `/v1/schedules/${schedule.id}`, { enabled: true });
    expect(enabled.status).toBe(200);
    const next = Date.parse(enabled.body.nextRunAt);
    expect(next).toBeGreaterThan(clock.now().getTime());
    expect(next - clock.now().getTime()).toBeLessThanOrEqual(15 * MINUTE);
  });
});

describe("changing schedules", () => {
  it("recomputes the next run when the cron, time zone or rate changes", async () => {
    const schedule = await createSchedule({ cron: "cron(0 12 * * ? *)", target: echo() });
    const day = clock.now().toISOString().slice(0, 10);
    const patch = (body: Json) => local.api.raw("PATCH", `/v1/schedules/${schedule.id}`, body);

    const later = await patch({ cron: "cron(30 23 * * ? *)" });
    expect(later.status).toBe(200);
    expect(later.body).toMatchObject({ cron: "cron(30 23 * * ? *)", nextRunAt: `${day}T23:30:00.000Z` });
    // 23:30 in Tokyo (UTC+9) is 14:30 UTC.
    const tokyo = await patch({ timezone: "Asia/Tokyo" });
    expect(tokyo.body.nextRunAt).toMatch(/T14:30:00.000Z$/);
    const rate = await patch({ rate: "rate(2 hours)", name: "renamed-schedule", overlap: "allow" });
    expect(rate.body).toMatchObject({
      name: "renamed-schedule",
      cron: null,
      rate: "rate(2 hours)",
      overlap: "allow",
      nextRunAt: new Date(clock.now().getTime() + 120 * MINUTE).toISOString(),
    });
    const target = await patch({ target: echo({ v: 2 }) });
    expect(target.body.target).toEqual(echo({ v: 2 }));

    expect((await patch({ cron: "cron(0 9 * * *)" })).status).toBe(400);
    expect((await patch({ target: { ...echo(), agentId: "nobody" } })).body.error.details[0].path).toBe(
      "target.agentId",
    );
    expect((await patch({})).status).toBe(400);
    const other = await createSchedule({ rate: "rate(1 day)", target: echo() });
    const taken = await local.api.raw("PATCH", `/v1/schedules/${other.id}`, { name: "RENAMED-schedule" });
    expect(taken.status).toBe(409);
    expect((await local.api.raw("PATCH", "/v1/schedules/sch_nope", { enabled: false })).status).toBe(404);
  });

  it("runs now on request, leaving the next scheduled run as it is", async () => {
    const schedule = await createSchedule({ cron: "cron(0 6 * * ? *)", target: echo({ manual: true }) });
    const run = await local.api.post(`/v1/schedules/${schedule.id}/run-now`);
    expect(run.status).toBe(200);
    expect(run.body).toMatchObject({ scheduleId: schedule.id, trigger: "manual", outcome: "started" });
    expect((await local.api.waitForTask(run.body.taskId)).result).toEqual({ manual: true });
    const after = await getSchedule(schedule.id);
    expect(after).toMatchObject({ runs: 1, nextRunAt: schedule.nextRunAt, lastRun: { trigger: "manual" } });
    expect((await local.api.post("/v1/schedules/sch_nope/run-now")).status).toBe(404);
  });

  it("deletes a schedule: it is gone and never fires again", async () => {
    const schedule = await createSchedule({ cron: "cron(* * * * ? *)", target: echo() });
    const deleted = await local.api.delete(`/v1/schedules/${schedule.id}`);
    expect(deleted.status).toBe(200);
    expect(deleted.body).toEqual({ id: schedule.id, deleted: true });
    expect((await local.api.get(`/v1/schedules/${schedule.id}`)).status).toBe(404);
    expect((await local.api.delete(`/v1/schedules/${schedule.id}`)).status).toBe(404);
    const page = (await local.api.get("/v1/schedules?limit=100")).body.items;
    expect(page.map((s: Json) => s.id)).not.toContain(schedule.id);
    const ticked = await tickAt(schedule.nextRunAt);
    expect(ticked.map((t) => t.scheduleId)).not.toContain(schedule.id);
    // A delivery already on its way is ignored.
    const late = await Schedules.fire(local.nexus.ctx, schedule.id, { scheduledAt: new Date(schedule.nextRunAt) });
    expect(late).toEqual({ status: "ignored", reason: "not_found" });
  });
});

describe("while stopped", () => {
  const dataDir = mkdtempSync(join(tmpdir(), "nexus-schedules-"));
  const stopped = manualClock(new Date("2026-03-02T10:00:30Z"));
  const running: LocalNexus[] = [];
  const start = async () => {
    const nexus = await startLocal({
      port: 0,
      dataDir,
      logLevel: "SILENT",
      now: stopped.now,
      sweepIntervalMs: 3_600_000,
      settings: { rateLimitPerMinute: 1_000_000 },
    });
    running.push(nexus);
    return { nexus, api: apiClient(nexus.url, nexus.adminKey) };
  };
  afterAll(async () => {
    for (const nexus of running) await nexus.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it("records the runs missed while stopped without replaying them, then fires on its timer again", async () => {
    const first = await start();
    const created = await first.api.post("/v1/schedules", {
      name: "every-minute",
      cron: "cron(* * * * ? *)",
      target: echo({ tick: true }),
    });
    expect(created.body.nextRunAt).toBe("2026-03-02T10:01:00.000Z");
    await first.nexus.stop();
    running.pop();

    stopped.advance(5 * MINUTE); // 10:05:30: 10:01 … 10:05 passed while stopped
    const second = await start();
    const after = (await second.api.get(`/v1/schedules/${created.body.id}`)).body;
    expect(after).toMatchObject({
      runs: 0,
      missedRuns: 5,
      nextRunAt: "2026-03-02T10:06:00.000Z",
      lastRun: { outcome: "missed", trigger: "missed", missed: 5, scheduledAt: "2026-03-02T10:01:00.000Z" },
    });
    expect(after.lastRun.taskId).toBeNull();
    const tasks = (await second.api.get("/v1/tasks?agentId=diag&limit=100")).body.items;
    expect(tasks.filter((t: Json) => String(t.idempotencyKey).includes(created.body.id))).toEqual([]);

    // The runtime's own timer (every second) fires it once its time comes.
    stopped.advance(30_000);
    const fired = await second.api.waitUntil(
      `/v1/schedules/${created.body.id}`,
      (s) => s.lastRun?.outcome === "started",
      10_000,
    );
    expect(fired).toMatchObject({ runs: 1, missedRuns: 5, lastRun: { scheduledAt: "2026-03-02T10:06:00.000Z" } });
  });
});
