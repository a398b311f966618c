// Issue 5's proof: the whole HA upgrade of the 3-node demo cluster (OpenSSH nodes, the UCD
// simulator with a Deploy running, a real MariaDB and nginx) driven through a real VS Code like a
// user does it: tree clicks, the dialogs the extension shows, and the status webview's warnings
// appearing and clearing. Ends with every node on the target version.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser } from 'playwright-core';
import { STEPS, type StepId } from '../../src/core/runbook/steps';
import { demoPrerequisites, startDemo, type Demo } from '../demo/demo';
import { findPrerequisites, launchChromium, REPO_ROOT, SCREENSHOTS } from './harness';
import { Workbench, type Dialog, type QuickInput, type StatusWarningRow } from './workbench';

const pre = findPrerequisites();
const skip = demoPrerequisites() ?? (pre.ok ? false : pre.reason);
const label = (id: StepId) => {
  const i = STEPS.findIndex((s) => s.id === id);
  return `${i + 1}. ${STEPS[i].title}`;
};

/** Every question the extension asked during the run, in order, as the user saw it. */
type Asked = { readonly step: string } & ({ readonly kind: 'dialog'; readonly dialog: Dialog; readonly answer: string } | { readonly kind: 'quick'; readonly input: QuickInput });

/** How the test answers the extension's questions while a step runs; undefined = not expected. */
interface Answers {
  dialog?(d: Dialog): string | undefined;
  input?(q: Extract<QuickInput, { kind: 'input' }>): string | undefined;
  pick?(q: Extract<QuickInput, { kind: 'pick' }>): readonly string[] | undefined;
}

