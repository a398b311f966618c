import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ps, psQuote, sh, shLines, shQuote, ShellScript, trustedShell } from '../../src/core/remote/quote';

const hostile = [
  '/opt/ucd; touch /tmp/x',
  "it's",
  `"double" 'single' \\back`,
  '$(id) `id` ${HOME} $HOME',
  'line1\nline2\n',
  'tab\there',
  'ünïcødé ✓ 日本語 🙂',
  '-n',
  '',
  '*',
  '~root',
  "'; rm -rf / #",
  'a\r\nb',
];

// Real shells decide what "quoted" means: run each value through them and compare bytes.
const shells = ['/bin/sh', '/bin/bash', '/bin/dash'].filter((s) => fs.existsSync(s));

test('shQuote: every hostile value reaches the shell as exactly one word with the same bytes', () => {
  assert.ok(shells.length > 0);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ucd-quote-'));
  const marker = path.join(dir, 'pwned');
  const values = [...hostile, `x; touch ${marker}`, `$(touch ${marker})`, `\`touch ${marker}\``];
  for (const shell of shells) {
    for (const v of values) {
      const out = execFileSync(shell, ['-c', `printf '%s|' ${shQuote(v)} ; printf '%s' "$#"`, 'argv0'], { encoding: 'utf8' });
      assert.equal(out, `${v}|0`, `${shell}: ${JSON.stringify(v)}`);
      const count = execFileSync(shell, ['-c', `set -- ${shQuote(v)}; printf %s "$#"`], { encoding: 'utf8' });
      assert.equal(count, '1', `${shell}: one word for ${JSON.stringify(v)}`);
    }
  }
  assert.equal(fs.existsSync(marker), false, 'no value ran as a command');
});

test('shQuote refuses NUL instead of truncating', () => {
  assert.throws(() => shQuote('a\0b'), /NUL/);
  assert.throws(() => psQuote('a\0b'), /NUL/);
});

test('sh`` quotes strings, writes numbers, spreads arrays, embeds scripts verbatim', () => {
  const dir = "/opt/u cd's";
  const s = sh`cd ${dir} && ls ${['a b', 'c']} | head -n ${5}`;
  assert.ok(s instanceof ShellScript);
  assert.equal(s.text, `cd '/opt/u cd'\\''s' && ls 'a b' 'c' | head -n 5`);
  const inner = sh`echo ${'$HOME'}`;
  assert.equal(sh`${inner}; ${inner}`.text, `echo '$HOME'; echo '$HOME'`);
  assert.equal(shLines(inner, trustedShell('true')).text, `echo '$HOME'\ntrue`);
  assert.throws(() => sh`sleep ${Number.NaN}`, /finite/);
});

test('sh`` script with hostile values runs in a real shell as data', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ucd-quote-'));
  const marker = path.join(dir, 'x');
  const installDir = `/opt/ucd; touch ${marker}`;
  const script = sh`if [ -d ${installDir} ]; then echo yes; else printf 'missing:%s' ${installDir}; fi`;
  const out = execFileSync('/bin/sh', ['-c', script.text], { encoding: 'utf8' });
  assert.equal(out, `missing:${installDir}`);
  assert.equal(fs.existsSync(marker), false);
});

test('psQuote: single-quoted literal, doubling ASCII and typographic single quotes', () => {
  assert.equal(psQuote("C:\\Program Files\\UCD's"), "'C:\\Program Files\\UCD''s'");
  assert.equal(psQuote('$env:PATH; Remove-Item x'), "'$env:PATH; Remove-Item x'");
  assert.equal(psQuote('a\u2019b\u2018c'), "'a\u2019\u2019b\u2018\u2018c'");
  assert.equal(psQuote('`n $(1+1)'), "'`n $(1+1)'");
  assert.equal(ps`Get-Item -LiteralPath ${'C:\\x;y'} -Depth ${2} ${['a', "b'"]}`.text, "Get-Item -LiteralPath 'C:\\x;y' -Depth 2 'a', 'b'''");
});
