import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { BUILTIN_SCALING } from "../packages/agents/src/scaling.js";

const readme = readFileSync(new URL("../README.md", import.meta.url), "utf8");

describe("README: Scaling", () => {
  it("documents exactly the built-in agents' scaling defaults (packages/agents/src/scaling.ts)", () => {
    const table = readme.split("<!-- scaling-table:start -->")[1]?.split("<!-- scaling-table:end -->")[0] ?? "";
    const [header = [], , ...rows] = table
      .trim()
      .split("\n")
      .map((line) =>
        line
          .split("|")
          .slice(1, -1)
          .map((cell) => cell.trim().replaceAll("`", "")),
      );
    const documented = Object.fromEntries(
      rows.map(([agent = "", ...values]) => [
        agent,
        Object.fromEntries(header.slice(1).map((field, i) => [field, Number(values[i])])),
      ]),
    );
    expect(documented).toEqual(BUILTIN_SCALING);
  });
});
