import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import type { Browser, HTTPRequest, Page } from "puppeteer-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Json } from "../support/client.js";
import { apiClient } from "../support/client.js";
import { useLocalNexus } from "../support/local.js";
import { type AxeViolation, launchBrowser, seriousViolations } from "./browser.js";

/**
 * The dashboard in a real headless Chromium against the local runtime: sign in, watch, run, approve, redrive,
 * disable; a viewer sees no write control. Every page is audited with axe-core and photographed (SHOTS).
 */
const local = useLocalNexus({
  failureIngestIntervalMs: 300,
  // Alarm periods 4× shorter than in AWS (the DLQ alarm's minute is 15 s), evaluated every 200 ms.
  alarms: { intervalMs: 200, periodScale: 1 / 4 },
});
/**
 * Where the screenshots go: docs/screenshots (shown in the README) with `NEXUS_SCREENSHOTS=update`, else a directory of
 * this run's own, removed after it, so a test run leaves the work tree as it found it (every shot holds new ids and
 * times, so its bytes change with every run).
 */
const UPDATE_SHOTS = process.env.NEXUS_SCREENSHOTS === "update";
const SHOTS = UPDATE_SHOTS
  ? fileURLToPath(new URL("../../docs/screenshots/", import.meta.url))
  : `${mkdtempSync(join(tmpdir(), "nexus-screenshots-"))}/`;

let browser: Browser;
let page: Page;
let operatorKey: string;
let viewerKey: string;
const problems: string[] = [];
const audits = new Map<string, AxeViolation[]>();

beforeAll(async () => {
  mkdirSync(SHOTS, { recursive: true });
  const admin = local.api;
  operatorKey = (await admin.post("/v1/keys", { name: "dashboard-operator", role: "operator" })).body.key;
  viewerKey = (await admin.post("/v1/keys", { name: "dashboard-viewer", role: "viewer" })).body.key;
  await local.nexus.probe();
  await admin.waitUntil("/v1/agents/diag", (agent) => agent.health?.status === "online", 30_000);
  browser = await launchBrowser();
  page = await browser.newPage();
  // Anything the page's CSP refused, or any script error, fails the suite.
  page.on("console", (message) => {
    if (message.type() === "error" && !/status of (4|5)\d\d/.test(message.text())) problems.push(message.text());
  });
  page.on("pageerror", (error) => problems.push(String(error)));
}, 120_000);

afterAll(async () => {
  await browser?.close();
  if (!UPDATE_SHOTS) rmSync(SHOTS, { recursive: true, force: true });
});

const until = async (what: string, check: () => Promise<boolean>, timeoutMs = 20_000) => {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what}: not seen within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
};
const text = (selector = "main") =>
  page.$eval(selector, (el) => (el as { textContent: string | null }).textContent ?? "").catch(() => "");
const textIncludes = (needle: string, selector = "main") =>
  until(`"${needle}" in ${selector}`, async () => (await text(selector)).includes(needle));

/** Opens a dashboard route and waits for its page to finish loading (its title set). */
async function open(route: string, title: string) {
  await page.goto(`${local.nexus.url}/#/${route}`);
  await until(`page ${route}`, async () => (await page.title()).startsWith(title));
  // A page is busy until its first load is done (the live feed's stream stays open, so the network never idles).
  await page.waitForSelector('.page[aria-busy="false"]');
}

/** Audits the page with axe-core and writes its screenshot (desktop; `phone` also at 390 px). */
async function record(name: string, options: { phone?: boolean } = {}) {
  audits.set(name, await seriousViolations(page));
  await page.screenshot({ path: `${SHOTS}${name}.png`, fullPage: true });
  if (options.phone) {
    await page.setViewport({ width: 390, height: 844 });
    await page.screenshot({ path: `${SHOTS}${name}-phone.png`, fullPage: true });
    audits.set(`${name} (phone)`, await seriousViolations(page));
    await page.setViewport({ width: 1280, height: 800 });
  }
}

