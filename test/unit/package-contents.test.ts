import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

const VSIX = path.resolve(__dirname, '../../../dist/ucd-ha-upgrade.vsix');

test('the .vsix holds the bundle, the webview, schema and media, and no sources, tests or maps', { skip: fs.existsSync(VSIX) ? undefined : 'no dist/ucd-ha-upgrade.vsix (npm run package builds it; npm test does first)' }, () => {
  const listing = execFileSync('unzip', ['-Z1', VSIX], { encoding: 'utf8' }).trim().split('\n');
  const files = listing.filter((f) => f.startsWith('extension/')).map((f) => f.slice('extension/'.length));
  for (const must of ['dist/extension.js', 'dist/media/status.js', 'schemas/ucd-cluster.schema.json', 'media/ucd.svg', 'package.json']) {
    assert.ok(files.includes(must), `${must} is packaged`);
  }
  const bad = files.filter((f) => /\.(ts|map)$/.test(f) || /^(src|test|out|node_modules|\.cache)\//.test(f) || /tsconfig|esbuild/.test(f));
  assert.deepEqual(bad, []);
});
