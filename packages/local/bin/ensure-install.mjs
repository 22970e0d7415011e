#!/usr/bin/env node
// Runs before `npm run dev` and `npm test`: on a fresh clone (no node_modules yet, or a lock file changed since the
// last install), installs the locked dependencies first, so each quick-start command works by itself.
import { spawnSync } from "node:child_process";
import { existsSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..");
const installed = join(root, "node_modules", ".package-lock.json");

/** As npm itself trusts its hidden lock file: present, and written after the lock file last changed. */
function upToDate() {
  if (!existsSync(installed)) return false;
  return statSync(installed).mtimeMs >= statSync(join(root, "package-lock.json")).mtimeMs;
}

if (!upToDate()) {
  process.stdout.write("Installing the locked dependencies (npm ci) before the first run…\n");
  const npm = process.platform === "win32" ? "npm.cmd" : "npm";
  const result = spawnSync(npm, ["ci", "--no-audit", "--no-fund"], { cwd: root, stdio: "inherit" });
  if (result.status !== 0) process.exit(result.status ?? 1);
}
