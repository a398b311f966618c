// The command line's words: steps by number or id, confirmations by name, and no secret as a value.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseArgs, UsageError } from '../../src/cli/args';
import { HeadlessDialogs } from '../../src/cli/dialogs';
import { STEPS } from '../../src/core/runbook/steps';

test('STEP is the runbook number or the id; anything else is a usage error naming both forms', () => {
  assert.equal(parseArgs(['run', '7'], '/w').step, 'installFirst');
  assert.equal(parseArgs(['check', 'verifyStopped', '--node', 'ucd2'], '/w').node, 'ucd2');
  assert.equal(parseArgs(['check', String(STEPS.length)], '/w').step, STEPS.at(-1)!.id);
  for (const bad of ['0', '12', 'install']) assert.throws(() => parseArgs(['run', bad], '/w'), (e: Error) => e instanceof UsageError && /number \(1-11\) or id/.test(e.message));
  assert.throws(() => parseArgs(['run'], '/w'), /run needs a STEP/);
  assert.throws(() => parseArgs(['plan', '3'], '/w'), /Unexpected argument "3"/);
});

test('a secret is never taken as a value: only an environment variable name or a descriptor', () => {
  for (const flag of ['--ucd-password', '--password=hunter2', '--ucd-token']) {
    assert.throws(() => parseArgs(['run', '2', flag, 'hunter2'], '/w'), /not accepted: a secret on the command line/);
  }
  assert.throws(() => parseArgs(['run', '2', '--ucd-password-env', 'hunter2!'], '/w'), /NAME of an environment variable, not its value/);
  const a = parseArgs(['run', '2', '--ucd-user', 'admin', '--ucd-password-env', 'UCD_PASSWORD', '--dir', '/c'], '/w');
  assert.equal(a.ucdPasswordEnv, 'UCD_PASSWORD');
  assert.equal(a.dir, '/c');
  assert.equal(parseArgs(['run', '2', '--ucd-password-fd', '3'], '/w').ucdPasswordFd, 3);
});

test('confirmations are named; an unknown one is refused, not ignored', () => {
  const a = parseArgs(['run', '5', '--confirm', 'kill', '--confirm=move-storage'], '/w');
  assert.deepEqual([...a.confirm].sort(), ['kill', 'move-storage']);
  assert.throws(() => parseArgs(['run', '5', '--confirm', 'yes'], '/w'), /the confirmations are kill, move-storage, cancel-processes, upgrade-without-backup/);
  assert.throws(() => parseArgs(['run', '5', '--force'], '/w'), /Unknown option --force/);
});

test('headless dialogs: yes only for a flag given beforehand; otherwise the safe answer and what is waited for', async () => {
  const said: string[] = [];
  const d = new HeadlessDialogs(new Set(['kill']), false, (l) => said.push(l));
  assert.equal(await d.confirm('kill', 'Kill pid 42?', 'TERM then KILL'), true);
  assert.deepEqual(d.waiting, []);
  assert.equal(await d.confirm('upgrade-without-backup', 'Go past the NOTICE?', ''), false);
  assert.equal(await d.chooseProcesses([{ name: 'Deploy' } as never]), undefined);
  assert.deepEqual((d.waiting as readonly { need: string }[]).map((w) => w.need), ['--confirm upgrade-without-backup', '--confirm cancel-processes or --wait-processes']);
  const waits = new HeadlessDialogs(new Set(), true, () => undefined);
  assert.deepEqual(await waits.chooseProcesses([{ name: 'Deploy' } as never]), { kind: 'wait' });
  assert.deepEqual(waits.waiting, []);
});
