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
