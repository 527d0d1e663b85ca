import { join } from 'node:path';
import Mocha from 'mocha';

/** Entry point @vscode/test-electron calls inside the extension host. */
export function run(): Promise<void> {
  const mocha = new Mocha({ ui: 'bdd', timeout: 30_000, color: true });
  mocha.addFile(join(__dirname, 'extension.suite.cjs'));
  return new Promise((resolve, reject) => {
    mocha.run((failures) =>
      failures ? reject(new Error(`${failures} extension-host test(s) failed`)) : resolve(),
    );
  });
}