async function signIn(key: string) {
  await page.goto(`${local.nexus.url}/`);
  await page.evaluate(() => (globalThis as unknown as { sessionStorage: { clear(): void } }).sessionStorage.clear());
  await page.goto(`${local.nexus.url}/#/`);
  // Locators wait for the element and retry when the page renders it again meanwhile (a detached node).
  await page.locator("#key").fill(key);
  await page.locator("button[type=submit]").click();
  await page.waitForSelector("nav");
}

describe("the dashboard in a browser", () => {
  it("is served from the API's origin with a strict CSP, hashed long-cached files, under 250 KB compressed", async () => {
    const response = await fetch(`${local.nexus.url}/`);
    const csp = response.headers.get("content-security-policy") ?? "";
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("frame-ancestors 'none'");
    const html = await response.text();
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)/); // no inline script
    expect(html).not.toMatch(/<style|style=/); // no inline style
    const files = [...html.matchAll(/(?:src|href)="(\/assets\/[^"]+)"/g)].map((m) => m[1] as string);
    expect(files).toHaveLength(2);
    let compressed = 0;
    for (const file of files) {
      const asset = await fetch(`${local.nexus.url}${file}`);
      expect(asset.status).toBe(200);
      expect(asset.headers.get("cache-control")).toContain("immutable");
      expect(asset.headers.get("content-security-policy")).toBe(csp);
      compressed += gzipSync(Buffer.from(await asset.arrayBuffer())).length;
    }
    process.stdout.write(`dashboard first load: ${(compressed / 1024).toFixed(1)} KB of JavaScript and CSS, gzipped\n`);
    expect(compressed).toBeLessThan(250 * 1024);
  });

  it("signs in with an operator key and shows the built-in agents online", async () => {
    await page.goto(`${local.nexus.url}/`);
    await page.waitForSelector("#key");
    await record("sign-in");
    await page.type("#key", "nxk_not_a_real_key");
    await page.click("button[type=submit]");
    await page.waitForSelector("[role=alert]");
    expect(await text("[role=alert]")).toContain("unauthorized");
    await page.$eval("#key", (el) => {
      (el as { value: string }).value = "";
    });
    await page.type("#key", operatorKey);
    await page.click("button[type=submit]");
    await page.waitForSelector("nav");
    expect(await text("#role")).toBe("operator");
    await open("", "Overview");
    await textIncludes("online");
    await record("overview", { phone: true });
    await open("agents", "Agents");
    await textIncludes("diag");
    const rows = await page.$$eval("tbody tr", (trs) =>
      trs.map((tr) => (tr as { textContent: string | null }).textContent ?? ""),
    );
    expect(rows.find((row) => row.startsWith("diag"))).toMatch(/online/);
    for (const id of ["comms", "ops", "research", "strategy"])
      expect(rows.some((row) => row.startsWith(id))).toBe(true);
    await record("agents", { phone: true });
    await open("agents/diag", "Agent diag");
    await textIncludes("Queue depth");
    await record("agent");
  });

  it("deactivates, reactivates and deletes an agent, the deletion confirmed after saying what it does", async () => {
    const operator = apiClient(local.nexus.url, operatorKey);
    expect((await operator.post("/v1/agents", { name: "short-lived", actions: [{ name: "work" }] })).status).toBe(201);
    await open("agents/short-lived", "Agent short-lived");
    const click = async (label: string) => (await page.waitForSelector(`xpath/.//button[text()='${label}']`))?.click();
    await click("Deactivate");
    await textIncludes("new tasks are refused");
    expect((await operator.get("/v1/agents/short-lived")).body.status).toBe("inactive");
    await click("Reactivate");
    await textIncludes("consumed again");
    expect((await operator.get("/v1/agents/short-lived")).body.status).toBe("active");
    await click("Delete…");
    await textIncludes("queued and running tasks are cancelled");
    await click("Delete agent");
    await until("back on the agents page", async () => (await page.title()).startsWith("Agents"));
    expect((await operator.get("/v1/agents/short-lived")).status).toBe(404);
  });

  it("runs diag.echo from the generated form and follows it to its result without reloading, then shows its logs", async () => {
    await open("run?agentId=diag&action=sleep", "Run a task");
    // Client-side validation names the field before anything is sent.
    await page.click("#run-submit");
    await textIncludes("is required", ".field-error");
    await page.type("#f-ms", "99999");
    await page.click("#run-submit");
    await textIncludes("at most 30000", ".field-error");
    await open("run?agentId=diag&action=echo", "Run a task");
    await page.evaluate(() => {
      (globalThis as unknown as { marker: string }).marker = "same page";
    });
    await page.$eval("#f-root", (el) => {
      (el as { value: string }).value = "";
    });
    await page.type("#f-root", '{"hello": "dashboard"}');
    await page.click("#run-submit");
    await textIncludes("succeeded", "#follow-status");
    expect(await text("#run-follow")).toContain('"hello": "dashboard"');
    expect(await page.evaluate(() => (globalThis as unknown as { marker?: string }).marker)).toBe("same page");
    await record("run", { phone: true });
    await page.click("#run-follow h2 a");
    await page.waitForSelector("#logs pre.log");
    await textIncludes("attempt 1 of 3 started: echo", "#logs");
    await textIncludes("attempt 1 succeeded", "#logs");
    expect(await text("#task-status")).toBe("succeeded");
    // The task's estimated cost, as the API gives it, with its items.
    const taskId = decodeURIComponent(new URL(page.url()).hash.split("/")[2] ?? "");
    const shown: Json = (await apiClient(local.nexus.url, operatorKey).get(`/v1/tasks/${taskId}`)).body;
    await page.click("#cost summary");
    await textIncludes(`$${(shown.cost.usd * 1e6).toFixed(2)} per million like it`, "#cost");
    await textIncludes("DynamoDB writes", "#cost");
    await record("task", { phone: true });
    await open("tasks?agentId=diag", "Tasks");
    await record("tasks");
    await open("activity", "Activity");
    await textIncludes("succeeded");
    await record("activity");
  });

  it("shows the feed's events the same when it must poll (no streaming, as behind API Gateway)", async () => {
    const refuseStream = (request: HTTPRequest) => {
      if (request.url().includes("/v1/events/stream")) {
        void request.respond({
          status: 501,
          contentType: "application/json",
          body: JSON.stringify({ error: { code: "streaming_unavailable", message: "poll" } }),
        });
      } else void request.continue();
    };
    await page.setRequestInterception(true);
    page.on("request", refuseStream);
    try {
      await page.goto(`${local.nexus.url}/#/run?agentId=diag&action=echo`);
      await page.reload();
      await textIncludes("live: polling", "footer");
      await page.waitForSelector("#f-root");
      await page.click("#run-submit");
      await textIncludes("succeeded", "#follow-status");
    } finally {
      page.off("request", refuseStream);
      await page.setRequestInterception(false);
    }
  });

  it("approves a plan's gate from its page and sees the plan finish", async () => {
    const operator = apiClient(local.nexus.url, operatorKey);
    const plan = (
      await operator.post("/v1/plans", {
        name: "gated echo",
        steps: [
          { id: "first", agentId: "diag", action: "echo", params: { n: 1 } },
          { id: "gate", kind: "approval", message: "Go on with the second echo?", dependsOn: ["first"] },
          { id: "second", agentId: "diag", action: "echo", params: { n: 2 }, dependsOn: ["gate"] },
        ],
      })
    ).body;
    await operator.waitForPlan(plan.id, ["waiting_approval"]);
    await open(`plans/${plan.id}`, `Plan ${plan.id}`);
    await page.waitForSelector("#approve-gate");
    await record("plan-waiting", { phone: true });
    await page.type("#comment-gate", "looks right");
    await page.click("#approve-gate");
    await textIncludes("Approved gate.");
    await until("the plan succeeded on its page", async () => (await text()).includes("gated echo succeeded"), 30_000);
    const done: Json = (await operator.get(`/v1/plans/${plan.id}`)).body;
    expect(done.status).toBe("succeeded");
    expect(done.steps.find((s: { id: string }) => s.id === "gate").decidedBy).toBeTruthy();
    await textIncludes(`$${(done.cost.usd * 1e6).toFixed(2)} per million like it`, "#cost");
    await page.click("#cost summary");
    await textIncludes("Step Functions", "#cost");
    await record("plan");
    // Filtered by plan on the server: one listing, not a read of each task.
    const listed = page.waitForRequest((request) => request.url().includes(`/v1/tasks?planId=${plan.id}`));
    await open(`tasks?planId=${plan.id}`, "Tasks");
    await listed;
    const stepTasks = done.steps.flatMap((s: Json) => (s.taskId ? [s.taskId] : []));
    expect(stepTasks).toHaveLength(2);
    for (const taskId of stepTasks) await textIncludes(taskId);
    expect(await page.$$eval("tbody tr", (rows) => rows.length)).toBe(2);
    await open("plans", "Plans");
    await record("plans");
  });

  it("plans from a goal: the planner's steps and explanation first, then runs them", async () => {
    await open("plans", "Plans");
    await page.type("#goal", "run df -h then email the output to ops@example.com");
    await page.click("#goal-approval");
    await page.click("#goal-plan");
    await page.waitForSelector("#goal-run");
    const preview = await text("#goal-preview");
    expect(preview).toContain("run_command");
    expect(preview).toContain("send_email");
    expect(preview).toMatch(/Planned by/);
    await record("plan-from-goal");
    await page.click("#goal-run");
    await until("the new plan's page", async () => (await page.title()).startsWith("Plan pln_"));
    await textIncludes("Waiting for approval", "main");
    const planId = (await page.title()).split(" ")[1] as string;
    const plan: Json = (await local.api.get(`/v1/plans/${planId}`)).body;
    expect(plan.goal).toBe("run df -h then email the output to ops@example.com");
    await page.click("[id^=reject-]");
    await until("the plan failed", async () => (await local.api.get(`/v1/plans/${planId}`)).body.status === "failed");
  });

  it("redrives a failure with edited params", async () => {
    const operator = apiClient(local.nexus.url, operatorKey);
    const failed = (
      await operator.post("/v1/tasks", { agentId: "diag", action: "fail", params: { times: 5, retriable: false } })
    ).body;
    await operator.waitForTask(failed.id);
    await operator.waitUntil("/v1/failures?agentId=diag", (page) =>
      page.items.some((f: Json) => f.taskId === failed.id),
    );
    await open("failures?agentId=diag", "Failures");
    await page.click(`[data-failure="flr_${failed.id}"]`);
    await page.waitForSelector("#f-times");
    expect(await page.$eval("#f-times", (el) => (el as { value: string }).value)).toBe("5");
    await page.$eval("#f-times", (el) => {
      (el as { value: string }).value = "";
    });
    await page.type("#f-times", "0");
    await record("failures", { phone: true });
    await page.click("#redrive-submit");
    await page.waitForSelector("#redriven-task");
    const newTaskId = await page.$eval(
      "#redriven-task",
      (el) => (el as { textContent: string | null }).textContent ?? "",
    );
    const redriven: Json = await operator.waitForTask(newTaskId);
    expect(redriven).toMatchObject({
      status: "succeeded",
      redriveOf: failed.id,
      params: { times: 0, retriable: false },
    });
  });

  it("shows a dead-lettered diag.fail task's DLQ alarm firing, on the overview and the Alarms page, without reloading", async () => {
    const operator = apiClient(local.nexus.url, operatorKey);
    const dlqAlarm = (body: Json) => body.items.find((a: Json) => a.key === "agent-diag-dlq");
    // Earlier failures have left the DLQ (the inbox took them): the alarm is back to OK first.
    await operator.waitUntil("/v1/alarms", (body) => dlqAlarm(body)?.state === "OK", 30_000);
    await open("alarms", "Alarms");
    const row = '[data-alarm="agent-diag-dlq"]';
    const stateOf = () =>
      page.$eval(row, (el) => (el.closest("tr") as { textContent: string | null } | null)?.textContent ?? "");
    expect(await stateOf()).toContain("OK");
    await page.evaluate(() => {
      (globalThis as unknown as { stayed: boolean }).stayed = true;
    });
    const failed = (
      await operator.post("/v1/tasks", { agentId: "diag", action: "fail", params: { times: 5, retriable: false } })
    ).body;
    expect((await operator.waitForTask(failed.id)).status).toBe("failed");
    await until("agent-diag-dlq shown as ALARM", async () => (await stateOf()).includes("ALARM"));
    expect(await stateOf()).toMatch(/\d+ ≥ 1/);
    expect(await text("#alarm-summary")).toMatch(/[1-9]\d* alarms? (is|are) firing/);
    // The same document: the page was not reloaded.
    expect(await page.evaluate(() => (globalThis as unknown as { stayed?: boolean }).stayed)).toBe(true);
    await page.click("nav a[data-path='']");
    await page.waitForSelector("#ov-alarms");
    await until("firing alarms on the overview", async () => /^[1-9]/.test(await text("#ov-alarms")));
    await page.click("#ov-alarms");
    await until("the Alarms page filtered to ALARM", async () => (await page.title()).startsWith("Alarms"));
    await page.waitForSelector(row);
    expect(await page.$$eval("tbody tr", (trs) => trs.every((tr) => /ALARM/.test(tr.textContent ?? "")))).toBe(true);
    await record("alarms", { phone: true });
  });

  it("creates a schedule with its next runs previewed, edits it", async () => {
    await open("schedules", "Schedules");
    await page.click("#new-schedule");
    await page.waitForSelector("#new-name");
    await page.type("#new-name", "weekday-echo");
    await page.$eval("#new-expression", (el) => {
      (el as { value: string }).value = "";
    });
    await page.type("#new-expression", "30 8 * * 1-5");
    await textIncludes("cron(30 8 ? * MON-FRI *)", "#new-preview");
    expect(await page.$$eval("#new-preview li", (items) => items.length)).toBe(5);
    await page.$eval("#new-expression", (el) => {
      (el as { value: string }).value = "";
    });
    await page.type("#new-expression", "61 8 * * *");
    await page.waitForSelector("#new-preview [role=alert]");
    await page.$eval("#new-expression", (el) => {
      (el as { value: string }).value = "";
    });
    await page.type("#new-expression", "rate(2 hours)");
    await textIncludes("rate(2 hours)", "#new-preview");
    await page.select("#new-agent", "diag");
    await page.select("#new-action", "sleep");
    await page.type("#f-ms", "5");
    await record("schedule-new");
    await page.click("#new-save");
    await textIncludes("weekday-echo created.");
    const created: Json = (await local.api.get("/v1/schedules?limit=100")).body.items.find(
      (s: Json) => s.name === "weekday-echo",
    );
    expect(created).toMatchObject({
      rate: "rate(2 hours)",
      target: { agentId: "diag", action: "sleep", params: { ms: 5 } },
    });
    const edit = await page.waitForSelector("xpath/.//button[text()='Edit weekday-echo']");
    await edit?.click();
    const field = `#edit-${created.id}-expression`;
    await page.waitForSelector(field);
    expect(await page.$eval("#f-ms", (el) => (el as { value: string }).value)).toBe("5");
    await page.$eval(field, (el) => {
      (el as { value: string }).value = "";
    });
    await page.type(field, "cron(0 12 * * ? *)");
    await page.click(`#edit-${created.id}-save`);
    await textIncludes("weekday-echo saved.");
    expect((await local.api.get(`/v1/schedules/${created.id}`)).body.cron).toBe("cron(0 12 * * ? *)");
  });

  it("disables a schedule", async () => {
    const operator = apiClient(local.nexus.url, operatorKey);
    const schedule = (
      await operator.post("/v1/schedules", {
        name: "nightly-echo",
        cron: "cron(0 3 * * ? *)",
        target: { type: "task", agentId: "diag", action: "echo", params: { nightly: true } },
      })
    ).body;
    await open("schedules", "Schedules");
    await textIncludes("nightly-echo");
    await record("schedules", { phone: true });
    const [button] = await page.$$("xpath/.//button[text()='Disable nightly-echo']");
    expect(button).toBeDefined();
    await button?.click();
    await textIncludes("nightly-echo disabled.");
    expect((await operator.get(`/v1/schedules/${schedule.id}`)).body.enabled).toBe(false);
  });

  it("serves the interactive API docs from its own origin, under the same CSP", async () => {
    await page.goto(`${local.nexus.url}/docs`);
    await page.waitForSelector(".opblock", { timeout: 30_000 });
    expect(await page.$$eval(".opblock", (blocks) => blocks.length)).toBeGreaterThanOrEqual(40);
    expect(await text(".information-container")).toContain("Nexus API");
    const response = await fetch(`${local.nexus.url}/docs`);
    expect(response.headers.get("content-security-policy")).toContain("script-src 'self'");
    expect(await response.text()).not.toMatch(/https?:\/\//);
    await record("docs");
  });

  it("shows an admin the keys and the audit trail", async () => {
    await signIn(local.nexus.adminKey);
    await open("keys", "Keys");
    await textIncludes("dashboard-viewer");
    await record("keys");
    await open("audit", "Audit");
    await textIncludes("POST /v1/schedules");
    // Filtered by action on the server: the page asks the API for that action's records only.
    const asked = page.waitForRequest((request) => request.url().includes("/v1/audit?action=POST"));
    await page.select("#filter-action", "POST /v1/schedules");
    expect(new URL((await asked).url()).searchParams.get("action")).toBe("POST /v1/schedules");
    await until("the audit trail filtered by action", async () => (await page.title()).startsWith("Audit"));
    await page.waitForSelector('.page[aria-busy="false"]');
    const actions = await page.$$eval("tbody tr td:nth-child(3)", (tds) => tds.map((td) => td.textContent ?? ""));
    expect(actions.length).toBeGreaterThan(0);
    expect(actions.every((action) => action === "POST /v1/schedules")).toBe(true);
    await record("audit");
  });

  it("shows a viewer no write control, and the API refuses a forced write", async () => {
    await signIn(viewerKey);
    expect(await text("#role")).toBe("viewer");
    const nav = await text("nav");
    expect(nav).toContain("Tasks");
    expect(nav).not.toContain("Run a task");
    expect(nav).not.toContain("Keys");
    const plan: Json = (
      await local.api.post("/v1/plans", { steps: [{ id: "gate", kind: "approval", message: "ok?" }] })
    ).body;
    await local.api.waitForPlan(plan.id, ["waiting_approval"]);
    const writes =
      /^(Run|Deactivate|Reactivate|Delete|Disable|Enable|Approve|Reject|Redrive|Cancel|Create|Revoke|Retry)/;
    for (const [route, title] of [
      ["", "Overview"],
      ["agents/diag", "Agent diag"],
      ["tasks", "Tasks"],
      [`plans/${plan.id}`, `Plan ${plan.id}`],
      ["failures?status=redriven", "Failures"],
      ["schedules", "Schedules"],
      ["plans", "Plans"],
    ] as const) {
      await open(route, title);
      const labels = await page.$$eval("main button, main a.button", (els) =>
        els.map((el) => (el as { textContent: string | null }).textContent ?? ""),
      );
      expect(
        labels.filter((label) => writes.test(label)),
        `${route || "overview"}: ${labels.join(", ")}`,
      ).toEqual([]);
    }
    const forced = await page.evaluate(async () => {
      const session = (globalThis as unknown as { sessionStorage: { getItem(name: string): string | null } })
        .sessionStorage;
      const response = await fetch("/v1/tasks", {
        method: "POST",
        headers: { authorization: `Bearer ${session.getItem("nexus.key")}`, "content-type": "application/json" },
        body: JSON.stringify({ agentId: "diag", action: "echo" }),
      });
      return { status: response.status, body: await response.json() };
    });
    expect(forced).toMatchObject({ status: 403, body: { error: { code: "forbidden" } } });
  });

  it("reports no serious or critical accessibility violation on any page, and nothing refused or broken", () => {
    expect(audits.size).toBeGreaterThanOrEqual(15);
    const found = [...audits].filter(([, violations]) => violations.length > 0);
    expect(found.map(([name, violations]) => `${name}: ${JSON.stringify(violations)}`)).toEqual([]);
    expect(problems).toEqual([]);
  });
});
