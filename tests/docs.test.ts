import { readFileSync } from "node:fs";
import { ACCESS, type RouteKey } from "@nexus/api";
import { METRICS } from "@nexus/core";
import { describe, expect, it } from "vitest";

const readme = readFileSync(new URL("../README.md", import.meta.url), "utf8");

describe("README", () => {
  it("has a quick start of exactly two commands: start locally, run all tests", () => {
    const quickStart = readme.split("## Quick start")[1]?.split("\n## ")[0] ?? "";
    const block = /```sh\n([\s\S]*?)```/.exec(quickStart)?.[1] ?? "";
    const commands = block
      .split("\n")
      .map((line) => line.replace(/#.*/, "").trim())
      .filter(Boolean);
    expect(commands).toEqual(["npm run dev", "npm test"]);
    const ci = readFileSync(new URL("../.ci/run", import.meta.url), "utf8");
    expect(ci).toMatch(/^npm test$/m);
  });

  it("documents every route with exactly the roles the API enforces", () => {
    const table = readme.split("<!-- access-table:start -->")[1]?.split("<!-- access-table:end -->")[0] ?? "";
    const rows = table
      .split("\n")
      .filter((line) => line.startsWith("| `"))
      .map((line) => line.split("|").map((cell) => cell.trim()));
    const documented = Object.fromEntries(
      rows.map(([, route, admin, operator, viewer, agent]) => [
        (route ?? "").replaceAll("`", ""),
        { admin, operator, viewer, agent },
      ]),
    );
    expect(Object.keys(documented).sort()).toEqual(Object.keys(ACCESS).sort());
    for (const [route, rule] of Object.entries(ACCESS) as Array<[RouteKey, (typeof ACCESS)[RouteKey]]>) {
      for (const role of ["admin", "operator", "viewer", "agent"] as const) {
        const cell = documented[route]?.[role];
        if (rule === "public") expect(cell, route).toBe("public");
        else if ((rule as readonly string[]).includes(role)) expect(["✓", "own"], `${route} ${role}`).toContain(cell);
        else expect(cell, `${route} ${role}`).toBe("–");
      }
    }
  });

  it("lists every metric Nexus emits, with its unit, and no other", () => {
    const table = readme.split("<!-- metrics-table:start -->")[1]?.split("<!-- metrics-table:end -->")[0] ?? "";
    const rows = table
      .split("\n")
      .filter((line) => line.startsWith("| `"))
      .map((line) => line.split("|").map((cell) => cell.trim()));
    const documented = Object.fromEntries(rows.map(([, name, unit]) => [(name ?? "").replaceAll("`", ""), unit]));
    expect(documented).toEqual(METRICS);
  });
});
