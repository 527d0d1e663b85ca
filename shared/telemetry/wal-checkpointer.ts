import { statSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import { sqliteDriverModule } from '../sqlite/open.js';
import type { SqliteDatabase } from '../sqlite/types.js';
import { busyTimeoutOf } from './schema.js';

// Why a thread: in WAL mode SQLite copies the log back into the database
// (a checkpoint, with an fsync of each file) from inside whichever commit
// crosses 1,000 pages. That commit, and so the proxy's event loop, then
// stalls for milliseconds, and the copy took about a third of the logger's
// flush time (5.9 against 9.3 µs per allowed call with checkpoints kept out,
// in-process). A second connection on a worker thread can checkpoint in
// PASSIVE mode while the first one goes on writing: WAL lets a checkpoint
// run beside a writer, and the writer restarts the log once it has been
// copied, so it stays small. The worker opens the file with the driver the
// logger uses (better-sqlite3 by its resolved path, or node:sqlite), from
// source given inline, so the bundled CLI and the VSIX need no extra file.

/** How often, at most, a checkpoint is asked for while rows are being written. */
const CHECKPOINT_EVERY_MS = 1000;
/**
 * The worker starts once the log holds this much, and not in the first
 * second: a short-lived process, or a proxy still starting up, never pays
 * for a thread (about 50 ms of CPU to start) that a small log does not need;
 * SQLite's own checkpoints (every 4 MB) cover the log until then.
 */
const FIRST_CHECKPOINT_BYTES = 1024 * 1024;
/** How long close() waits for the worker to close its connection. */
const CLOSE_WAIT_MS = 2000;
/** SQLite's own default, put back when the worker cannot do the job. */
const DEFAULT_AUTOCHECKPOINT_PAGES = 1000;

// Shared state slots (Int32Array over a SharedArrayBuffer).
const CLOSING = 0; // set by the main thread: do not open, or close now
const CLOSED = 1; // set by the worker once its connection is closed (or never opened)

const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const flags = new Int32Array(workerData.flags);
const done = () => { Atomics.store(flags, ${CLOSED}, 1); Atomics.notify(flags, ${CLOSED}); };
let db;
try {
  if (Atomics.load(flags, ${CLOSING}) === 0) {
    if (workerData.driver === 'better-sqlite3') {
      const Database = require(workerData.modulePath);
      db = new Database(workerData.file, { fileMustExist: true });
    } else {
      // As in the main thread (shared/sqlite/open.ts): node:sqlite's
      // ExperimentalWarning would land in the MCP client's log.
      const emit = process.emitWarning;
      process.emitWarning = function (warning, ...rest) {
        if (/sqlite/i.test(String(warning && warning.message || warning))) return;
        return emit.call(process, warning, ...rest);
      };
      const { DatabaseSync } = require('node:sqlite');
      // node:sqlite has no fileMustExist: a file that is gone would be created empty.
      if (!require('node:fs').existsSync(workerData.file)) throw new Error('unable to open database file');
      db = new DatabaseSync(workerData.file);
    }
    db.exec('PRAGMA busy_timeout = ' + workerData.busyTimeoutMs);
  }
} catch (err) {
  parentPort.postMessage({ error: 'could not open: ' + (err && err.message) });
  db = undefined;
}
if (!db) done();
parentPort.on('message', (message) => {
  if (message === 'close') {
    try { if (db) db.close(); } catch {}
    db = undefined;
    done();
    parentPort.close();
    return;
  }
  if (!db) return;
  try {
    db.exec('PRAGMA wal_checkpoint(PASSIVE)');
    parentPort.postMessage({ done: true });
  } catch (err) {
    const busy = /busy|locked/i.test(String(err && err.message));
    parentPort.postMessage(busy ? { done: true } : { error: String(err && err.message) });
  }
});
`;

/**
 * Checkpoints one WAL database from a worker thread, so the connection that
 * writes it never copies the log back itself (see the note above). The
 * writer calls {@link afterCommit} after each commit; at most once a second
 * that asks the worker for a PASSIVE checkpoint (the worker starts with the
 * first one, once the log holds 1 MB). When the worker cannot open
 * the file or fails, SQLite's automatic checkpoints are turned back on and
 * the reason goes to `onProblem`: checkpoints then happen as before.
 *
 * @example
 * const checkpointer = new WalCheckpointer(db, 'telemetry.db', { onProblem: console.warn });
 * writeBatch(rows); checkpointer.afterCommit();
 * checkpointer.close(); // before db.close(), so that connection is the last one and removes the log
 */
export class WalCheckpointer {
  private worker: Worker | undefined;
  private readonly flags = new Int32Array(new SharedArrayBuffer(8));
  private busy = false;
  /** Starts at creation, so nothing is asked for in the first second. */
  private lastAskedAt = Date.now();
  private failed = false;

  constructor(
    private readonly db: SqliteDatabase,
    private readonly file: string,
    private readonly options: { busyTimeoutMs?: number; onProblem: (reason: string) => void },
  ) {}

  /** Called after a commit: starts the worker on first use, and asks for a checkpoint when one is due. */
  afterCommit(): void {
    if (this.failed || this.busy) return;
    const now = Date.now();
    if (now - this.lastAskedAt < CHECKPOINT_EVERY_MS) return;
    this.lastAskedAt = now;
    if (!this.worker && this.logBytes() < FIRST_CHECKPOINT_BYTES) return;
    const worker = this.worker ?? this.start();
    if (!worker) return;
    this.busy = true;
    worker.postMessage('checkpoint');
  }

  /**
   * Closes the worker's connection and waits (up to 2 s) until it has, so
   * the writer's own close is the last one and checkpoints and removes the log.
   */
  close(): void {
    const worker = this.worker;
    Atomics.store(this.flags, CLOSING, 1);
    if (!worker) return;
    this.worker = undefined;
    worker.postMessage('close');
    Atomics.wait(this.flags, CLOSED, 0, CLOSE_WAIT_MS);
    void worker.terminate();
  }

  private logBytes(): number {
    try {
      return statSync(`${this.file}-wal`).size;
    } catch {
      return 0; // no log yet
    }
  }

  private start(): Worker | undefined {
    try {
      // Taken over from SQLite before the first checkpoint is due.
      this.db.pragma('wal_autocheckpoint = 0');
      const driver = sqliteDriverModule();
      const worker = new Worker(WORKER_SOURCE, {
        eval: true,
        workerData: {
          file: this.file,
          driver: driver.name,
          modulePath: driver.modulePath,
          busyTimeoutMs: busyTimeoutOf(this.options.busyTimeoutMs),
          flags: this.flags.buffer,
        },
      });
      // A checkpoint thread must not keep a finished process alive.
      worker.unref();
      worker.on('message', (message: { done?: boolean; error?: string }) => {
        this.busy = false;
        if (message.error !== undefined) this.fail(message.error);
      });
      worker.on('error', (err) => this.fail(err.message));
      worker.on('exit', () => {
        if (this.worker === worker) this.fail('the checkpoint thread stopped');
      });
      this.worker = worker;
      return worker;
    } catch (err) {
      this.fail(err instanceof Error ? err.message : String(err));
      return undefined;
    }
  }

  private fail(reason: string): void {
    if (this.failed) return;
    this.failed = true;
    const worker = this.worker;
    this.worker = undefined;
    if (worker) void worker.terminate();
    try {
      this.db.pragma(`wal_autocheckpoint = ${DEFAULT_AUTOCHECKPOINT_PAGES}`);
    } catch {
      // the connection is closed: nothing left to checkpoint from here
    }
    this.options.onProblem(
      `background checkpoints of ${this.file} stopped (${reason}); SQLite checkpoints it while writing instead`,
    );
  }
}
