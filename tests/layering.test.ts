import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

/**
 * The layering of the packages, read from their source: who may talk to DynamoDB, and that no module depends on
 * itself through its imports. Paths are relative to the repository root.
 */
const ROOT = fileURLToPath(new URL("..", import.meta.url));

/** Every `.ts` file below `dir` except tests. */
function sources(dir: string): string[] {
  if (!existsSync(join(ROOT, dir))) return [];
  return readdirSync(join(ROOT, dir), { recursive: true, encoding: "utf8" })
    .map((file) => join(dir, file))
    .filter((file) => file.endsWith(".ts") && !file.endsWith(".test.ts") && !file.includes("node_modules"));
}

const PACKAGES = readdirSync(join(ROOT, "packages")).filter((name) => existsSync(join(ROOT, "packages", name, "src")));
const PACKAGE_SOURCES = PACKAGES.flatMap((name) => sources(join("packages", name, "src")));

interface Import {
  specifier: string;
  /** `import type …`, `export type … from`, or `import { type A, type B }`: erased by the compiler. */
  typeOnly: boolean;
  /** `import("…")`: loaded when the code runs, not with the module. */
  dynamic: boolean;
}

/** The imports and re-exports of a module (static, side-effect and dynamic ones), read from its text. */
function importsOf(text: string): Import[] {
  const code = text.replace(/\/\*[\s\S]*?\*\//g, "").replace(/^\s*\/\/.*$/gm, "");
  const found: Import[] = [];
  // An import or export clause holds only names, braces, commas, `*` and `as`/`type`: never a `;` or a quote.
  for (const m of code.matchAll(/^[ \t]*(?:import|export)\s+(type\s+)?([\w\s{},*$]*?)\s*from\s*["']([^"']+)["']/gm)) {
    const named = /^\{([\s\S]*)\}$/.exec((m[2] ?? "").trim());
    const specifiers =
      named?.[1]
        ?.split(",")
        .map((s) => s.trim())
        .filter(Boolean) ?? [];
    const allTypes = specifiers.length > 0 && specifiers.every((s) => s.startsWith("type "));
    found.push({ specifier: m[3] ?? "", typeOnly: Boolean(m[1]) || allTypes, dynamic: false });
  }
  for (const m of code.matchAll(/^[ \t]*import\s*["']([^"']+)["']/gm)) {
    found.push({ specifier: m[1] ?? "", typeOnly: false, dynamic: false });
  }
  for (const m of code.matchAll(/\bimport\s*\(\s*["']([^"']+)["']\s*\)/g)) {
    found.push({ specifier: m[1] ?? "", typeOnly: false, dynamic: true });
  }
  return found;
}

const read = (file: string) => readFileSync(join(ROOT, file), "utf8");

describe("DynamoDB", () => {
  const SDK = /^@aws-sdk\/(client-dynamodb|lib-dynamodb)(\/|$)/;
  /**
   * The only modules that may import the DynamoDB SDK. Everything else reaches the table through a store in
   * packages/core/src/storage/ (one per entity, each the only place its items are read or written).
   */
  const ALLOWED = [
    // The stores, the key builders and the item, query and update helpers they share.
    "packages/core/src/storage/",
    // Builds the DynamoDB document client every store uses (as it builds the SQS, Secrets Manager and Step
    // Functions clients of the queue, secrets and workflow adapters; those import no DynamoDB SDK).
    "packages/core/src/context.ts",
  ];
  const scanned = [...PACKAGE_SOURCES, ...sources("functions")];
  const importers = scanned.filter((file) => importsOf(read(file)).some((i) => SDK.test(i.specifier)));

  it("is imported only by the storage layer and the client factory", () => {
    const outside = importers.filter((file) => !ALLOWED.some((allowed) => file.startsWith(allowed)));
    expect(outside).toEqual([]);
  });

  it("sees the modules it checks, and allows none that is gone", () => {
    expect(scanned).toContain("functions/api.ts");
    expect(importers).toContain("packages/core/src/storage/items.ts");
    for (const allowed of ALLOWED) expect(existsSync(join(ROOT, allowed)), allowed).toBe(true);
  });
});

/** `@nexus/<name>[/<subpath>]` → its file, from each workspace package's `exports`. */
const WORKSPACE_EXPORTS = new Map(
  PACKAGES.flatMap((dir) => {
    const manifest = JSON.parse(read(join("packages", dir, "package.json"))) as {
      name: string;
      exports: Record<string, string | Record<string, string>>;
    };
    // A conditional export resolves to its source (the `@nexus/source` condition), as tsconfig and vitest resolve it.
    const sourceOf = (target: string | Record<string, string>) =>
      typeof target === "string" ? target : (target["@nexus/source"] ?? target.default ?? "");
    return Object.entries(manifest.exports)
      .filter(([, target]) => sourceOf(target).endsWith(".ts"))
      .map(
        ([subpath, target]) =>
          [
            `${manifest.name}${subpath === "." ? "" : subpath.slice(1)}`,
            join("packages", dir, sourceOf(target)),
          ] as const,
      );
  }),
);

/** The module an import names: a relative path (`./x.js` is `./x.ts`, or `./x/index.ts`) or a workspace package. */
function resolveImport(from: string, specifier: string): string | undefined {
  if (specifier.startsWith("@nexus/")) return WORKSPACE_EXPORTS.get(specifier) ?? `unresolved:${specifier}`;
  if (!specifier.startsWith(".")) return undefined; // a dependency from node_modules or node:
  const base = relative(ROOT, resolve(ROOT, dirname(from), specifier)).replace(/\.js$/, "");
  return [`${base}.ts`, join(base, "index.ts")].find((candidate) => existsSync(join(ROOT, candidate)));
}

/**
 * The static import graph of the packages: an edge for each relative or `@nexus/*` import or re-export. Type-only
 * imports are left out: the compiler erases them, so they cannot make one module load before another (as
 * dependency-cruiser's default, which reads dependencies after compilation); dynamic `import()` is left out too,
 * as it loads when the code runs, after every module has loaded.
 */
function importGraph(files: string[]): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of files) {
    const targets = importsOf(read(file))
      .filter((i) => !i.typeOnly && !i.dynamic)
      .map((i) => resolveImport(file, i.specifier))
      .filter((target): target is string => target !== undefined);
    graph.set(file, [...new Set(targets)]);
  }
  return graph;
}