describe('the whole HA upgrade through the UI, on the 3-node demo cluster', { skip, concurrency: 1 }, () => {
  let demo: Demo | undefined;
  let browser: Browser | undefined;
  let wb: Workbench | undefined;
  let target = '';
  const asked: Asked[] = [];

  before(async () => {
    if (!pre.ok) return;
    demo = await startDemo();
    target = JSON.parse(demo.tc.clusterFile()).targetVersion as string;
    browser = await launchChromium(pre.paths);
    wb = await Workbench.open(browser, demo.server, demo.workspace);
  }, { timeout: 240_000 });

  after(async () => {
    await wb?.close().catch(() => undefined);
    await browser?.close().catch(() => undefined);
    await demo?.stop();
  });

  /** The journal's last results, so a failure says what each node reported (code-server here writes no log files). */
  function journalTail(): string {
    let out = '';
    try {
      const dir = path.join(ready().demo.workspace, '.ucd-upgrade');
      const lines = fs.readdirSync(dir).filter((f) => f.endsWith('.jsonl')).flatMap((f) => fs.readFileSync(path.join(dir, f), 'utf8').trim().split('\n'));
      out += lines.filter((l) => l.includes('"finished"')).slice(-6).join('\n');
    } catch (e) {
      out += `(no journal: ${(e as Error).message})`;
    }
    return out;
  }

  function ready(): { wb: Workbench; demo: Demo } {
    assert.ok(wb && demo, 'the demo and the workbench were not started');
    return { wb, demo };
  }

  /** A test step that leaves a screenshot of the window in test-results/e2e/ when it fails. */
  function stage(name: string, body: (w: Workbench, d: Demo) => Promise<void>, timeoutMs = 120_000): void {
    test(name, { timeout: timeoutMs }, async () => {
      const { wb: w, demo: d } = ready();
      try {
        await body(w, d);
      } catch (e) {
        await w.screenshot(path.join(REPO_ROOT, 'test-results', 'e2e', `upgrade-${name.replace(/[^a-z0-9]+/gi, '-').slice(0, 50)}.png`)).catch(() => undefined);
        throw e;
      }
    });
  }

  /**
   * Polls `done` while answering what the extension asks: TLS certificates of the cluster's own
   * servers are trusted (what an engineer does after comparing the fingerprint); everything else
   * goes to `answers`, and a question nobody expected fails the test with its text.
   */
  async function drive(step: string, done: () => Promise<boolean>, what: string, answers: Answers = {}, timeoutMs = 60_000): Promise<void> {
    const w = ready().wb;
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (await done().catch(() => false)) return;
      const d = await w.dialog();
      if (d) {
        const answer = /TLS certificate of .* is not trusted/.test(d.message) ? 'Trust and Remember' : answers.dialog?.(d);
        if (!answer) throw new Error(`${step}: an unexpected dialog: ${d.message} ${d.detail} [${d.buttons.join(' | ')}]`);
        asked.push({ step, kind: 'dialog', dialog: d, answer });
        await w.answerDialog(answer);
        continue;
      }
      const q = await w.quickInput();
      if (q?.kind === 'input') {
        const text = answers.input?.(q);
        if (text === undefined) throw new Error(`${step}: an unexpected input box: ${q.title} ${q.prompt}`);
        asked.push({ step, kind: 'quick', input: q });
        await w.submitInputBox(text);
        continue;
      }
      if (q?.kind === 'pick') {
        const picks = answers.pick?.(q);
        if (!picks) throw new Error(`${step}: an unexpected quick pick: ${q.title} ${JSON.stringify(q.items)}`);
        asked.push({ step, kind: 'quick', input: q });
        await w.pickMany(picks);
        continue;
      }
      await w.page.waitForTimeout(250);
    }
    const errors = (await w.notifications().catch(() => [])).join(' | ');
    throw new Error(`${step}: timed out after ${timeoutMs} ms waiting for ${what}; "${step}" shows "${await w.rowDescription(step).catch(() => '?')}"; notifications: ${errors || 'none'}; last results in the journal:\n${journalTail()}`);
  }

  /** Clicks Run (or Check) on a step and waits until its description says `expect`. */
  async function act(id: StepId, action: 'Run' | 'Check', expect: RegExp, answers: Answers = {}, via: 'inline' | 'menu' = 'inline'): Promise<string> {
    const w = ready().wb;
    const step = label(id);
    const before = await w.rowDescription(step);
    const click = () => (via === 'inline' ? w.inlineAction(step, action) : w.contextMenu(step, action));
    await click();
    // A click can land while a hover or tooltip still covers the row and be lost: if nothing at
    // all happened (no new description, no dialog, no input), click once more.
    const reacted = async () => (await w.rowDescription(step).catch(() => before)) !== before || (await w.dialog()) !== undefined || (await w.quickInput()) !== undefined;
    const until = Date.now() + 8_000;
    while (Date.now() < until && !(await reacted().catch(() => false))) await w.page.waitForTimeout(250);
    if (!(await reacted().catch(() => false))) await click();
    let last = '';
    // The description must change and then match: a step that already matched is done again.
    let changed = !expect.test(before);
    const settled = async () => {
      last = await w.rowDescription(step);
      if (last !== before) changed = true;
      return changed && !/^running/.test(last) && (expect.test(last) || (action === 'Run' && /^failed/.test(last) && !expect.test('failed')));
    };
    await drive(step, settled, `"${step}" to show ${expect}`, answers);
    if (!expect.test(last)) {
      // What an engineer does after a transient failure (seen once in CI, cause not found yet):
      // read why, then Run again. The reason goes to the test output so it is never hidden.
      process.stderr.write(`e2e: "${step}" failed once and is run again; the journal says:\n${journalTail()}\n`);
      changed = false;
      const failedText = last;
      await click();
      await drive(step, async () => {
        last = await w.rowDescription(step);
        if (last !== failedText) changed = true;
        return changed && expect.test(last) && !/^running/.test(last);
      }, `"${step}" to show ${expect} on the second Run`, answers);
    }
    return last;
  }

  /** A node's description under a step; the tree rebuilds on refresh and may collapse the step, so expand it first. */
  async function nodeDescription(step: string, node: string): Promise<string> {
    const w = ready().wb;
    let last: unknown;
    for (let i = 0; i < 5; i++) {
      try {
        await w.expand(step);
        return await w.childDescription(step, node);
      } catch (e) {
        last = e;
        await w.page.waitForTimeout(200);
      }
    }
    throw last;
  }

  const codes = (ws: readonly StatusWarningRow[]) => ws.map((x) => (x.node ? `${x.code}@${x.node}` : x.code));

  async function waitForWarnings(what: string, cond: (ws: readonly StatusWarningRow[]) => boolean, timeoutMs = 30_000): Promise<StatusWarningRow[]> {
    const w = ready().wb;
    const deadline = Date.now() + timeoutMs;
    let last: StatusWarningRow[] = [];
    while (Date.now() < deadline) {
      last = await w.statusWarnings().catch(() => last);
      if (cond(last)) return last;
      await w.page.waitForTimeout(250);
    }
    throw new Error(`the status webview did not show ${what} within ${timeoutMs} ms; it shows ${JSON.stringify(codes(last))}`);
  }

  stage('the runbook shows 11 steps, and the status webview warns that no backup is recorded', async (w) => {
    await w.openView('UCD Upgrade');
    assert.deepEqual(await w.waitForTopLevelRows(STEPS.length), STEPS.map((s, i) => `${i + 1}. ${s.title}`));
    await w.runCommand('UCD Upgrade: Show Cluster Status');
    await w.statusFrame().locator('#nodes tbody tr').first().waitFor({ timeout: 30_000 });
    const ws = await waitForWarnings('backup-missing', (x) => x.some((y) => y.code === 'backup-missing'));
    assert.match(ws.find((x) => x.code === 'backup-missing')!.text, /no database backup recorded/);
    assert.deepEqual((await w.statusNodes()).map((r) => r.node), ['ucd1', 'ucd2', 'ucd3']);
  });

  stage('step 1 Run takes the backup on ucd1 over SSH; the backup warning clears', async (w, d) => {
    const desc = await act('backup', 'Run', /^passed/);
    assert.match(desc, /passed/);
    await waitForWarnings('no backup-missing', (x) => !x.some((y) => y.code === 'backup-missing'));
    const size = (await d.tc.inNode('ucd1', `stat -c %s ${JSON.parse(d.tc.clusterFile()).database.backup.artifact}`)).stdout.trim();
    assert.ok(Number(size) > 0, `the dump on ucd1 is ${size} bytes`);
  });

  stage('step 2 Check asks for the UCD login, fails, and names the running Deploy', async (w, d) => {
    const desc = await act('processes', 'Check', /^failed/, {
      input: (q) => (/UCD credential/.test(q.title) ? (q.password ? d.ucdUser.password : d.ucdUser.user) : undefined),
    });
    assert.match(desc, /Deploy/);
    const logins = asked.filter((a) => a.kind === 'quick' && a.input.kind === 'input' && /UCD credential/.test(a.input.title));
    assert.equal(logins.length, 2, 'asked the user name, then the password');
    assert.deepEqual(logins.map((a) => a.kind === 'quick' && a.input.kind === 'input' && a.input.password), [false, true]);
    // The balancer's certificate was shown before any credential went to it.
    const lbHost = new URL(JSON.parse(d.tc.clusterFile()).ucd.url as string).host;
    const certAt = asked.findIndex((a) => a.kind === 'dialog' && a.dialog.message.includes(lbHost));
    assert.ok(certAt >= 0 && certAt < asked.indexOf(logins[0]), `the certificate of ${lbHost} was asked first: ${JSON.stringify(asked.map((a) => (a.kind === 'dialog' ? a.dialog.message : a.input.title)))}`);
  });

  stage('step 2 Run: pick the Deploy, confirm cancelling it; the step passes and the request is gone', async (w, d) => {
    assert.ok(d.tc.processes().length > 0, 'the demo has a running process');
    let offered: readonly string[] = [];
    let confirmed: Dialog | undefined;
    await act('processes', 'Run', /^passed/, {
      pick: (q) => {
        offered = q.items;
        return q.items.filter((i) => !/Wait until none remain/.test(i));
      },
      dialog: (dl) => (dl.buttons.includes('Cancel Processes') ? ((confirmed = dl), 'Cancel Processes') : undefined),
    });
    assert.ok(offered.some((i) => /Wait until none remain/.test(i)), JSON.stringify(offered));
    assert.ok(offered.includes('JPetStore / Deploy (PROD)'), `the quick pick offered ${JSON.stringify(offered)}`);
    assert.ok(confirmed, 'a confirmation was asked before cancelling');
    assert.match(`${confirmed.message} ${confirmed.detail}`, /Deploy/);
    assert.deepEqual(d.tc.processes(), [], 'the cancelled request is gone from the cluster');
  });

  stage('step 3 Run uploads and extracts the package on all three nodes', async (w, d) => {
    const desc = await act('package', 'Run', /^passed/, {}, 'menu');
    assert.match(desc, /3\/3 nodes extracted/);
  });

  stage('step 5 Check before the shutdown: every node still running, each a warning in the webview', async (w) => {
    const step = label('verifyStopped');
    const desc = await act('verifyStopped', 'Check', /^failed/, {}, 'menu');
    assert.match(desc, /0\/3 nodes proven stopped, 3 failed/);
    for (const n of ['ucd1', 'ucd2', 'ucd3']) assert.match(await nodeDescription(step, n), /failed.*pid \d+/);
    const ws = await waitForWarnings('still-running on every node', (x) => ['ucd1', 'ucd2', 'ucd3'].every((n) => x.some((y) => y.code === 'still-running' && y.node === n)));
    assert.equal(ws[0].code, 'still-running', 'the most serious warning comes first');
  });

  stage('step 4 Run stops every server and proves it: step 5 shows 3/3, the still-running warnings clear', async (w) => {
    await act('stop', 'Run', /^passed/);
    const step5 = label('verifyStopped');
    await drive(step5, async () => /^passed.*3\/3 nodes proven stopped/.test(await w.rowDescription(step5)), 'step 5 to show 3/3 proven stopped');
    for (const n of ['ucd1', 'ucd2', 'ucd3']) assert.match(await nodeDescription(step5, n), /^passed/);
    await waitForWarnings('no still-running', (x) => !x.some((y) => y.code === 'still-running' || y.code === 'stale-pid'));
    for (const r of await w.statusNodes()) assert.match(r.server, /stopped/, `${r.node}: ${r.server}`);
    assert.match(await w.rowDescription(label('storage')), /^not needed/);
  });

  stage('step 7 Run installs the first node over a pty; step 8 Run brings it back; the versions now differ', async (w, d) => {
    await act('installFirst', 'Run', /^passed/, {}, 'inline');
    assert.match(await nodeDescription(label('installFirst'), 'ucd1'), /database schema upgraded by this node/);
    await act('startFirst', 'Run', /^passed/);
    const ws = await waitForWarnings('versions-differ', (x) => x.some((y) => y.code === 'versions-differ'));
    const differ = ws.find((x) => x.code === 'versions-differ')!.text;
    assert.match(differ, new RegExp(`ucd1 on ${target.replace(/\./g, '\\.')}`));
    assert.match(differ, new RegExp(`ucd2, ucd3 on ${d.tc.version.replace(/\./g, '\\.')}`));
    const ucd1 = (await w.statusNodes()).find((r) => r.node === 'ucd1');
    assert.equal(ucd1?.version, target);
    assert.match(ucd1?.server ?? '', /running/);
    await w.screenshot(path.join(SCREENSHOTS, 'status-mid-run.png'));
  });

  stage('steps 9 and 10 Run upgrade and restart the other nodes; the versions-differ warning clears', async (w) => {
    await act('installOthers', 'Run', /^passed/);
    for (const n of ['ucd2', 'ucd3']) assert.match(await nodeDescription(label('installOthers'), n), /no database upgrade on this node/);
    await act('startOthers', 'Run', /^passed/);
    await waitForWarnings('no versions-differ', (x) => !x.some((y) => y.code === 'versions-differ'));
  });

  stage('step 11 Check: every node on the target version, in the tree, the webview and on disk', async (w, d) => {
    const desc = await act('verifyVersions', 'Check', /^passed/, {}, 'menu');
    assert.match(desc, /passed/);
    for (const s of STEPS) {
      const text = await w.rowDescription(label(s.id));
      assert.match(text, /^(passed|not needed)\b/, `${label(s.id)}: ${text}`);
    }
    await waitForWarnings('no warning about a node', (x) => !x.some((y) => ['still-running', 'stale-pid', 'versions-differ', 'unreachable', 'host-key-changed'].includes(y.code)));
    const rows = await w.statusNodes();
    assert.deepEqual(rows.map((r) => [r.node, r.version]), ['ucd1', 'ucd2', 'ucd3'].map((n) => [n, target]));
    for (const r of rows) assert.match(r.server, /running/, `${r.node}: ${r.server}`);
    for (const n of d.tc.nodes) {
      const v = (await d.tc.inNode(n.name, `sed -n 's/^installed.version=//p' ${d.tc.installDir}/conf/installed.version`)).stdout.trim();
      assert.equal(v, target, `${n.name}: conf/installed.version`);
    }
    // Every dialog was one the procedure calls for: certificates of the cluster's servers, the cancel confirmation.
    for (const a of asked) if (a.kind === 'dialog') assert.match(a.answer, /^(Trust and Remember|Cancel Processes)$/);
    await w.screenshot(path.join(SCREENSHOTS, 'status-end.png'));
    await w.expand(label('verifyStopped'));
    await w.setSidebarWidth(640);
    await w.page.waitForTimeout(500);
    await w.screenshot(path.join(SCREENSHOTS, 'upgrade-tree-end.png'));
  });
});
