// Issue 12's Roll back through the UI, on the demo cluster with a package whose installer fails
// after the schema upgrade: step 1 (dump and archives), the package, the shutdown, the failed
// first-node installer; then Roll back from the view's title bar, answered in its dialog. The
// schema rows and the table's checksum are back, every node and the balancer answer on the old
// version, and the journal and the exported report tell it stage by stage. One scenario, kept short.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { JournalEvent } from '../../src/core/journal/events';
import { STEPS, type StepId } from '../../src/core/runbook/steps';
import { label } from './labels';
import { demoPrerequisites, type Demo } from '../demo/demo';
import { demoRig, journalEvents, type DemoRig } from './rig';
import { findPrerequisites, REPO_ROOT } from './harness';
import { dialogButton, Workbench, type Dialog } from './workbench';

const pre = findPrerequisites();
const skip = demoPrerequisites() ?? (pre.ok ? false : pre.reason);
const ROLL_BACK = 'Roll Back to the Old Version…';

describe('Roll back a failed first-node upgrade through the UI', { skip, concurrency: 1 }, () => {
  let rig: DemoRig | undefined;
  let demo: Demo | undefined;
  let wb: Workbench | undefined;
  const dialogs: { dialog: Dialog; answer: string }[] = [];

  before(async () => {
    if (!pre.ok) return;
    rig = await demoRig(pre.paths, { nodes: 2, failAfterSchema: true });
    ({ demo, wb } = rig);
  }, { timeout: 240_000 });

  after(() => rig?.stop());

  function ready(): { w: Workbench; d: Demo } {
    assert.ok(wb && demo, 'the demo and the workbench were not started');
    return { w: wb, d: demo };
  }

  const journal = (): JournalEvent[] => journalEvents(ready().d.workspace);

  /**
   * Waits for `done`, answering the dialogs the procedure calls for (the cluster's certificates,
   * and what `answer` names); anything else fails with its text. One deadline.
   */
  async function drive(what: string, done: () => Promise<boolean>, answer: (d: Dialog) => string | undefined = () => undefined, timeoutMs = 120_000): Promise<void> {
    const { w } = ready();
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (await done().catch(() => false)) return;
      const dl = await w.dialog();
      if (dl) {
        const a = /TLS certificate of .* is not trusted/.test(dl.message) ? 'Trust and Remember' : answer(dl);
        if (!a) throw new Error(`${what}: an unexpected dialog: ${dl.message} ${dl.detail} [${dl.buttons.join(' | ')}]`);
        dialogs.push({ dialog: dl, answer: a });
        await w.answerDialog(a);
        continue;
      }
      const q = await w.quickInput();
      if (q) throw new Error(`${what}: an unexpected question: ${JSON.stringify(q)}`);
      await w.page.waitForTimeout(250);
    }
    const notes = (await w.notifications().catch(() => [])).join(' | ');
    throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; notifications: ${notes || 'none'}`);
  }

  /** Run on a step once, when the view is idle; waits until its description matches `expect`. */
  async function run(id: StepId, expect: RegExp, answer?: (d: Dialog) => string | undefined): Promise<string> {
    const { w } = ready();
    const step = label(id);
    await w.waitUntil(() => w.viewBusy(), (busy) => !busy, `the runbook view idle before Run on "${step}"`);
    const before = await w.rowDescription(step);
    await w.inlineAction(step, 'Run');
    let last = before;
    await drive(`"${step}" to show ${expect}`, async () => {
      last = await w.rowDescription(step);
      return last !== before && !/^(running|checking)/.test(last) && (expect.test(last) || /^failed/.test(last));
    }, answer);
    assert.match(last, expect, `Run on "${step}" ended "${last}"`);
    return last;
  }

  test('step 1, the package, the shutdown, a failed installer; then Roll back from the tree brings the old version back', { timeout: 600_000 }, async () => {
    const { w, d } = ready();
    const shot = (name: string) => w.screenshot(path.join(REPO_ROOT, 'test-results', 'e2e', `rollback-${name}.png`)).catch(() => undefined);
    try {
      await w.openView('UCD Upgrade');
      await w.waitForTopLevelRows(STEPS.length);
      const rowsBefore = await d.tc.database!.schemaVersions();
      const sumBefore = await d.tc.database!.query('CHECKSUM TABLE ds_db_version');
      assert.equal(await w.viewTitleAction(ROLL_BACK).count(), 0, 'Roll back is not offered before any installer');

      await run('backup', /^(passed|passed with warning)/);
      await run('package', /^passed/);
      await run('stop', /^passed/);
      await run('installFirst', /^failed/, (dl) => dialogButton(dl, 'Upgrade Anyway'));
      assert.notDeepEqual(await d.tc.database!.schemaVersions(), rowsBefore, 'the schema was upgraded before the installer failed');

      // Offered now, in the view's title bar; the dialog says what is lost, safe answer by name.
      const action = w.viewTitleAction(ROLL_BACK);
      await action.waitFor({ state: 'visible', timeout: 30_000 });
      await action.click();
      let asked: Dialog | undefined;
      await drive('the rollback to end', async () => (await w.notifications()).some((n) => /rolled back to|Roll back FAILED|Roll back refused/.test(n)),
        (dl) => (dialogButton(dl, 'Roll Back') ? ((asked = dl), 'Roll Back') : undefined), 300_000);
      assert.ok(asked, 'Roll back asked first');
      assert.match(asked.message, new RegExp(`^Roll back ucd-demo to ${d.tc.version.replace(/\./g, '\\.')}, from the backup of .*\\? Everything done on the servers since then is lost\\.$`));
      assert.ok(asked.buttons.includes('Do Not Roll Back'), `the safe answer is offered by name: [${asked.buttons.join(' | ')}]`);
      const notes = await w.notifications();
      assert.ok(notes.some((n) => n.includes(`rolled back to ${d.tc.version}`)), notes.join(' | '));

      assert.deepEqual(await d.tc.database!.schemaVersions(), rowsBefore);
      assert.equal(await d.tc.database!.query('CHECKSUM TABLE ds_db_version'), sumBefore);
      for (const n of d.tc.nodes) {
        const v = (await d.tc.inNode(n.name, `sed -n 's/^installed.version=//p' ${d.tc.installDir}/conf/installed.version`)).stdout.trim();
        assert.equal(v, d.tc.version, `${n.name}: conf/installed.version`);
      }
      const lb = await d.tc.loadBalancer!.get('/');
      assert.match(lb.body, new RegExp(`class="productVersion">v\\. ${d.tc.version.replace(/\./g, '\\.')}<`));

      const stages = journal().flatMap((e) => (e.type === 'rollback' && e.verdict !== 'started' ? [`${e.stage} ${e.verdict}`] : []));
      assert.deepEqual(stages, ['begin passed', 'stop passed', 'checksums passed', 'database passed', 'files passed', 'start passed', 'verify passed', 'end passed']);

      await w.runCommand('UCD Upgrade: Export Run Report (Markdown)');
      // VS Code's save dialog (a path box in the browser) suggests a place beside the cluster file.
      const box = w.page.locator('.quick-input-widget .quick-input-box input');
      const suggested = await w.waitUntil(() => box.inputValue().catch(() => ''), (v) => v.endsWith('-report.md'), 'the save dialog suggesting "…-report.md"');
      await box.press('Enter');
      const file = path.join(d.workspace, path.basename(suggested));
      await w.waitUntil(async () => fs.existsSync(file), (x) => x, `the report saved as ${file}`);
      const text = fs.readFileSync(file, 'utf8');
      assert.match(text, new RegExp(`\\| Outcome \\| rolled back to ${d.tc.version.replace(/\./g, '\\.')} at `));
      assert.match(text.slice(text.indexOf('## Rollback')), /\| database restored \| passed \|[\s\S]*\| old version verified \| passed \|/);
      for (const x of dialogs) assert.match(x.answer, /^(Trust and Remember|Upgrade Anyway|Roll Back)$/);
    } catch (e) {
      await shot('failure');
      throw e;
    }
  });
});
