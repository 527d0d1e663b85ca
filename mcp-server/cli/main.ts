#!/usr/bin/env node
import { runCli } from './program.js';

// Set the code rather than calling process.exit so pending stdout writes
// (a large export piped to a file) are flushed before the process ends.
process.exitCode = await runCli(process.argv.slice(2));
