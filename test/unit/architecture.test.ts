import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';

const ROOT = path.resolve(__dirname, '../../..');

function files(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? files(p) : p.endsWith('.ts') ? [p] : [];
  });
}

test('nothing under src/core imports vscode (the engine runs without an editor)', () => {
  const core = files(path.join(ROOT, 'src/core'));
  assert.ok(core.length > 5, 'found the core sources');
  const offenders = core.filter((f) => /(from\s+['"]vscode['"]|require\(\s*['"]vscode['"]\s*\)|import\(\s*['"]vscode['"]\s*\))/.test(fs.readFileSync(f, 'utf8')));
  assert.deepEqual(offenders.map((f) => path.relative(ROOT, f)), []);
});

test('the manifest is consistent: every command used in menus is declared', () => {
  const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
  const declared = new Set(pkg.contributes.commands.map((c: { command: string }) => c.command));
  for (const [menu, entries] of Object.entries(pkg.contributes.menus as Record<string, { command: string }[]>)) {
    for (const e of entries) assert.ok(declared.has(e.command), `${menu} uses undeclared ${e.command}`);
  }
  assert.equal(pkg.engines.vscode, `^${pkg.devDependencies['@types/vscode'].replace(/^[\^~]/, '')}`, '@types/vscode matches engines.vscode');
});
