import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, onTestFinished } from 'vitest';

/**
 * A new empty folder under the system temp dir, removed when it is no longer
 * needed: at the end of the current test when made in a test or a
 * `beforeEach`, after the file's (or describe block's) tests when made where
 * tests are declared. Not from a `beforeAll`: a hook added there never runs,
 * so make it one level up instead. The suite once left hundreds of
 * `hitloop-*` folders behind; every test folder comes from here.
 *
 * @example
 * const dir = makeTempDir('hitloop-wrap-'); // at module level: gone after the file's tests
 * it('writes', () => { const out = makeTempDir(); ... }); // gone after this test
 */
export function makeTempDir(prefix = 'hitloop-test-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  // maxRetries: a child process the test just ended may still be closing files inside.
  const remove = () => rmSync(dir, { recursive: true, force: true, maxRetries: 5 });
  try {
    onTestFinished(remove);
  } catch {
    // Not inside a test: outside one, onTestFinished throws.
    afterAll(remove);
  }
  return dir;
}