/** Each cycle of a graph (one per strongly connected component), as the path that closes it: a → b → a. */
function findCycles(graph: Map<string, string[]>): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const cycles: string[][] = [];
  const visit = (node: string) => {
    index.set(node, index.size);
    low.set(node, index.get(node) ?? 0);
    stack.push(node);
    onStack.add(node);
    for (const next of graph.get(node) ?? []) {
      if (!index.has(next)) {
        visit(next);
        low.set(node, Math.min(low.get(node) ?? 0, low.get(next) ?? 0));
      } else if (onStack.has(next)) {
        low.set(node, Math.min(low.get(node) ?? 0, index.get(next) ?? 0));
      }
    }
    if (low.get(node) !== index.get(node)) return;
    const component = new Set<string>();
    for (let member = stack.pop(); member !== undefined; member = stack.pop()) {
      onStack.delete(member);
      component.add(member);
      if (member === node) break;
    }
    if (component.size > 1 || (graph.get(node) ?? []).includes(node)) cycles.push(pathWithin(graph, component, node));
  };
  for (const node of graph.keys()) if (!index.has(node)) visit(node);
  return cycles;
}

/** A shortest path from `start` back to itself through `component` (breadth first). */
function pathWithin(graph: Map<string, string[]>, component: Set<string>, start: string): string[] {
  const previous = new Map<string, string>();
  const queue = [start];
  for (let node = queue.shift(); node !== undefined; node = queue.shift()) {
    for (const next of graph.get(node) ?? []) {
      if (next === start) {
        const path = [node];
        for (let step = previous.get(node); step !== undefined; step = previous.get(step)) path.unshift(step);
        return [...path, start];
      }
      if (component.has(next) && !previous.has(next) && next !== start) {
        previous.set(next, node);
        queue.push(next);
      }
    }
  }
  return [start];
}

