import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cleanLine, compileLoose, looksLikePrompt, matchLoose } from '../../src/core/ucd/installer/match';
import { PROMPTS, matchPrompt } from '../../src/core/ucd/installer/prompts';
import { INFOS, REFUSALS } from '../../src/core/ucd/installer/refusals';
import { INFO_TEXTS, PROMPT_TEXTS, REFUSAL_TEXTS, UPGRADE_PROMPT_ORDER, frameAntEcho, renderProductText } from '../../src/core/ucd/installer/texts';
import { sameRelease } from '../../src/core/ucd/version';
import { DIR_PROMPT, ECHO, INSTALL_DIR_PROMPT, JRE_PROMPT, NOTICE, UPGRADE_PROMPT } from '../fixtures/installer/transcripts';

const SAMPLE = {
  javaHome: '/usr/lib/jvm/jre',
  product: 'IBM UrbanCode Deploy',
  defaultDir: '/opt/ibm-ucd/server',
  version: '7.0.5.0',
  pidFile: '/opt/ucd/server/var/server.pid',
  existing: '7.0.5.0',
  target: '7.1.2.0',
  from: '7.1.2.0',
  to: '7.0.5.0',
};

// The fixtures' prompts were typed from ucd-facts.md independently of texts.ts: both must agree.
test('texts.ts prints exactly what the facts say the installer prints', () => {
  const plain = (s: string) => s.split('\n').map((l) => l.replace(/^ {5}\[echo\] ?/, '')).join('\n');
  assert.equal(renderProductText(PROMPT_TEXTS.upgradeDirectory.text, SAMPLE) + '\n', DIR_PROMPT);
  assert.equal(renderProductText(PROMPT_TEXTS.javaHome.text, SAMPLE) + '\n', JRE_PROMPT('/usr/lib/jvm/jre'));
  assert.equal(renderProductText(PROMPT_TEXTS.installDirectory.text, SAMPLE) + '\n', plain(INSTALL_DIR_PROMPT()));
  assert.equal(renderProductText(PROMPT_TEXTS.upgradeConfirm.text, SAMPLE) + '\n', plain(UPGRADE_PROMPT('7.0.5.0')));
  assert.equal(renderProductText(PROMPT_TEXTS.notice.text, SAMPLE) + '\n', plain(NOTICE));
  assert.equal(REFUSAL_TEXTS.upgradeAborted.text, 'Upgrade aborted.');
  // What a simulator prints for the Java part, framed as Ant frames it.
  assert.equal(frameAntEcho(renderProductText(PROMPT_TEXTS.notice.text, SAMPLE)) + '\n', NOTICE);
  assert.equal(frameAntEcho(renderProductText(PROMPT_TEXTS.upgradeConfirm.text, SAMPLE)) + '\n', UPGRADE_PROMPT('7.0.5.0'));
  assert.deepEqual(UPGRADE_PROMPT_ORDER, ['upgradeDirectory', 'javaHome', 'installDirectory', 'upgradeConfirm', 'notice']);
  assert.equal(INFO_TEXTS.databaseUpgrades.text, 'Found database upgrades, cancelling currently running processes');
});

test('every prompt matcher matches its own rendered text, framed by Ant, and no other prompt does', () => {
  for (const p of PROMPTS) {
    const text = cleanLine(ECHO + renderProductText(PROMPT_TEXTS[p.id].text, SAMPLE).replace(/\n+/g, ' '));
    assert.equal(matchPrompt(text)?.prompt.id, p.id, p.id);
    assert.ok(looksLikePrompt(text), `${p.id} reads like a question`);
  }
});

test('every refusal key is a piece of its product text and matches it rendered', () => {
  for (const r of REFUSALS) {
    const template = REFUSAL_TEXTS[r.kind].text;
    assert.ok(template.includes(r.key), `${r.kind}: key is part of the text`);
    assert.ok(matchLoose(r.matcher, renderProductText(template, SAMPLE)), r.kind);
    for (const other of REFUSALS.filter((o) => o !== r)) {
      assert.equal(matchLoose(other.matcher, renderProductText(template, SAMPLE)), undefined, `${other.kind} must not match ${r.kind}`);
    }
  }
  for (const i of INFOS) assert.ok(matchLoose(i.matcher, INFO_TEXTS[i.kind].text));
});

test('renderProductText refuses to print a placeholder it has no value for', () => {
  assert.throws(() => renderProductText(PROMPT_TEXTS.upgradeConfirm.text, {}), /\{version\}/);
});

test('loose matching: any whitespace between characters, captures trimmed, anchoring at the end', () => {
  const m = compileLoose('A previous version ({version}) exists', { atEnd: true });
  assert.equal(matchLoose(m, 'A previous ver\n sion (7.0.5.0 ) exists  ')?.values.version, '7.0.5.0');
  assert.equal(matchLoose(m, 'A previous version (7.0.5.0) exists. More'), undefined);
  assert.equal(matchLoose(compileLoose('a.b'), 'axb'), undefined, 'regex characters are literal');
});

test('cleanLine removes ANSI codes, Ant frames and carriage-return overwrites', () => {
  assert.equal(cleanLine('\x1b[1;32m     [echo] Hello\x1b[0m\r'), 'Hello');
  assert.equal(cleanLine('10%\r50%\r100%'), '100%');
  assert.equal(cleanLine('\x1b]0;title\x07ready\x1b['), 'ready');
});

test('looksLikePrompt: questions yes, progress and Ant target headers no', () => {
  for (const q of ['Continue? ', 'Enter the port:', 'Pick one [Default: 3]', 'Overwrite (y/n)', 'HA node? y,N'])
    assert.ok(looksLikePrompt(q), q);
  for (const p of ['install:', 'upgrade-db:', '[copy] Copying 12 files to /opt/x', 'BUILD SUCCESSFUL', 'Total time: 3 seconds', ''])
    assert.equal(looksLikePrompt(p), false, p);
});

test('sameRelease: the release, with or without a build number; never a different one', () => {
  assert.ok(sameRelease('7.0.5.0.1050384', '7.0.5.0'));
  assert.ok(sameRelease('7.0.5', '7.0.5.0'));
  assert.ok(sameRelease('7.0.5.0.1050384', '7.0.5.0.1050384'));
  assert.equal(sameRelease('7.0.5.0.1050384', '7.0.5.0.999'), false);
  assert.equal(sameRelease('7.0.4.2', '7.0.5.0'), false);
  assert.equal(sameRelease('dev', '7.0.5.0'), false);
  assert.equal(sameRelease('', '7.0.5.0'), false);
});

test('a bracketed capture does not run on into a later prompt', () => {
  const installDir = PROMPTS.find((p) => p.id === 'installDirectory');
  assert.ok(installDir);
  const both = cleanLine(renderProductText(PROMPT_TEXTS.installDirectory.text, SAMPLE)) + ' /opt/ucd/server ' + renderProductText(PROMPT_TEXTS.upgradeConfirm.text, SAMPLE);
  assert.equal(matchLoose(installDir.matcher, both), undefined);
  assert.equal(matchPrompt(both)?.prompt.id, 'upgradeConfirm');
});
