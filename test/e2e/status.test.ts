// The status webview as a second screen, in a real VS Code against the real test cluster: opened
// before any step ran, it shows every node's state from its own read-only probe (one round trip
// per node, nothing recorded as a step), fits its panel however narrow, and after "Developer:
// Reload Window" it is back by itself with the same content.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { STEPS } from '../../src/core/runbook/steps';
import { clusterPrerequisites, type TestCluster } from '../cluster/harness';
import { clusterRig, type ClusterRig } from './rig';
import { findPrerequisites, SCREENSHOTS } from './harness';
import { Workbench, type StatusNodeRow } from './workbench';

const pre = findPrerequisites();
const skip = !pre.ok ? pre.reason : clusterPrerequisites() ?? false;

/** Every node's row once the view's own probe has answered for it. */
function allProbed(rows: readonly StatusNodeRow[]): boolean {
  return rows.length === 3 && rows.every((r) => r.look === 'probed');
}

describe('the status webview as a second screen, in a real VS Code', { skip }, () => {
  let rig: ClusterRig | undefined;
  let tc: TestCluster | undefined;
  let wb: Workbench | undefined;
  let ws = '';
  let pid = '';
  /** Each node's last check before the reload. */
  let checkedBefore = new Map<string, string>();

  before(async () => {
    if (!pre.ok) return;
    // ucd2 alone runs: the view must tell it from the two stopped ones by itself.
    rig = await clusterRig(pre.paths, { nodes: 3, running: ['ucd2'], folder: 'status-cluster' });
    ({ tc, ws } = rig);
    pid = (await tc.inNode('ucd2', `cat ${tc.installDir}/var/server.pid`)).stdout.trim();
  });

  after(() => rig?.stop());

  function assertStates(rows: readonly StatusNodeRow[], when: string): void {
    assert.ok(tc);
    assert.deepEqual(rows.map((r) => r.node), ['ucd1', 'ucd2', 'ucd3'], when);
    const [u1, u2, u3] = rows;
    assert.match(u1.server, /^stopped/, `${when}: ucd1 ${u1.server}`);
    assert.match(u2.server, /^running/, `${when}: ucd2 ${u2.server}`);
    assert.match(u2.server, new RegExp(`pid ${pid}\\b.*listening on .*:8443`), `${when}: ucd2 ${u2.server}`);
    assert.match(u3.server, /^stopped/, `${when}: ucd3 ${u3.server}`);
    for (const r of rows) {
      assert.equal(r.reachable, 'yes', `${when}: ${r.node}`);
      assert.equal(r.version, tc.version, `${when}: ${r.node} version`);
      assert.match(r.versionSeen, /^status probe, /, `${when}: ${r.node} says what read its version`);
      assert.match(r.server, /status probe, /, `${when}: ${r.node} says what saw it`);
    }
  }

  test('opened before any step, it shows every node\'s state from its own probe; nothing is recorded as a step', async () => {
    assert.ok(rig && tc);
    wb = await rig.open();
    await wb.openView('UCD Upgrade');
    await wb.waitForTopLevelRows(STEPS.length);
    await wb.runCommand('UCD Upgrade: Show Cluster Status');
    const w = wb;
    const rows = await wb.waitUntil(() => w.statusNodes(), allProbed, 'every node\'s row showing the status probe\'s answer (data-look="probed")', 90_000);
    assertStates(rows, 'after opening');
    const progress = await wb.statusProgress();
    assert.match(progress.step ?? '', /^step 1 of 11: /, JSON.stringify(progress));
    assert.equal(progress.elapsed, 'no step started yet');
    // Read-only: the look wrote no step record into the run's journal.
    const journalDir = path.join(ws, '.ucd-upgrade');
    const journal = fs.readdirSync(journalDir).filter((f) => f.endsWith('.jsonl')).map((f) => fs.readFileSync(path.join(journalDir, f), 'utf8')).join('');
    assert.doesNotMatch(journal, /"type":"(started|finished)"/, journal);
    const wide = await wb.statusWidth();
    assert.ok(wide.scroll <= wide.client, `the status page scrolls sideways at full width: ${JSON.stringify(wide)}`);
    await wb.screenshot(path.join(SCREENSHOTS, 'status-on-open.png'));
  });

  test('beside a node terminal and in a narrow window it fits its panel: no sideways scroll', async () => {
    assert.ok(wb);
    const w = wb;
    await wb.statusFrame().locator('tr[data-node="ucd1"] vscode-button', { hasText: 'Terminal' }).click();
    await wb.page.locator('.integrated-terminal').first().waitFor({ state: 'visible', timeout: 30_000 });
    let before = await wb.statusWidth();
    assert.ok(before.scroll <= before.client, `beside the terminal the status page is ${before.scroll} px wide in a ${before.client} px panel`);
    for (const width of [960, 760]) {
      await w.page.setViewportSize({ width, height: 800 });
      const prev = before.client;
      const m = await w.waitUntil(() => w.statusWidth(), (x) => x.client > 0 && x.client < prev, `the status panel narrower than ${prev} px in a ${width} px window`, 20_000);
      assert.ok(m.scroll <= m.client, `at a ${width} px window the status page is ${m.scroll} px wide in a ${m.client} px panel`);
      // Stacked, not squeezed: the caption and each node's card take the panel's width.
      const widths = await w.statusFrame().locator('#nodes caption, #nodes tbody tr').evaluateAll((es) => es.map((e) => e.getBoundingClientRect().width));
      assert.ok(widths.length === 4 && widths.every((x) => x >= m.client * 0.8), `at a ${width} px window the caption and cards are ${widths.join(', ')} px wide in a ${m.client} px panel`);
      before = m;
    }
    // Every node's state is still there, stacked.
    const narrow = await wb.statusNodes();
    assertStates(narrow, 'in a narrow window');
    checkedBefore = new Map(narrow.map((r) => [r.node, r.lastCheckAt ?? '']));
    await wb.screenshot(path.join(SCREENSHOTS, 'status-narrow.png'));
    await wb.page.setViewportSize({ width: 1280, height: 800 });
  });

  test('after "Developer: Reload Window" the panel is back by itself with the same content, then looks again', async () => {
    assert.ok(wb);
    const w = wb;
    await wb.reloadWindow();
    // No Show Cluster Status here: the serializer brings the panel back with its saved page.
    const restored = await wb.waitUntil(() => w.statusNodes(), (rows) => rows.length === 3, 'the status panel restored after the reload, with its three node rows', 90_000);
    assertStates(restored, 'right after the reload');
    // What came back is what was there (or a look newer still, if it answered that fast).
    for (const r of restored) assert.ok((r.lastCheckAt ?? '') >= (checkedBefore.get(r.node) ?? '~'), `${r.node}: last check ${r.lastCheckAt} after the reload, ${checkedBefore.get(r.node)} before`);
    const again = await wb.waitUntil(() => w.statusNodes(), (rows) => allProbed(rows) && rows.every((r) => (r.lastCheckAt ?? '') > (checkedBefore.get(r.node) ?? '')), 'every node probed again after the reload (a later last check on each row)', 90_000);
    assertStates(again, 'after the look that follows the reload');
    assert.match((await wb.statusProgress()).step ?? '', /^step 1 of 11: /);
  });
});
