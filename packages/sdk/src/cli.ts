#!/usr/bin/env node
import { run } from "./commands.js";

/** The `nexus` command: `nexus --help` lists what it does. */
const code = await run(process.argv.slice(2), { env: process.env, stdout: process.stdout, stderr: process.stderr });
process.exitCode = code;
