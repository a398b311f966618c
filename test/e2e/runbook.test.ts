// The packaged .vsix in a real VS Code (code-server) driven through Chromium: what a user sees
// and clicks. Without code-server or Chromium every test is reported as skipped, with the reason.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser } from 'playwright-core';
import { STEPS, type StepId } from '../../src/core/runbook/steps';
import { label, LABELS } from './labels';
import { CodeServer, copyFixture, emptyWorkspace, findPrerequisites, launchChromium, removeTempDirs, REPO_ROOT, SCREENSHOTS, waitFor } from './harness';
import { Workbench } from './workbench';

const pre = findPrerequisites();
const skip = pre.ok ? false : pre.reason;
const VIEW = 'UCD Upgrade';
const stepLabel = (id: StepId) => label(id);

describe('the runbook in a real VS Code (code-server + Chromium)', () => {
  let server: CodeServer | undefined;
  let browser: Browser | undefined;
  const open: Workbench[] = [];

  before(async () => {
    if (!pre.ok) return;
    server = await CodeServer.start(pre.paths);
    browser = await launchChromium(pre.paths);
  });

  after(async () => {
    for (const wb of open) await wb.close().catch(() => undefined);
    await browser?.close().catch(() => undefined);
    await server?.stop();
    removeTempDirs();
  });

  async function openWorkbench(folder: string): Promise<Workbench> {
    assert.ok(server && browser, 'code-server and Chromium were not started');
    const wb = await Workbench.open(browser, server, folder);
    open.push(wb);
    await wb.openView(VIEW);
    // A fresh window: nothing may be open in it but the view (a notification here would be an activation error).
    assert.deepEqual(await wb.closeLeftovers(), [], 'a fresh window opened with something showing');
    return wb;
  }

  /** A test that, when it fails, leaves a screenshot of each window it opened in test-results/e2e/. */
  function e2e(name: string, body: () => Promise<void>): void {
    test(name, { skip }, async () => {
      const before = open.length;
      try {
        await body();
      } catch (e) {
        const dir = path.join(REPO_ROOT, 'test-results', 'e2e');
        for (const [i, wb] of open.slice(before).entries()) {
          await wb.screenshot(path.join(dir, `${name.replace(/[^a-z0-9]+/gi, '-').slice(0, 60)}-${i}.png`)).catch(() => undefined);
        }
        throw e;
      } finally {
        for (const wb of open.splice(before)) await wb.close().catch(() => undefined);
      }
    });
  }

  e2e('the UCD Upgrade view lists all 11 steps of the runbook in order', async () => {
    const wb = await openWorkbench(copyFixture('three-nodes'));
    const labels = await wb.waitForTopLevelRows(STEPS.length);
    assert.equal(STEPS.length, 11);
    assert.deepEqual(labels, LABELS);
  });

  e2e('at the default sidebar width every row shows its whole label and its state', async () => {
    const wb = await openWorkbench(copyFixture('three-nodes'));
    await wb.waitForTopLevelRows(STEPS.length);
    // Node rows too: step 5 open, so its nodes' states are measured as well.
    await wb.expand(stepLabel('verifyStopped'));
    const rows = await wb.treeRows().all();
    assert.ok(rows.length > STEPS.length, `step 5's node rows are showing (${rows.length} rows)`);
    const states = new Set(['pending', 'blocked', 'ready', 'not']);
    for (const row of rows) {
      const r = await wb.rowLayout(row);
      const seen = `"${r.label}" / "${r.description}" (sidebar ${Math.round(r.sidebarLeft)}–${Math.round(r.sidebarRight)} px, box ${JSON.stringify(r.container)}, label ${JSON.stringify(r.name)}, first word ${JSON.stringify(r.firstWord)})`;
      assert.ok(states.has(r.word), `the description starts with the state: ${seen}`);
      assert.ok(r.container && r.name && r.firstWord, `the row's boxes are measurable: ${seen}`);
      const visibleRight = Math.min(r.sidebarRight, r.container.right);
      assert.ok(r.name.right <= visibleRight + 0.5, `the label is not cut: ${seen}`);
      assert.ok(r.firstWord.right > r.firstWord.left, `the state word is rendered: ${seen}`);
      assert.ok(r.firstWord.right <= visibleRight + 0.5, `the state word is within the sidebar and its row: ${seen}`);
    }
  });

  e2e('Run on a blocked step is offered and answers with the gate\'s own words', async () => {
    const ws = copyFixture('three-nodes');
    const wb = await openWorkbench(ws);
    await wb.waitForTopLevelRows(STEPS.length);
    const step = stepLabel('installFirst');
    const description = await wb.waitUntil(() => wb.rowDescription(step), (t) => t.startsWith('blocked: '), `"${step}" described as blocked`);
    const gate = description.slice('blocked: '.length).split(' — ')[0]!;
    assert.ok(gate.length > 20, `the blocked row names its gate: ${description}`);
    await wb.inlineAction(step, 'Run');
    const toast = await wb.waitUntil(() => wb.notifications(), (n) => n.some((t) => t.includes('Run refused')), 'the notification saying why Run was refused');
    const refused = toast.find((t) => t.includes('Run refused'))!;
    assert.ok(refused.includes(gate), `the notification gives the gate's words "${gate}": ${refused}`);
    // The engine refused it, not the view: the journal records the refusal with the same words.
    const journalDir = path.join(ws, '.ucd-upgrade');
    const refusals = fs.readdirSync(journalDir).filter((f) => f.endsWith('.jsonl'))
      .flatMap((f) => fs.readFileSync(path.join(journalDir, f), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { type: string; step?: string; request?: string; reasons?: string[] }))
      .filter((e) => e.type === 'refused' && e.step === 'installFirst' && e.request === 'run');
    assert.equal(refusals.length, 1, 'one refusal of step 7 in the journal');
    assert.ok(refusals[0]!.reasons!.some((r) => r.includes(gate)), `the journal's refusal holds "${gate}": ${JSON.stringify(refusals[0])}`);
    assert.match(await wb.rowDescription(step), /^blocked: /, 'the step is still blocked: nothing ran');
    // The README's picture of a blocked step explaining itself, at the default sidebar width.
    await wb.expandNotifications();
    await wb.screenshot(path.join(SCREENSHOTS, 'blocked-run.png'));
  });

  e2e('step 6, not needed, has a context menu: Explain Step says why', async () => {
    const wb = await openWorkbench(copyFixture('three-nodes'));
    await wb.waitForTopLevelRows(STEPS.length);
    const step = stepLabel('storage');
    assert.match(await wb.rowDescription(step), /^not needed: /);
    await wb.contextMenu(step, 'Explain Step');
    const d = await wb.waitUntil(() => wb.dialog(), (x) => x !== undefined, 'the Explain Step dialog');
    assert.match(d!.message, /^6\. Update network storage/);
    assert.match(d!.detail, /Nothing to do: upgrade starts at 7\.0\.5\.0 \(6\.1\.1\.5 or later\)/);
    assert.match(d!.detail, /The doc: If you are upgrading from a version before 6\.1\.1\.5/);
    await wb.page.keyboard.press('Escape');
    await wb.page.locator('.monaco-dialog-box').waitFor({ state: 'hidden' });
  });

  e2e('a node-scoped step expands to one child per node of the cluster file', async () => {
    const wb = await openWorkbench(copyFixture('three-nodes'));
    await wb.waitForTopLevelRows(STEPS.length);
    const step = stepLabel('verifyStopped');
    await wb.expand(step);
    assert.deepEqual(await wb.childLabels(step), ['ucd1', 'ucd2', 'ucd3']);
    // A first-node step has exactly the first node; a cluster step has no children.
    const first = stepLabel('installFirst');
    await wb.expand(first);
    assert.deepEqual(await wb.childLabels(first), ['ucd1']);
    assert.equal(await wb.row(stepLabel('backup')).first().getAttribute('aria-expanded'), null);
  });

  e2e('a broken cluster file shows its problem count in the tree and each problem at its line', async () => {
    const ws = copyFixture('broken');
    const text = fs.readFileSync(path.join(ws, 'ucd-cluster.json'), 'utf8');
    const wb = await openWorkbench(ws);
    const [row] = await wb.waitForTopLevelRows(1);
    assert.equal(row, 'ucd-cluster.json has 2 problems');

    // The problems row links to the Problems panel.
    await wb.row(row).first().click();
    await wb.page.locator('.markers-panel').waitFor({ state: 'visible' });
    await waitFor(async () => (await wb.markers()).length >= 2, 'two markers in the Problems panel');
    const markers = await wb.markers();
    const dup = markers.find((m) => m.text.includes('Duplicate node name "ucd1"'));
    const first = markers.find((m) => m.text.includes('firstNode "ucd9" is not one of the nodes'));
    assert.ok(dup, `no duplicate-name problem in ${JSON.stringify(markers)}`);
    assert.ok(first, `no firstNode problem in ${JSON.stringify(markers)}`);
    assert.equal(dup.line, lineOf(text, '"name": "ucd1"', 2));
    assert.equal(first.line, lineOf(text, '"firstNode"'));

    await wb.openFile('ucd-cluster.json');
    await wb.screenshot(path.join(SCREENSHOTS, 'cluster-file-problems.png'));
  });

  e2e('Skip and Confirm Manually ask a reason, change the state, and survive a window reload', async () => {
    const ws = copyFixture('three-nodes');
    const wb = await openWorkbench(ws);
    await wb.waitForTopLevelRows(STEPS.length);
    const backup = stepLabel('backup');
    assert.doesNotMatch(await wb.rowDescription(backup), /skipped/);

    const reason = 'backup taken by the DBA team, ticket CHG-1234';
    await wb.contextMenu(backup, 'Skip…');
    const asked = await wb.answerInputBox(reason);
    assert.match(asked, /Skip: Back up the database/);
    await waitFor(async () => /skipped/.test(await wb.rowDescription(backup)), `"${backup}" described as skipped`);
    assert.match(await wb.rowDescription(backup), new RegExp(`skipped.*${escapeRe(reason)}`));

    // What survives a reload is what was written: the journal on disk has the reason.
    const journalDir = path.join(ws, '.ucd-upgrade');
    const journal = fs.readdirSync(journalDir).filter((f) => f.endsWith('.jsonl')).map((f) => fs.readFileSync(path.join(journalDir, f), 'utf8')).join('\n');
    assert.ok(journal.includes(reason), `the journal in ${journalDir} does not hold the reason`);

    // Confirm Manually on one node of a node-scoped step: only that node changes. (Step 5 is a
    // probe's alone and offers no Confirm; step 4 records a person's word.)
    const stopped = stepLabel('stop');
    const note = 'stopped by hand with the service script';
    await wb.expand(stopped);
    await wb.contextMenu(await wb.childRow(stopped, 'ucd2'), 'Confirm Manually…');
    assert.match(await wb.answerInputBox(note), /Confirm manually: Shut down the servers on ucd2/);
    await waitFor(async () => /confirmed/.test(await wb.childDescription(stopped, 'ucd2')), 'ucd2 confirmed');
    assert.doesNotMatch(await wb.childDescription(stopped, 'ucd1'), /confirmed/);

    // The window restores the view it showed; the palette, opened before the extension's
    // contributions are back, would not list the view's Focus command yet.
    await wb.reloadWindow();
    await wb.waitForTopLevelRows(STEPS.length);
    assert.match(await wb.rowDescription(backup), new RegExp(`skipped.*${escapeRe(reason)}`));
    await wb.expand(stopped);
    assert.match(await wb.childDescription(stopped, 'ucd2'), /confirmed/);
    assert.doesNotMatch(await wb.childDescription(stopped, 'ucd3'), /confirmed/);

    // The README's picture: a node-scoped step open, the skip visible, the cluster file beside it.
    await wb.openFile('ucd-cluster.json');
    await wb.screenshot(path.join(SCREENSHOTS, 'runbook-tree.png'));
  });

  e2e('a change to one step re-renders that row only: the buttons of unchanged rows stay under the mouse', async () => {
    const wb = await openWorkbench(copyFixture('three-nodes'));
    const labels = await wb.waitForTopLevelRows(STEPS.length);
    const backup = stepLabel('backup');
    await waitFor(() => wb.offers(stepLabel('package'), 'Run'), `the Run button on "${stepLabel('package')}"`);
    // Each row's description and its first inline button as the DOM holds them now.
    const seen = async () => Promise.all(labels.map(async (label) => {
      const button = wb.row(label).first().locator('.actions .action-label').first();
      return { label, description: await wb.rowDescription(label), button: (await button.count()) ? await button.elementHandle() : null };
    }));
    const before = await seen();
    assert.ok(before.filter((r) => r.label !== backup && r.button).length >= 2, `rows with inline buttons: ${JSON.stringify(before.map((r) => [r.label, !!r.button]))}`);

    await wb.contextMenu(backup, 'Skip…');
    await wb.answerInputBox('taken by the DBA team');
    await waitFor(async () => /^skipped/.test(await wb.rowDescription(backup)), `"${backup}" described as skipped`);

    const after = await seen();
    const kept = before.filter((r, i) => r.button && r.label !== backup && r.description === after[i].description);
    assert.ok(kept.length >= 2, `rows that did not change: ${kept.map((r) => r.label).join(', ') || 'none'}`);
    for (const r of kept) {
      assert.equal(await r.button!.evaluate((el) => el.isConnected), true, `the inline button of "${r.label}" (unchanged: "${r.description}") was rebuilt by a change to step 1`);
    }
  });

  e2e('with no cluster file the welcome view offers Create cluster file, which writes one', async () => {
    const ws = emptyWorkspace();
    const file = path.join(ws, 'ucd-cluster.json');
    const wb = await openWorkbench(ws);
    const create = wb.welcomeButton('Create cluster file');
    await create.waitFor({ state: 'visible', timeout: 30_000 });
    assert.equal(fs.existsSync(file), false);

    await create.click();
    await waitFor(async () => fs.existsSync(file), `${file} written`);
    const labels = await wb.waitForTopLevelRows(STEPS.length);
    assert.equal(labels[0], stepLabel('backup'));
    assert.match(fs.readFileSync(file, 'utf8'), /"nodes"/);
    // The new file is open for editing.
    await wb.page.locator('.tabs-container .tab[aria-label^="ucd-cluster.json"]').waitFor();
  });

  e2e('editing the cluster file, on disk or in the editor, refreshes the tree', async () => {
    const ws = copyFixture('three-nodes');
    const file = path.join(ws, 'ucd-cluster.json');
    const wb = await openWorkbench(ws);
    await wb.waitForTopLevelRows(STEPS.length);
    const step = stepLabel('verifyStopped');
    await wb.expand(step);
    assert.deepEqual(await wb.childLabels(step), ['ucd1', 'ucd2', 'ucd3']);

    // Written on disk by another program: the file watcher picks it up.
    fs.writeFileSync(file, fs.readFileSync(file, 'utf8').replace('"name": "ucd3"', '"name": "ucd-east"'));
    await waitFor(async () => (await childrenOf(wb, step)).includes('ucd-east'), 'ucd-east in the tree after the disk write');
    assert.deepEqual(await childrenOf(wb, step), ['ucd1', 'ucd2', 'ucd-east']);

    // Typed in the editor (not saved): the open document wins over the disk.
    await wb.openFile('ucd-cluster.json');
    await wb.replaceInEditor('"name": "ucd2"', '"name": "ucd-west"');
    await waitFor(async () => (await childrenOf(wb, step)).includes('ucd-west'), 'ucd-west in the tree after typing');
    assert.deepEqual(await childrenOf(wb, step), ['ucd1', 'ucd-west', 'ucd-east']);
    assert.ok(!fs.readFileSync(file, 'utf8').includes('ucd-west'), 'the edit was not saved, yet the tree follows it');
  });
});

/** The tree rebuilds on refresh and may collapse the step: expand it again before reading. */
async function childrenOf(wb: Workbench, step: string): Promise<string[]> {
  await wb.expand(step);
  return wb.childLabels(step);
}


/** 1-based line of the n-th line containing `needle`, as the Problems panel counts. */
function lineOf(text: string, needle: string, occurrence = 1): number {
  let seen = 0;
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) if (lines[i].includes(needle) && ++seen === occurrence) return i + 1;
  throw new Error(`${needle} (occurrence ${occurrence}) not in the fixture`);
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