describe("imports between modules", () => {
  const graph = importGraph(PACKAGE_SOURCES);

  it("form no cycle in packages/*/src", () => {
    const cycles = findCycles(graph).map((cycle) => cycle.join(" → "));
    expect(cycles).toEqual([]);
  });

  it("are all read: relative and workspace imports resolve to modules", () => {
    const unresolved = [...graph.entries()].flatMap(([file, targets]) =>
      targets.filter((t) => t.startsWith("unresolved:")).map((t) => `${file}: ${t}`),
    );
    expect(unresolved).toEqual([]);
    expect(graph.get("packages/core/src/worker.ts")).toContain("packages/core/src/attempts.ts");
    expect(graph.get("packages/core/src/index.ts")).toContain("packages/core/src/context.ts");
    // other packages reach core through its workspace name
    const intoCore = [...graph.entries()].filter(
      ([file, targets]) => !file.startsWith("packages/core/") && targets.includes("packages/core/src/index.ts"),
    );
    expect(intoCore.length).toBeGreaterThan(0);
  });

  it("count type-only imports out and name each cycle they would close", () => {
    const text = [
      'import type { A } from "./a.js";',
      'import { type B, type C } from "./b.js";',
      'import { type D, E } from "./d.js";',
      'export { F } from "./f.js";',
      'const lazy = () => import("./g.js");',
    ].join("\n");
    expect(importsOf(text).map((i) => [i.specifier, i.typeOnly, i.dynamic])).toEqual([
      ["./a.js", true, false],
      ["./b.js", true, false],
      ["./d.js", false, false],
      ["./f.js", false, false],
      ["./g.js", false, true],
    ]);
    const cycles = findCycles(
      new Map([
        ["a", ["b"]],
        ["b", ["c"]],
        ["c", ["a", "d"]],
        ["d", []],
        ["e", ["e"]],
      ]),
    );
    expect(cycles).toEqual(
      expect.arrayContaining([
        ["a", "b", "c", "a"],
        ["e", "e"],
      ]),
    );
    expect(cycles).toHaveLength(2);
  });
});

describe("zod schemas", () => {
  /**
   * A module-level schema: `const X = z…` or one derived from another (`X.extend(…)`, `.omit`, `.pick`), and whether it
   * is built as `/* @__PURE__ *\/ pure(() => …)`. A pure mark on the schema's own expression is not enough: esbuild keeps
   * the nested calls of `z.object({ a: A.optional() })`, and so the whole schema.
   */
  const SCHEMA =
    /^(?:export )?const (\w+)(?::[^=\n]+)? = (\/\* @__PURE__ \*\/ pure\(\(\) =>\s*)?(?:\/\* @__PURE__ \*\/ )?(?:z(?:\.|$)|[A-Z]\w*\.(?:extend|omit|pick)\()/gm;

  it("made at module level are built by pure(), so a function that does not use one leaves it out of its bundle", () => {
    const unmarked: string[] = [];
    let schemas = 0;
    for (const file of PACKAGE_SOURCES) {
      for (const m of read(file).matchAll(SCHEMA)) {
        schemas++;
        if (!m[2]) unmarked.push(`${file}: ${m[1]}`);
      }
    }
    // The scan found the schemas (the diag agent's cold start made some 730 zod schemas before they were marked pure,
    // 390 with the mark on each expression, 284 with pure()).
    expect(schemas).toBeGreaterThan(150);
    expect(unmarked).toEqual([]);
  });
});
