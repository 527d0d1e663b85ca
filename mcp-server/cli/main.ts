#!/usr/bin/env node
import { discardAllPrespawned, earlyServerCommand, prespawn } from '../proxy/transport/prespawn.js';

// `hitloop proxy -- COMMAND` is started by MCP clients that wait for its
// initialize answer: start the server before loading the rest of the CLI,
// so both boot at once (the proxy adopts the process once its config is read).
const argv = process.argv.slice(2);
const early = earlyServerCommand(argv);
try {
  if (early) prespawn(early);
} catch {
  // Whatever spawn() refuses, the proxy reports when it starts the server itself.
}

const { runCli } = await import('./program.js');
// Set the code rather than calling process.exit so pending stdout writes
// (a large export piped to a file) are flushed before the process ends.
process.exitCode = await runCli(argv);
discardAllPrespawned();
