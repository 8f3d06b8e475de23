#!/usr/bin/env bun
/** Inlet's single entry point: the server and the operator commands (see src/cli). */
import { runCli } from "./cli";

const code = await runCli(process.argv.slice(2));
if (code >= 0) process.exit(code);
