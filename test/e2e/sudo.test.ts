// The sudo prompt through the real UI: on a cluster whose install belongs to the service user and
// whose sudo asks for the SSH user's password, Check on step 5 asks for it in a password box,
// once per node, and the proof runs through sudo (it sees the service user's server).
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { STEPS } from '../../src/core/runbook/steps';
import { label } from './labels';
import { clusterPrerequisites, type TestCluster } from '../cluster/harness';
import { clusterRig, type ClusterRig } from './rig';
import { findPrerequisites, waitFor } from './harness';
import { Workbench } from './workbench';

const pre = findPrerequisites();
const skip = !pre.ok ? pre.reason : clusterPrerequisites() ?? (fs.existsSync('/usr/bin/sudo') ? false : 'sudo is not installed (test/install-debian-deps.sh installs it)');
const step = label('verifyStopped');


describe('the sudo password, asked in the real UI', { skip }, () => {
  let rig: ClusterRig | undefined;
  let tc: TestCluster | undefined;
  let wb: Workbench | undefined;
  let ws = '';

  before(async () => {
    if (!pre.ok) return;
    rig = await clusterRig(pre.paths, { nodes: 2, serviceUser: true, running: ['ucd2'], folder: 'sudo-cluster' });
    ({ tc, ws } = rig);
  });

  after(() => rig?.stop());

  test('Check on step 5 asks for the sudo password once per node in a password box; the proof sees the service user\'s server', async () => {
    assert.ok(rig && tc);
    const password = tc.sudoPassword!;
    wb = await rig.open();
    await wb.openView('UCD Upgrade');
    await wb.waitForTopLevelRows(STEPS.length);
    await wb.expand(step);
    await wb.inlineAction(step, 'Check');
    const w = wb;
    const asked: string[] = [];
    for (let i = 0; i < tc.nodes.length; i++) {
      let q: Awaited<ReturnType<Workbench['quickInput']>>;
      await waitFor(async () => (q = await w.quickInput()) !== undefined && q.kind === 'input' && /sudo password/.test(q.prompt), `the sudo password box (${i + 1} of ${tc.nodes.length})`, 60_000);
      assert.ok(q! && q.kind === 'input');
      assert.equal(q.password, true, 'the box hides what is typed');
      asked.push(q.prompt);
      await w.submitInputBox(password);
    }
    assert.deepEqual(asked.map((a) => /on node (ucd\d)/.exec(a)?.[1]).sort(), ['ucd1', 'ucd2'], asked.join('\n'));
    assert.ok(asked.every((a) => a.includes(`of ${tc!.user}`)), asked.join('\n'));

    await waitFor(async () => /failed/.test(await w.childDescription(step, 'ucd2')), 'ucd2 failed (its server runs as ucd)', 60_000);
    const pid = (await tc.inNode('ucd2', `cat ${tc.installDir}/var/server.pid`)).stdout.trim();
    assert.match(await wb.childDescription(step, 'ucd2'), new RegExp(`pid ${pid}`));
    await waitFor(async () => /passed/.test(await w.childDescription(step, 'ucd1')), 'ucd1 passed', 60_000);
    assert.equal(await wb.quickInput(), undefined, 'nothing more is asked');

    const dir = path.join(ws, '.ucd-upgrade');
    const journal = fs.readdirSync(dir).filter((f) => f.endsWith('.jsonl')).map((f) => fs.readFileSync(path.join(dir, f), 'utf8')).join('\n');
    assert.ok(journal.includes('ucd2'), 'the journal holds the check');
    assert.ok(!journal.includes(password), 'the sudo password is not in the journal');
    assert.ok(!fs.readFileSync(path.join(ws, 'ucd-cluster.json'), 'utf8').includes(password), 'nor in the cluster file');
  });
});
