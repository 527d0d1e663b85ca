import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..', '..');
const read = (path: string) => readFileSync(join(root, path), 'utf8');
const manifest = JSON.parse(read('package.json'));

describe('the extension manifest', () => {
  it('registers every contributed command, and contributes every registered one', () => {
    const contributed = manifest.contributes.commands
      .map((c: { command: string }) => c.command)
      .sort();
    const registered = [...read('extension/src/extension.ts').matchAll(/register\('([\w.]+)'/g)]
      .map((m) => m[1])
      .sort();
    expect(registered).toEqual(contributed);
    for (const menu of Object.values(manifest.contributes.menus) as Array<
      Array<{ command: string }>
    >)
      for (const entry of menu) expect(contributed).toContain(entry.command);
  });

  it('names the view, the MCP provider and the entry point the code uses', () => {
    expect(manifest.contributes.views.hitloop[0]).toMatchObject({
      type: 'webview',
      id: 'hitloop.approvals',
    });
    expect(read('extension/src/approvals-view.ts')).toContain("viewId = 'hitloop.approvals'");
    const providerId = /MCP_PROVIDER_ID = '([\w.]+)'/.exec(
      read('extension/src/mcp-provider.ts'),
    )?.[1];
    expect(manifest.contributes.mcpServerDefinitionProviders[0].id).toBe(providerId);
    expect(manifest.main).toBe('./dist/extension/extension.cjs');
    expect(manifest.engines.vscode).toBe('^1.100.0');
    expect(existsSync(join(root, manifest.icon))).toBe(true);
    expect(existsSync(join(root, manifest.contributes.viewsContainers.activitybar[0].icon))).toBe(
      true,
    );
  });

  it('declares every setting the code reads', () => {
    const settings = read('extension/src/settings.ts');
    const used = [...settings.matchAll(/c\.get<unknown>\('(\w+)'\)/g)]
      .map((m) => `hitloop.${m[1]}`)
      .sort();
    expect(used).toEqual(Object.keys(manifest.contributes.configuration.properties).sort());
  });
});

describe('the webview source', () => {
  it('never parses markup: no innerHTML, outerHTML, insertAdjacentHTML or document.write', () => {
    for (const file of readdirSync(join(root, 'extension/webview')).filter((f) =>
      f.endsWith('.ts'),
    )) {
      const text = read(`extension/webview/${file}`);
      expect(text, file).not.toMatch(
        /\.(innerHTML|outerHTML)\b|insertAdjacentHTML|document\.write/,
      );
    }
  });

  it('carries the data-testid handles the end-to-end tests use', () => {
    const app = read('extension/webview/app.ts');
    for (const id of [
      'approval-item',
      'approve-button',
      'reject-button',
      'reject-reason',
      'edit-button',
      'edit-textarea',
      'edit-save',
      'args-view',
      'empty-state',
      'tab-history',
      'tab-rules',
    ]) {
      expect(app.includes(`'${id}'`) || app.includes(`\`tab-\${tab}\``), id).toBe(true);
    }
    expect(app).toContain("'data-approval-id': p.id");
  });
});

const bundles = ['dist/extension/extension.cjs', 'dist/extension/webview.js'];
const built = bundles.every((b) => existsSync(join(root, b)));

describe.skipIf(!built)('the extension bundles (built by npm run build)', () => {
  it('load no native module', () => {
    for (const bundle of bundles) {
      const text = read(bundle);
      expect(text, bundle).not.toContain('better-sqlite3');
      expect(text, bundle).not.toMatch(/require\(["'][^"']+\.node["']\)/);
    }
  });

  it('the host bundle is CommonJS and needs only vscode and Node built-ins', () => {
    const text = read('dist/extension/extension.cjs');
    const required = new Set([...text.matchAll(/require\("([^"]+)"\)/g)].map((m) => m[1]!));
    const builtins = new Set(builtinModules);
    for (const name of required)
      expect(name === 'vscode' || builtins.has(name.replace(/^node:/, '')), name).toBe(true);
    expect(required.has('vscode')).toBe(true);
    expect(text).toMatch(/module\.exports|exports\.activate|__export/);
  });
});
