import http from "node:http";
import type { AddressInfo } from "node:net";
import { builtinStandIns, researchStandIn, startResearchStandIn } from "@nexus/local";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Json } from "../support/client.js";
import { useLocalNexus } from "../support/local.js";

/** A local page to research: a title and a few paragraphs, one of them clearly the point. */
const ARTICLE = `<!doctype html><html><head><title>Quarterly storage report</title></head><body><article>
<h1>Quarterly storage report</h1>
<p>Storage use across the fleet grew by twelve percent this quarter, driven by log retention on the payments cluster.</p>
<p>The payments cluster now keeps ninety days of logs, up from thirty, after the audit requirement changed in May.</p>
<p>Three nodes on the payments cluster will run out of disk within six weeks unless log retention is moved to cold storage.</p>
<p>The team recommends moving payments logs older than thirty days to cold storage before the end of the month.</p>
<p>Other clusters stayed flat, and no action is needed for them this quarter.</p>
</article></body></html>`;

/**
 * A long article: about 180 KB of readable text (fetch_page keeps the first 100 KB), far over the 32 KB a task keeps
 * inline, so the summarize step's params and the fetch step's result go by reference.
 */
const LONG_PARAGRAPH =
  "Archive tiers cost a fraction of hot storage, and the migration of old payments logs takes one afternoon of work. ";
const LONG_ARTICLE = `<!doctype html><html><head><title>A very long storage review</title></head><body><article>
<h1>A very long storage review</h1>
${Array.from({ length: 1_500 }, (_, i) => `<p>Section ${i}: ${LONG_PARAGRAPH}</p>`).join("\n")}
<p>The review concludes that payments logs older than thirty days should move to cold storage this month.</p>
</article></body></html>`;

let pages: http.Server;
let origin = "";
const allow = { value: "" };

beforeAll(async () => {
  pages = http.createServer((req, res) => {
    res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
    res.end(req.url === "/long" ? LONG_ARTICLE : ARTICLE);
  });
  await new Promise<void>((resolve) => pages.listen(0, "127.0.0.1", resolve));
  origin = `127.0.0.1:${(pages.address() as AddressInfo).port}`;
  allow.value = origin;
});
afterAll(async () => {
  await new Promise<void>((resolve) => pages.close(() => resolve()));
});

// The research stand-in allows the page server's origin (the SSRF guard refuses loopback otherwise).
const local = useLocalNexus({
  standIns: builtinStandIns.map((start) =>
    start === startResearchStandIn ? (context) => researchStandIn({ extraAllow: allow.value })(context) : start,
  ),
});

async function sesMails(): Promise<Json[]> {
  const ses = local.nexus.standIns.ses;
  const response = await fetch(`${ses?.url}/store`);
  return ((await response.json()) as { emails: Json[] }).emails;
}

describe("a goal, planned by the strategy rules, runs end to end", () => {
  it("researches a local page and emails its summary (visible in the SES emulator)", async () => {
    const goal = `research http://${origin}/report and email a summary to ops@example.com`;
    const created = await local.api.post("/v1/plans", { goal });
    expect(created.status).toBe(201);
    expect(created.body.planner).toMatchObject({ name: "rules", rule: "research_and_send" });
    expect(created.body.goal).toBe(goal);
    expect(created.body.steps.map((s: Json) => `${s.id}:${s.agentId}.${s.action}`)).toEqual([
      "fetch:research.fetch_page",
      "summarize:strategy.summarize",
      "email:comms.send_email",
    ]);
    const plan = await local.api.waitForPlan(created.body.id, undefined, 60_000);
    expect(plan.status, JSON.stringify(plan.error)).toBe("succeeded");
    const summary = plan.steps.find((s: Json) => s.id === "summarize").result.summary as string;
    expect(summary).toContain("cold storage");
    const mail = (await sesMails()).find((m) => m.subject === "Summary: Quarterly storage report");
    expect(mail, "the email in the SES emulator").toBeDefined();
    expect(mail.destination.to).toEqual(["ops@example.com"]);
    expect(mail.body.text).toBe(summary);
  });

  it("researches a 180 KB page and emails its summary: the page's text goes by reference (issue 12, item 6)", async () => {
    expect(Buffer.byteLength(LONG_ARTICLE)).toBeGreaterThan(180_000);
    const goal = `research http://${origin}/long and email a summary to ops@example.com`;
    const created = await local.api.post("/v1/plans", { goal });
    expect(created.status).toBe(201);
    const plan = await local.api.waitForPlan(created.body.id, undefined, 60_000);
    expect(plan.status, JSON.stringify(plan.error)).toBe("succeeded");
    const [fetched, summarized] = plan.steps;
    // The fetched text (100 KB) is kept in object storage; the summarize step got it through its reference.
    expect(fetched.resultRef.bytes).toBeGreaterThan(100_000);
    const summarize = await local.api.get(`/v1/tasks/${summarized.taskId}`);
    expect(summarize.body.paramsRef.bytes).toBeGreaterThan(100_000);
    expect(summarize.body.params.text).toContain("Section 0: Archive tiers");
    const summary = summarized.result.summary as string;
    expect(summary.length).toBeGreaterThan(0);
    const mail = (await sesMails()).find((m) => m.subject === "Summary: A very long storage review");
    expect(mail, "the email in the SES emulator").toBeDefined();
    expect(mail.destination.to).toEqual(["ops@example.com"]);
    expect(mail.body.text).toBe(summary);
  });

  it("plans without running on dryRun, and puts a gate before sending when asked", async () => {
    const reply = await local.api.post("/v1/plans", {
      goal: `summarize http://${origin}/report and email it to ops@example.com`,
      constraints: { requireApproval: true },
      dryRun: true,
    });
    expect(reply.status).toBe(200);
    expect(reply.body.steps.map((s: Json) => s.kind)).toEqual(["agent", "agent", "approval", "agent"]);
  });

  it("says why when it cannot plan a goal (422), instead of guessing", async () => {
    const vague = await local.api.post("/v1/plans", { goal: "make the quarter better" });
    expect(vague.status).toBe(422);
    expect(vague.body.error.code).toBe("cannot_plan");
    const missing = await local.api.post("/v1/plans", {
      goal: `research http://${origin}/report and email a summary to ops@example.com`,
      constraints: { agents: ["research", "strategy"] },
    });
    expect(missing.status).toBe(422);
    expect(missing.body.error.message).toMatch(/email/);
  });

  it("runs the planner as the strategy agent's plan action too", async () => {
    const submitted = await local.api.post("/v1/tasks", {
      agentId: "strategy",
      action: "plan",
      params: { goal: `check http://${origin}/report` },
    });
    const task = await local.api.waitForTask(submitted.body.id);
    expect(task.status).toBe("succeeded");
    expect(task.result.planner.rule).toBe("check");
  });
});
