import * as Agents from "@nexus/core/agents";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { builtinSpecs } from "../packages/agents/src/specs.js";
import { apiBundling } from "../stacks/bundling.js";
import { startTestContext } from "./support/context.js";

/**
 * The API's bundle carries the built-in agents' specs already read as registration reads them (stacks/bundling.ts,
 * packages/agents/src/bundled-specs.ts), and its first request stores them without reading them again: that must store
 * exactly what reading them would.
 */
let env: Awaited<ReturnType<typeof startTestContext>>;

beforeAll(async () => {
  env = await startTestContext();
  for (const spec of builtinSpecs) await env.addBuiltinQueue(spec.id);
});
afterAll(async () => {
  await env?.stop();
});

const bundled = () => JSON.parse(JSON.parse(apiBundling().esbuild.define.__NEXUS_BUILTIN_SPECS__) as string);

describe("built-in agents' specs read ahead", () => {
  it("read again, are the same (the bundle's are compared with a reading in tests/stacks/bundling.test.ts)", () => {
    const read = builtinSpecs.map(Agents.readBuiltinSpec);
    expect(read.map(Agents.readBuiltinSpec)).toStrictEqual(read);
    expect(bundled().map(Agents.readBuiltinSpec)).toStrictEqual(bundled());
  });

  it("are stored as reading the specs at registration stores them", async () => {
    for (const spec of builtinSpecs) {
      const fromSource = await Agents.ensureBuiltin(env.ctx, spec);
      const [ahead] = Agents.alreadyRead([bundled().find((s: { id: string }) => s.id === spec.id)]);
      if (!ahead) throw new Error(`the bundle carries no spec for ${spec.id}`);
      // Nothing differs, so nothing is written: the stored agent is returned as it is.
      expect(await Agents.ensureBuiltin(env.ctx, ahead)).toStrictEqual(fromSource);
      expect(await Agents.get(env.ctx, spec.id)).toStrictEqual(fromSource);
    }
  });

  it("are not read again: only specs declared read ahead skip the check", async () => {
    const spec = { id: "diag", kind: "diag", description: "", actions: [{ name: "echo", timeoutSeconds: -1 }] };
    await expect(Agents.ensureBuiltin(env.ctx, spec)).rejects.toThrow();
    const [declared] = Agents.alreadyRead([{ ...spec }]);
    if (!declared) throw new Error("nothing declared");
    const stored = await Agents.ensureBuiltin(env.ctx, declared);
    expect(stored.actions).toStrictEqual(spec.actions);
  });
});

describe("built-in agents' specs in the agents' own functions", () => {
  it("make their actions on first read, once: importing an agent derives none of its params schemas", () => {
    for (const spec of builtinSpecs) {
      // An accessor, not a value made at import (zod's JSON Schema writer runs when it is first read).
      expect(Object.getOwnPropertyDescriptor(spec, "actions")?.get, spec.id).toBeTypeOf("function");
      expect(spec.actions).toBe(spec.actions);
      // Read as data by everything else: spread, serialized, checked.
      expect({ ...spec }.actions).toBe(spec.actions);
      expect(JSON.parse(JSON.stringify(spec)).actions).toEqual(JSON.parse(JSON.stringify(spec.actions)));
      expect(Agents.readBuiltinSpec(spec).actions.map((a) => a.name)).toEqual(spec.actions.map((a) => a.name));
    }
  });
});
