// The packaged extension in a real VS Code against the real test cluster: Check on step 5 goes
// over SSH to three OpenSSH nodes and comes back into the tree and the status webview, with one
// node still running and named with its evidence.
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { STEPS } from '../../src/core/runbook/steps';
import { label } from './labels';
import { clusterPrerequisites, type TestCluster } from '../cluster/harness';
import { clusterRig, type ClusterRig } from './rig';
import { findPrerequisites, SCREENSHOTS, waitFor } from './harness';
import { Workbench } from './workbench';

const pre = findPrerequisites();
const skip = !pre.ok ? pre.reason : clusterPrerequisites() ?? false;


describe('the extension against a real cluster, in a real VS Code', { skip }, () => {
  let rig: ClusterRig | undefined;
  let tc: TestCluster | undefined;
  let wb: Workbench | undefined;

  before(async () => {
    if (!pre.ok) return;
    // ucd2 alone is left running: the check must find it and only it.
    rig = await clusterRig(pre.paths, { nodes: 3, running: ['ucd2'], folder: 'test-cluster' });
    ({ tc } = rig);
  });

  after(() => rig?.stop());

  test('Check on step 5 probes every node over SSH; the running node fails with its pid and port', async () => {
    assert.ok(rig && tc);
    wb = await rig.open();
    await wb.openView('UCD Upgrade');
    await wb.waitForTopLevelRows(STEPS.length);
    const step = label('verifyStopped');
    await wb.expand(step);
    await wb.inlineAction(step, 'Check');
    const w = wb;
    await waitFor(async () => /failed/.test(await w.childDescription(step, 'ucd2')), 'ucd2 failed', 60_000);
    const pid = (await tc.inNode('ucd2', `cat ${tc.installDir}/var/server.pid`)).stdout.trim();
    const ucd2 = await wb.childDescription(step, 'ucd2');
    assert.match(ucd2, new RegExp(`pid ${pid}`), ucd2);
    assert.match(ucd2, /:8443/);
    await waitFor(async () => /passed/.test(await w.childDescription(step, 'ucd1')) && /passed/.test(await w.childDescription(step, 'ucd3')), 'ucd1 and ucd3 passed');
    assert.match(await wb.rowDescription(step), /2\/3 nodes proven stopped, 1 failed/);
    // At the default sidebar width: the state leads each row, so it shows without widening.
    await wb.screenshot(path.join(SCREENSHOTS, 'step5-check.png'));

    // Show Log on ucd2's row: just that node's record — the probe, its output, the verdict.
    await wb.inlineAction('ucd2', 'Show Log');
    const tab = wb.page.locator('.tabs-container .tab', { hasText: 'ucd2.log' });
    await tab.waitFor({ timeout: 20_000 });
    // Monaco renders spaces as no-break spaces.
    const text = (await wb.page.locator('.editor-group-container.active .view-lines').first().innerText()).replace(/\u00a0/g, ' ');
    assert.match(text, /\[ucd2\]/);
    assert.doesNotMatch(text, /\[ucd1\]|\[ucd3\]/, 'only ucd2 lines');
    assert.match(text, /\[ucd2\] probe \(pid file, ports, server process, version\)/);

  });

  test('the status webview shows one row per node and the running node as the most serious warning', async () => {
    assert.ok(wb && tc);
    // The same window as the test before: start from one with nothing left open.
    const closed = await wb.closeLeftovers();
    if (closed.length) process.stderr.write(`e2e: closed what the test before left open: ${closed.join('; ')}\n`);
    await wb.runCommand('UCD Upgrade: Show Cluster Status');
    const frame = wb.page.frameLocator('iframe.webview.ready').frameLocator('#active-frame');
    await frame.locator('#nodes tbody tr').first().waitFor({ timeout: 30_000 });
    const rows = await frame.locator('#nodes tbody tr').evaluateAll((trs) => trs.map((tr) => tr.getAttribute('data-node')));
    assert.deepEqual(rows, ['ucd1', 'ucd2', 'ucd3']);
    const ucd2Server = await frame.locator('tr[data-node="ucd2"] td.server').innerText();
    assert.match(ucd2Server, /running/i);
    assert.match(ucd2Server, /listening on .*:8443/);
    const first = frame.locator('#warnings li').first();
    assert.equal(await first.getAttribute('data-code'), 'still-running');
    assert.equal(await first.getAttribute('data-node'), 'ucd2');
    // Table semantics for screen readers: a caption and scoped headers.
    assert.equal(await frame.locator('#nodes caption').count(), 1);
    assert.equal(await frame.locator('#nodes thead th[scope="col"]').count(), 8);
    await wb.page.waitForTimeout(500);
    await wb.screenshot(path.join(SCREENSHOTS, 'status-webview.png'));
  });
});
