import { closeSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { type Command, Option } from 'commander';
import { ConfigError } from '../../../shared/errors.js';
import {
  EXPORT_FORMATS,
  type ExportFormat,
  type ExportSummary,
  exportTelemetry,
  openTelemetryForExport,
} from '../../../shared/telemetry/export.js';
import type { CliIo } from '../program.js';

interface ExportOptions {
  db: string;
  format: ExportFormat;
  run?: string;
  condition?: string;
  out?: string;
}

// Big enough that a large export is a few hundred writes, small enough that
// memory stays flat.
const CHUNK_BYTES = 64 * 1024;

/**
 * `hitloop telemetry export`: the trace of one run, one condition, or
 * everything, as CSV or JSON for analysis.
 *
 * @example
 * registerTelemetryCommands(program, io);
 * // hitloop telemetry export --db results/telemetry.db --format csv --condition risk_based --out events.csv
 */
export function registerTelemetryCommands(program: Command, io: CliIo): void {
  const telemetry = program.command('telemetry').description('work with SQLite telemetry files');
  telemetry
    .command('export')
    .description(
      'export trace events (with their run condition) as CSV, or runs and events as JSON',
    )
    .requiredOption('--db <file>', 'telemetry database written by TelemetryLogger')
    .addOption(
      new Option('--format <format>', 'output format')
        .choices(EXPORT_FORMATS)
        .makeOptionMandatory(),
    )
    .option('--run <id>', 'only this run')
    .option('--condition <name>', 'only runs of this condition')
    .option('--out <file>', 'write here instead of stdout (replaced only when the export succeeds)')
    .action((opts: ExportOptions) => {
      runExport(opts, io);
    });
}

function runExport(opts: ExportOptions, io: CliIo): void {
  if (opts.out !== undefined && resolve(opts.out) === resolve(opts.db)) {
    throw new ConfigError({
      file: opts.out,
      field: '--out',
      problem: 'is the database being exported',
      fix: 'choose another output file',
    });
  }
  const db = openTelemetryForExport(opts.db);
  let summary: ExportSummary;
  try {
    const chunks = exportTelemetry(db, opts.format, { runId: opts.run, condition: opts.condition });
    summary =
      opts.out === undefined ? drain(chunks, io.stdout) : writeFileAtomically(opts.out, chunks);
  } finally {
    db.close();
  }
  const filters = [
    opts.run === undefined ? '' : ` --run ${opts.run}`,
    opts.condition === undefined ? '' : ` --condition ${opts.condition}`,
  ].join('');
  if (summary.events === 0 && summary.runs === 0) {
    io.stderr(`hitloop: no runs or events in ${opts.db} matched${filters}\n`);
  }
  if (summary.invalidJson > 0) {
    io.stderr(
      `hitloop: ${summary.invalidJson} row(s) in ${opts.db} hold invalid JSON; exported as null with the stored text in payload_raw/metadata_raw\n`,
    );
  }
  if (opts.out !== undefined) {
    const what = opts.format === 'json' ? `${summary.runs} run(s) and ` : '';
    io.stderr(`hitloop: wrote ${what}${summary.events} event(s) to ${opts.out}\n`);
  }
}

/** Sends chunks to `write` in large pieces and returns the generator's summary. */
function drain(
  chunks: Generator<string, ExportSummary>,
  write: (text: string) => void,
): ExportSummary {
  let buffer = '';
  for (;;) {
    const next = chunks.next();
    if (next.done) {
      if (buffer) write(buffer);
      return next.value;
    }
    buffer += next.value;
    if (buffer.length >= CHUNK_BYTES) {
      write(buffer);
      buffer = '';
    }
  }
}

// A failed export must not leave a half-written file where a good one was.
function writeFileAtomically(out: string, chunks: Generator<string, ExportSummary>): ExportSummary {
  const temp = join(dirname(out), `.${basename(out)}.${process.pid}.tmp`);
  let fd: number;
  try {
    fd = openSync(temp, 'w');
  } catch (err) {
    throw new ConfigError({
      file: out,
      field: '--out',
      problem: `cannot create a file here (${(err as NodeJS.ErrnoException).code ?? String(err)})`,
      fix: 'choose a file in an existing directory you can write to',
    });
  }
  try {
    const summary = drain(chunks, (text) => writeAll(fd, text));
    closeSync(fd);
    renameSync(temp, out);
    return summary;
  } catch (err) {
    try {
      closeSync(fd);
    } catch {
      // Already closed after a successful write; only the rename failed.
    }
    rmSync(temp, { force: true });
    throw err;
  }
}

function writeAll(fd: number, text: string): void {
  const bytes = Buffer.from(text, 'utf8');
  // writeSync may write less than asked; loop until the chunk is out.
  for (let offset = 0; offset < bytes.length; ) {
    offset += writeSync(fd, bytes, offset, bytes.length - offset);
  }
}
