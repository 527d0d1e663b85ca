import { execFileSync } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { builtinModules } from 'node:module';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CONTEXT_KEYS } from '../../extension/src/context-keys.js';
import { makeTempDir } from '../helpers/temp-dir.js';

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
    expect(manifest.engines.vscode).toBe('^1.101.0');
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

type Command = { command: string; title: string; category?: string };
type MenuEntry = { command: string; when?: string };
const commands: Command[] = manifest.contributes.commands;
const menus = manifest.contributes.menus as Record<string, MenuEntry[]>;
/** `hitloop.x` words in a `when` clause that are not view or command ids. */
const keysIn = (when: string) =>
  [...when.matchAll(/\bhitloop\.[A-Za-z]+\b/g)]
    .map((m) => m[0])
    .filter((k) => k !== 'hitloop.approvals');

describe('the extension manifest: what the Command Palette shows', () => {
  it('every when clause reads only context keys the extension sets', () => {
    const entries = Object.values(menus).flat();
    expect(entries.length).toBeGreaterThan(0);
    for (const { command, when } of entries)
      for (const key of keysIn(when ?? ''))
        expect(CONTEXT_KEYS, `${command}: ${when}`).toContain(key);
    // And every key the extension sets is read somewhere (no dead keys).
    const used = new Set(entries.flatMap((e) => keysIn(e.when ?? '')));
    const walkthroughKeys = JSON.stringify(manifest.contributes.walkthroughs).match(
      /onContext:(hitloop\.\w+)/g,
    );
    for (const k of walkthroughKeys ?? []) used.add(k.slice('onContext:'.length));
    expect([...used].sort()).toEqual([...CONTEXT_KEYS].sort());
    // The extension sets them through ContextKeys (setContext), nowhere else
    // (context-keys.ts shows how in its example).
    expect(read('extension/src/extension.ts')).toContain(
      "executeCommand('setContext', key, value)",
    );
    for (const file of readdirSync(join(root, 'extension/src')))
      if (file !== 'extension.ts' && file !== 'context-keys.ts')
        expect(read(`extension/src/${file}`), file).not.toContain("'setContext'");
  });

  it('hides the commands that cannot act now', () => {
    const palette = Object.fromEntries(
      menus.commandPalette!.map((e) => [e.command, e.when] as const),
    );
    expect(palette).toEqual({
      'hitloop.approve': 'hitloop.hasPending',
      'hitloop.reject': 'hitloop.hasPending',
      'hitloop.approveAll': 'hitloop.hasSelection',
      'hitloop.rejectAll': 'hitloop.hasSelection',
      'hitloop.showDiff': 'hitloop.hasPendingWrite',
      'hitloop.routeWorkspaceServers': 'hitloop.hasMcpJson',
      'hitloop.undoRouteWorkspaceServers': 'hitloop.routed',
      'hitloop.disconnectRemoteHub': 'hitloop.hasRemoteHubs',
    });
    // The rest can always act: they open something or ask.
    const always = commands.map((c) => c.command).filter((c) => !(c in palette));
    expect(always.sort()).toEqual([
      'hitloop.connectRemoteHub',
      'hitloop.openWalkthrough',
      'hitloop.refresh',
      'hitloop.showApprovals',
    ]);
  });

  it('every command a message or a doc names ("hitloop: Title") is a contributed command, by its exact title', () => {
    const titles = new Set(commands.map((c) => `${c.category}: ${c.title}`));
    const files = [
      ...readdirSync(join(root, 'extension/src')).map((f) => `extension/src/${f}`),
      ...readdirSync(join(root, 'extension/webview'))
        .filter((f) => f.endsWith('.ts'))
        .map((f) => `extension/webview/${f}`),
      ...readdirSync(join(root, 'docs'))
        .filter((f) => f.endsWith('.md'))
        .map((f) => `docs/${f}`),
      'README.md',
      'extension/README.md',
      'package.json',
    ];
    let named = 0;
    for (const file of files) {
      const text = read(file).replaceAll('\\"', '"');
      // Quoted, bold or italic: "hitloop: X", **hitloop: X**, *hitloop: X*.
      for (const m of text.matchAll(/(?:"|\*\*?)hitloop: ([A-Z][^"*\n]*?)(?:"|\*)/g)) {
        named++;
        expect(titles, `${file} names "hitloop: ${m[1]}"`).toContain(`hitloop: ${m[1]}`);
      }
    }
    expect(named).toBeGreaterThan(3);
  });
});

describe('the walkthrough', () => {
  const [walkthrough, ...others] = manifest.contributes.walkthroughs;

  it('is the one the Get Started command opens, with three steps whose buttons run real commands', () => {
    expect(others).toEqual([]);
    expect(read('extension/src/extension.ts')).toContain(`WALKTHROUGH_ID = '${walkthrough.id}'`);
    expect(walkthrough.steps.map((s: { id: string }) => s.id)).toEqual([
      'hitloop.install',
      'hitloop.route',
      'hitloop.approve',
    ]);
    const ours = new Set(commands.map((c) => c.command));
    for (const step of walkthrough.steps) {
      const links = [...step.description.matchAll(/\(command:([\w.]+)\)/g)].map((m) => m[1]);
      expect(links.length, step.id).toBeGreaterThan(0);
      for (const id of links)
        if (id.startsWith('hitloop.')) expect(ours, `${step.id} links ${id}`).toContain(id);
        // VS Code's own (as named in 1.139): MCP: List Servers, Chat: Manage Tool Approval.
        else
          expect(['workbench.mcp.listServer', 'workbench.action.chat.editToolApproval']).toContain(
            id,
          );
      for (const event of step.completionEvents) {
        const command = /^onCommand:(.+)$/.exec(event)?.[1];
        if (command) expect(ours).toContain(command);
        const view = /^onView:(.+)$/.exec(event)?.[1];
        if (view) expect(view).toBe('hitloop.approvals');
        const installed = /^extensionInstalled:(.+)$/.exec(event)?.[1];
        if (installed) expect(installed).toBe(`${manifest.publisher}.${manifest.name}`);
      }
    }
  });

  it('has an SVG picture for every step, shipped in the VSIX, themed with VS Code colours', () => {
    const shipped = read('.vscodeignore');
    for (const step of walkthrough.steps) {
      const path: string = step.media.svg;
      expect(step.media.altText, step.id).toMatch(/^\w.{20,}/);
      const svg = read(path);
      expect(svg, path).toMatch(
        /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg" viewBox="0 0 \d+ \d+"/,
      );
      // Theme colours as presentation attributes: the walkthrough's webview
      // inlines the SVG under a CSP that blocks <style> (every fill went black).
      expect(svg, path).toMatch(/fill="var\(--vscode-[\w-]+, #[0-9a-f]{6}\)"/);
      expect(svg, path).not.toMatch(/<style|style=/);
      // No backquotes either: walkthrough text shows them as they are.
      expect(step.description, step.id).not.toContain('`');
      expect(svg.trim().endsWith('</svg>'), path).toBe(true);
      expect(shipped).toContain(`!${path.replace(/[^/]+$/, '')}`);
    }
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

  it('the host bundle never reads the global navigator (VS Code logs a PendingMigrationError for each read)', () => {
    // Loaded in a Node whose navigator counts its readers, with a stand-in vscode
    // module: loading creates every zod schema, which is when zod looked.
    const dir = makeTempDir('hitloop-navigator-');
    try {
      mkdirSync(join(dir, 'node_modules', 'vscode'), { recursive: true });
      writeFileSync(join(dir, 'node_modules', 'vscode', 'index.js'), 'module.exports = {};');
      copyFileSync(join(root, 'dist/extension/extension.cjs'), join(dir, 'extension.cjs'));
      const script = `let reads = 0;
Object.defineProperty(globalThis, 'navigator', { configurable: true, get() { reads++; return { userAgent: 'Node' }; } });
const ext = require('./extension.cjs');
if (typeof ext.activate !== 'function') throw new Error('no activate');
process.stdout.write(String(reads));`;
      const reads = execFileSync(process.execPath, ['-e', script], { cwd: dir, encoding: 'utf8' });
      expect(reads).toBe('0');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    expect(read('dist/extension/extension.cjs')).not.toMatch(/\bnavigator\b/);
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
