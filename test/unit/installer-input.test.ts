// The hand-over terminal's line discipline and the installer handle's phase, as pure logic.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { asksForSecret, LineInput } from '../../src/core/ucd/installer/lineInput';
import { InstallerHandle } from '../../src/core/steps/installerHandle';
import { ANT_TEXTS, INFO_TEXTS } from '../../src/core/ucd/installer/texts';

describe('hand-over terminal input', () => {
  test('echoes, edits and sends only finished lines; escape sequences move nothing', () => {
    const l = new LineInput();
    assert.deepEqual(l.feed('7x'), { echo: '7x', lines: [] });
    assert.deepEqual(l.feed('\x7f'), { echo: '\b \b', lines: [] });
    assert.deepEqual(l.feed('\x1b[D916\r'), { echo: '916\r\n', lines: ['7916'] });
    assert.deepEqual(l.feed('a\r\nb\n'), { echo: 'a\r\nb\r\n', lines: ['a', 'b'] });
    assert.deepEqual(l.feed('oops\x15ok\r'), { echo: 'oops' + '\b \b'.repeat(4) + 'ok\r\n', lines: ['ok'] });
    assert.deepEqual(l.feed('\r'), { echo: '\r\n', lines: [''] }, 'Enter alone is an empty line (the default)');
  });

  test('a password question is echoed as stars, the line sent as typed', () => {
    let last = 'Enter the keystore password:';
    const l = new LineInput(() => asksForSecret(last));
    assert.deepEqual(l.feed('s3cr\r'), { echo: '****\r\n', lines: ['s3cr'] });
    last = 'Enter the port [Default: 7916]';
    assert.deepEqual(l.feed('42'), { echo: '42', lines: [] });
    assert.equal(asksForSecret('line one\nEnter passphrase for the key\n\n'), true);
    assert.equal(asksForSecret('Enter the install directory'), false);
  });
});

describe('installer handle', () => {
  const run = { runId: 'r', pid: 1, dir: '/d' };
  test('phase follows the output: before, schema upgrade, laying files, ended', () => {
    const h = new InstallerHandle('ucd1', run, async () => 'stopped');
    assert.equal(h.phase(), 'before-schema-upgrade');
    h.observe({ type: 'progress', line: 'Enter the home directory' });
    assert.equal(h.phase(), 'before-schema-upgrade');
    h.observe({ type: 'info', kind: 'databaseUpgrades', line: INFO_TEXTS.databaseUpgrades.text });
    assert.equal(h.phase(), 'schema-upgrade');
    h.observe({ type: 'progress', line: '[copy] Copying 1289 files to /opt/ucd/server/lib' });
    assert.equal(h.phase(), 'laying-files');
    h.observe({ type: 'done', success: true, exitCode: 0, message: ANT_TEXTS.buildSuccessful.text });
    assert.equal(h.phase(), 'ended');
    h.observe({ type: 'info', kind: 'databaseUpgrades', line: '' });
    assert.equal(h.phase(), 'ended', 'nothing after the end');
  });

  test('a node with a current schema goes straight to laying files; stop runs once', async () => {
    let stops = 0;
    const h = new InstallerHandle('ucd2', run, async () => (stops++, 'stopped: exit 143'));
    h.observe({ type: 'info', kind: 'noDatabaseUpgrades', line: INFO_TEXTS.noDatabaseUpgrades.text });
    assert.equal(h.phase(), 'laying-files');
    assert.deepEqual(await Promise.all([h.stop(), h.stop()]), ['stopped: exit 143', 'stopped: exit 143']);
    assert.equal(stops, 1);
  });
});
