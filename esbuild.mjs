// Bundles the extension into one CommonJS file and the status webview into one browser script.
// execa is ESM-only, so bundling is what lets a CommonJS extension host load it; ssh2's optional
// native addons stay out (it falls back to JS).
import * as fs from 'node:fs';
import * as esbuild from 'esbuild';

const production = process.argv.includes('--production');
const watch = process.argv.includes('--watch');

const common = { bundle: true, sourcemap: !production, minify: production, logLevel: 'info' };
const contexts = await Promise.all([
  esbuild.context({
    ...common,
    entryPoints: ['src/extension.ts'],
    format: 'cjs',
    // jsonc-parser's UMD build loads its parts with require() calls esbuild cannot follow; its ESM build bundles.
    mainFields: ['module', 'main'],
    platform: 'node',
    target: 'node18',
    outfile: 'dist/extension.js',
    external: ['vscode', 'cpu-features', './crypto/build/Release/sshcrypto.node'],
  }),
  // The command-line runner (package.json "bin"): the same core, no editor.
  esbuild.context({
    ...common,
    entryPoints: ['src/cli/main.ts'],
    format: 'cjs',
    mainFields: ['module', 'main'],
    platform: 'node',
    target: 'node18',
    outfile: 'dist/cli.js',
    banner: { js: '#!/usr/bin/env node' },
    external: ['cpu-features', './crypto/build/Release/sshcrypto.node'],
  }),
  esbuild.context({
    ...common,
    entryPoints: ['media/status/main.ts'],
    format: 'iife',
    platform: 'browser',
    target: 'chrome114',
    outfile: 'dist/media/status.js',
  }),
]);
if (watch) {
  await Promise.all(contexts.map((c) => c.watch()));
} else {
  await Promise.all(contexts.map((c) => c.rebuild()));
  await Promise.all(contexts.map((c) => c.dispose()));
  // The bin runs as ./dist/cli.js too, not only through npm's shim.
  fs.chmodSync('dist/cli.js', 0o755);
}
