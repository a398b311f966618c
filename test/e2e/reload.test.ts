// Issue 10's done-when in a real VS Code: "Developer: Reload Window" while step 7's installer runs
// (silent, detached on the node, its simulated schema upgrade made slow). The reload ends the
// window's extension host, not the installer; the new window owns the run, follows the installer
// again at once through the runner, the tree shows step 7 running on ucd1, and it ends passed with
// ucd1 on the target version. Nothing in the journal says interrupted or failed.
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { STEPS, type StepId } from '../../src/core/runbook/steps';
import { label } from './labels';
import { demoPrerequisites, type Demo } from '../demo/demo';
import { demoRig, journalEvents, type DemoRig } from './rig';
import { findPrerequisites, REPO_ROOT } from './harness';
import { dialogButton, Workbench } from './workbench';

const pre = findPrerequisites();
const skip = demoPrerequisites() ?? (pre.ok ? false : pre.reason);
/** Long enough for a reload on a loaded machine to come back while the schema upgrade still runs. */
const SCHEMA_SECONDS = 90;

describe('a window reloaded while step 7 runs follows the installer again, in code-server', { skip, concurrency: 1 }, () => {
  let rig: DemoRig | undefined;
  let demo: Demo | undefined;
  let wb: Workbench | undefined;

  before(async () => {
    if (!pre.ok) return;
    rig = await demoRig(pre.paths, { schemaUpgradeSeconds: SCHEMA_SECONDS, installerMode: 'silent' });
    ({ demo, wb } = rig);
  }, { timeout: 240_000 });

  after(() => rig?.stop());

  const journal = (d: Demo) => journalEvents(d.workspace);

  function tail(d: Demo): string {
    try {
      return journal(d).slice(-6).map((e) => JSON.stringify(e)).join('\n');
    } catch (e) {
      return `(no journal: ${(e as Error).message})`;
    }
  }

  /** Run on a step, then the row's description matching `expect`; a dialog answered only by `answer`. */
  async function run(w: Workbench, d: Demo, id: StepId, expect: RegExp, answer: (dl: { message: string; detail: string; buttons: readonly string[] }) => string | undefined = () => undefined, timeoutMs = 180_000): Promise<string> {
    const step = label(id);
    await w.waitUntil(() => w.viewBusy(), (busy) => !busy, `the runbook view idle before Run on "${step}"`);
    await w.inlineAction(step, 'Run');
    const deadline = Date.now() + timeoutMs;
    let last = '';
    while (Date.now() < deadline) {
      last = await w.rowDescription(step).catch(() => last);
      if (expect.test(last)) return last;
      if (/^failed/.test(last)) break;
      const dl = await w.dialog();
      if (dl) {
        const a = answer(dl);
        if (!a) throw new Error(`"${step}": an unexpected dialog: ${dl.message} ${dl.detail} [${dl.buttons.join(' | ')}]`);
        await w.answerDialog(a);
        continue;
      }
      await w.page.waitForTimeout(250);
    }
    throw new Error(`"${step}" did not show ${expect} within ${timeoutMs} ms; it shows "${last}"; journal:\n${tail(d)}`);
  }

  test('Developer: Reload Window during the schema upgrade: after the reload the tree shows step 7 running on ucd1, then passed, and ucd1 is on the target version', { timeout: 900_000 }, async () => {
    assert.ok(wb && demo, 'the demo and the workbench were not started');
    const w = wb;
    const d = demo;
    const target = JSON.parse(d.tc.clusterFile()).targetVersion as string;
    const first = d.tc.nodes[0].name;
    try {
      await w.openView('UCD Upgrade');
      await w.waitForTopLevelRows(STEPS.length);
      await run(w, d, 'package', /^passed/);
      await run(w, d, 'stop', /^passed/);
      await w.waitUntil(() => w.rowDescription(label('verifyStopped')), (t) => /^passed.*3\/3 nodes proven stopped/.test(t), 'step 5 showing 3/3 proven stopped');

      // No backup in this run: silent mode asks first, and the engineer goes on.
      const step7 = label('installFirst');
      await w.waitUntil(() => w.viewBusy(), (busy) => !busy, `the runbook view idle before Run on "${step7}"`);
      await w.inlineAction(step7, 'Run');
      const marker = `${d.tc.appdataDir}/var/sim/schema-upgrade-in-progress`;
      const upgrading = async () => (await d.tc.inNode(first, `test -f '${marker}' && echo yes || true`)).stdout.trim() === 'yes';
      const deadline = Date.now() + 240_000;
      let answered = false;
      while (!(await upgrading())) {
        if (Date.now() > deadline) throw new Error(`the schema upgrade in progress on ${first} did not appear within 240 s; "${step7}" shows "${await w.rowDescription(step7)}"; journal:\n${tail(d)}`);
        const dl = await w.dialog();
        if (dl && !answered && dialogButton(dl, 'Upgrade Anyway')) {
          answered = true;
          await w.answerDialog('Upgrade Anyway');
          continue;
        }
        if (dl) throw new Error(`"${step7}": an unexpected dialog: ${dl.message} [${dl.buttons.join(' | ')}]`);
        await w.page.waitForTimeout(250);
      }
      assert.ok(answered, 'silent mode without a recorded backup asked first');
      await w.expand(step7);
      // The row says how the installer is followed and, after it, the phase its output tells.
      await w.waitUntil(() => w.childDescription(step7, first), (t) => t.startsWith(`running on ${first} (detached; followed) — installer: upgrading the database schema`), `${first} under "${step7}" showing "running on ${first} (detached; followed) — installer: upgrading the database schema" before the reload`);
      const before = journal(d);
      const started = before.filter((e) => e.type === 'started' && e.step === 'installFirst');
      assert.equal(started.length, 1);
      assert.equal(before.filter((e) => e.type === 'detached').length, 1, 'the run id and pid are in the journal before the reload');

      await w.reloadWindow();

      // The reloaded window restores its sidebar with the runbook view in it, as it was.
      await w.waitForTopLevelRows(STEPS.length, 90_000);
      // Still mid-schema-upgrade on the node: what the tree shows now is the new window's follow.
      assert.ok(await upgrading(), `the schema upgrade on ${first} ended before the reloaded window was up (make SCHEMA_SECONDS longer than ${SCHEMA_SECONDS})`);
      // The new window owns the run and follows the installer again by itself: nobody clicks Check.
      await w.waitUntil(() => w.rowDescription(step7), (t) => t.startsWith('running') && t.includes(`running on ${first} (detached; followed)`), `"${step7}" showing running on ${first} (detached; followed) after the reload`, 60_000);
      await w.expand(step7);
      await w.waitUntil(() => w.childDescription(step7, first), (t) => t.startsWith(`running on ${first} (detached; followed)`), `${first} under "${step7}" showing "running on ${first} (detached; followed)" after the reload`, 30_000);

      const passed = await w.waitUntil(() => w.childDescription(step7, first), (t) => /^passed\b/.test(t), `${first} under "${step7}" showing passed`, (SCHEMA_SECONDS + 180) * 1000);
      assert.match(passed, new RegExp(`upgraded ${d.tc.version.replace(/\./g, '\\.')} → ${target.replace(/\./g, '\\.')}`));
      assert.match(passed, /database schema upgraded by this node/);
      assert.match(passed, new RegExp(`re-attached to the installer on ${first}`));
      assert.match(await w.rowDescription(step7), /^passed\b/);

      const v = (await d.tc.inNode(first, `sed -n 's/^installed.version=//p' ${d.tc.installDir}/conf/installed.version`)).stdout.trim();
      assert.equal(v, target, `${first}: conf/installed.version`);
      const events = journal(d);
      const finished = events.filter((e) => e.type === 'finished' && e.step === 'installFirst');
      assert.deepEqual(finished.map((e) => e.type === 'finished' && [e.id, e.verdict]), [[started[0].type === 'started' && started[0].id, 'passed']], 'recorded once, on the run that started it');
      assert.ok(!events.some((e) => e.type === 'interrupted'), `nothing interrupted: ${tail(d)}`);
    } catch (e) {
      await w.screenshot(path.join(REPO_ROOT, 'test-results', 'e2e', 'reload-step7.png')).catch(() => undefined);
      throw e;
    }
  });
});
