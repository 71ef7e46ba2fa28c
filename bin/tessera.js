#!/usr/bin/env node
// Node >= 22.12 runs the TypeScript sources directly (type stripping).
import { runCli } from '../src/cli/main.ts';

process.exitCode = await runCli(process.argv.slice(2));
