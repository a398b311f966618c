// Cancel on a long action that is not an installer, in a real VS Code: step 4's Run waits for a
// server that ignores its stop (up to a minute). The action's notification offers Cancel; a click
// ends the action at once, nothing is killed, the tree never says passed, and step 5 is not proven.
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { STEPS, stepDef } from '../../src/core/runbook/steps';
import { label } from './labels';
import { demoPrerequisites, type Demo } from '../demo/demo';
import { demoRig, journalEvents, type DemoRig } from './rig';
import { findPrerequisites, REPO_ROOT } from './harness';
import type { Workbench } from './workbench';

const pre = findPrerequisites();
const skip = demoPrerequisites() ?? (pre.ok ? false : pre.reason);

describe('Cancel on a long step that is not an installer, in a real VS Code', { skip, concurrency: 1 }, () => {
  let rig: DemoRig | undefined;
  let demo: Demo | undefined;
  let wb: Workbench | undefined;

  before(async () => {
    if (!pre.ok) return;
    rig = await demoRig(pre.paths);
    ({ demo, wb } = rig);
  }, { timeout: 240_000 });

  after(() => rig?.stop());

  const journal = (d: Demo) => journalEvents(d.workspace);

  test('step 4 Run waiting on a server that ignores its stop: Cancel in its notification ends it at once, and nothing is killed', { timeout: 300_000 }, async () => {
    assert.ok(wb && demo, 'the demo and the workbench were not started');
    const w = wb;
    const d = demo;
    const first = d.tc.nodes[0].name;
    try {
      await w.openView('UCD Upgrade');
      await w.waitForTopLevelRows(STEPS.length);
      const pkg = label('package');
      await w.inlineAction(pkg, 'Run');
      await w.waitUntil(() => w.rowDescription(pkg), (t) => /^passed/.test(t), `"${pkg}" passed`, 120_000);

      await d.tc.setFault(first, 'ignoresStop', true);
      const pidBefore = (await d.tc.inNode(first, `cat ${d.tc.installDir}/var/server.pid`)).stdout.trim();
      assert.match(pidBefore, /^\d+$/, `${first} runs before step 4`);
      const stop = label('stop');
      await w.waitUntil(() => w.viewBusy(), (busy) => !busy, `the runbook view idle before Run on "${stop}"`);
      await w.inlineAction(stop, 'Run');
      // The other nodes stop; the first one waits, and says so in its row.
      await w.expand(stop);
      await w.waitUntil(() => w.childDescription(stop, first), (t) => /^running/.test(t), `${first} under "${stop}" running`, 60_000);
      await w.waitUntil(() => w.childDescription(stop, d.tc.nodes[1].name), (t) => /^passed/.test(t), `${d.tc.nodes[1].name} under "${stop}" passed while ${first} still waits`, 60_000);

      const clicked = Date.now();
      await w.notificationAction(new RegExp(`Run: ${stepDef('stop').title}`), 'Cancel');
      // Ended by the click, not by the minute the wait allows.
      const ended = await w.waitUntil(() => w.childDescription(stop, first), (t) => !/^running/.test(t), `${first} under "${stop}" no longer running after Cancel`, 20_000);
      assert.ok(Date.now() - clicked < 20_000);
      assert.doesNotMatch(ended, /^passed/, `${first} is not stopped: ${ended}`);
      const proof = label('verifyStopped');
      await w.expand(proof);
      assert.doesNotMatch(await w.childDescription(proof, first), /^passed/, 'step 5 does not prove the first node stopped');

      // Nothing was killed: the same server runs on.
      const pidAfter = (await d.tc.inNode(first, `cat ${d.tc.installDir}/var/server.pid && kill -0 "$(cat ${d.tc.installDir}/var/server.pid)" && echo alive`)).stdout.trim().split('\n');
      assert.deepEqual(pidAfter, [pidBefore, 'alive'], `${first}'s server still runs with the same pid`);
      const mine = journal(d).filter((e) => e.type === 'finished' && e.step === 'stop' && e.node === first);
      assert.equal(mine.length + journal(d).filter((e) => e.type === 'interrupted' && e.step === 'stop' && e.node === first).length, 1, 'one end is recorded for the first node');
      assert.ok(!journal(d).some((e) => e.type === 'decided' && e.decision.kind === 'kill'), 'no kill was decided');
    } catch (e) {
      await w.screenshot(path.join(REPO_ROOT, 'test-results', 'e2e', 'cancel.png')).catch(() => undefined);
      throw e;
    } finally {
      await d.tc.setFault(first, 'ignoresStop', false).catch(() => undefined);
    }
  });
});
