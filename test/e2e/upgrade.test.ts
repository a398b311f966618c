// Issue 5's proof: the whole HA upgrade of the 3-node demo cluster (OpenSSH nodes, the UCD
// simulator with a Deploy running, a real MariaDB and nginx) driven through a real VS Code like a
// user does it: tree clicks, the dialogs the extension shows, and the status webview's warnings
// appearing and clearing, the output channel's lines. Ends with every node on the target version,
// and with a search of every file the run wrote for the two secrets typed into the UI on the way:
// the UCD password and the passphrase of the encrypted SSH key the nodes are reached with.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { STEPS, type StepId } from '../../src/core/runbook/steps';
import { label, LABELS } from './labels';
import { demoPrerequisites, type Demo } from '../demo/demo';
import { demoRig, type DemoRig } from './rig';
import { EXTENSION_ID, findPrerequisites, grepFixed, REPO_ROOT, SCREENSHOTS } from './harness';
import { dialogButton, Workbench, type Dialog, type QuickInput, type StatusWarningRow } from './workbench';

const pre = findPrerequisites();
const skip = demoPrerequisites() ?? (pre.ok ? false : pre.reason);

/** Every question the extension asked during the run, in order, as the user saw it. */
type Asked = { readonly step: string } & ({ readonly kind: 'dialog'; readonly dialog: Dialog; readonly answer: string } | { readonly kind: 'quick'; readonly input: QuickInput });

/** How the test answers the extension's questions while a step runs; undefined = not expected. */
interface Answers {
  dialog?(d: Dialog): string | undefined;
  input?(q: Extract<QuickInput, { kind: 'input' }>): string | undefined;
  pick?(q: Extract<QuickInput, { kind: 'pick' }>): readonly string[] | undefined;
}

/** The SSH key's passphrase, typed into the UI once; it must never reach a file (issue 8). */
const PASSPHRASE = `pp-${crypto.randomBytes(18).toString('base64url')}`;

describe('the whole HA upgrade through the UI, on the 3-node demo cluster', { skip, concurrency: 1 }, () => {
  let rig: DemoRig | undefined;
  let demo: Demo | undefined;
  let wb: Workbench | undefined;
  let target = '';
  const asked: Asked[] = [];

  before(async () => {
    if (!pre.ok) return;
    rig = await demoRig(pre.paths, {}, useEncryptedKey);
    ({ demo, wb } = rig);
    target = JSON.parse(demo.tc.clusterFile()).targetVersion as string;
  }, { timeout: 240_000 });

  after(() => rig?.stop());

  /** The journal's last results, so a failure says what each node reported. */
  function journalTail(): string {
    try {
      const dir = path.join(ready().demo.workspace, '.ucd-upgrade');
      const lines = fs.readdirSync(dir).filter((f) => f.endsWith('.jsonl')).flatMap((f) => fs.readFileSync(path.join(dir, f), 'utf8').trim().split('\n'));
      return lines.filter((l) => l.includes('"finished"')).slice(-6).join('\n');
    } catch (e) {
      return `(no journal: ${(e as Error).message})`;
    }
  }

  function ready(): { wb: Workbench; demo: Demo } {
    assert.ok(wb && demo, 'the demo and the workbench were not started');
    return { wb, demo };
  }

  /**
   * A test step. It starts from a known window (whatever an earlier failure left open is closed,
   * and said so) and leaves a screenshot in test-results/e2e/ when it fails.
   */
  function stage(name: string, body: (w: Workbench, d: Demo) => Promise<void>, timeoutMs = 180_000): void {
    test(name, { timeout: timeoutMs }, async () => {
      const { wb: w, demo: d } = ready();
      const closed = await w.closeLeftovers();
      if (closed.length) process.stderr.write(`e2e: "${name}" starts after closing what was left open: ${closed.join('; ')}\n`);
      try {
        await body(w, d);
      } catch (e) {
        await w.screenshot(path.join(REPO_ROOT, 'test-results', 'e2e', `upgrade-${name.replace(/[^a-z0-9]+/gi, '-').slice(0, 50)}.png`)).catch(() => undefined);
        throw e;
      }
    });
  }

  /**
   * Waits for `done` while answering what the extension asks, with one deadline. Asked in any
   * step: the TLS certificates of the cluster's own servers (trusted, as an engineer does after
   * comparing the fingerprint) and the SSH key's passphrase (asked once, by whichever step first
   * connects). Everything else goes
   * to `answers`, and a question nobody expected fails the test with its text.
   */
  async function drive(step: string, done: () => Promise<boolean>, what: string, answers: Answers = {}, timeoutMs = 90_000): Promise<void> {
    const w = ready().wb;
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (await done().catch(() => false)) return;
      const dl = await w.dialog();
      if (dl) {
        const answer = /TLS certificate of .* is not trusted/.test(dl.message) ? 'Trust and Remember' : answers.dialog?.(dl);
        if (!answer) throw new Error(`${step}: an unexpected dialog: ${dl.message} ${dl.detail} [${dl.buttons.join(' | ')}]`);
        asked.push({ step, kind: 'dialog', dialog: dl, answer });
        await w.answerDialog(answer);
        continue;
      }
      const q = await w.quickInput();
      if (q?.kind === 'input') {
        const text = /^Passphrase for SSH key /.test(q.prompt) ? PASSPHRASE : answers.input?.(q);
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

  /**
   * Clicks Run (or Check) on a step once, and waits until its description says `expect`. The
   * click is made only when the view is idle and the row offers the action; a Run that ends any
   * other way fails the test with the journal's reasons (a failed step is never repeated: that would hide a race).
   */
  async function act(id: StepId, action: 'Run' | 'Check', expect: RegExp, answers: Answers = {}, via: 'inline' | 'menu' = 'inline'): Promise<string> {
    const w = ready().wb;
    const step = label(id);
    await w.waitUntil(() => w.viewBusy(), (busy) => !busy, `the runbook view idle (no progress bar) before ${action} on "${step}"`);
    const before = await w.rowDescription(step);
    assert.doesNotMatch(before, expect, `"${step}" already shows ${expect} before ${action}`);
    if (via === 'inline') await w.inlineAction(step, action);
    else await w.contextMenu(step, action);
    let last = before;
    // Only a description that moved (running…, or any new text) can be this click's failure.
    let moved = false;
    const running = /^(running|checking)/;
    await drive(step, async () => {
      last = await w.rowDescription(step);
      if (last !== before || running.test(last)) moved = true;
      if (running.test(last)) return false;
      return expect.test(last) || (moved && /^failed/.test(last));
    }, `"${step}" to show ${expect}`, answers);
    if (!expect.test(last)) throw new Error(`${action} on "${step}" ended "${last}", not ${expect}; last results in the journal:\n${journalTail()}`);
    return last;
  }

  /** A node's row under a step, once its description matches `expect`. */
  async function nodeDescription(step: string, node: string, expect: RegExp): Promise<string> {
    const w = ready().wb;
    await w.expand(step);
    return w.waitUntil(() => w.childDescription(step, node), (t) => expect.test(t), `${node} under "${step}" showing ${expect}`);
  }

  const codes = (ws: readonly StatusWarningRow[]) => ws.map((x) => (x.node ? `${x.code}@${x.node}` : x.code));

  async function waitForWarnings(what: string, cond: (ws: readonly StatusWarningRow[]) => boolean, timeoutMs = 30_000): Promise<StatusWarningRow[]> {
    const w = ready().wb;
    let last: StatusWarningRow[] = [];
    try {
      return await w.waitUntil(async () => (last = await w.statusWarnings()), cond, `the status webview's warnings showing ${what}`, timeoutMs);
    } catch (e) {
      throw new Error(`${(e as Error).message.split('\n')[0]} (codes: ${JSON.stringify(codes(last))})`);
    }
  }

  stage('the runbook shows 11 steps, and the status webview warns that no backup is recorded', async (w) => {
    await w.openView('UCD Upgrade');
    assert.deepEqual(await w.waitForTopLevelRows(STEPS.length), LABELS);
    await w.runCommand('UCD Upgrade: Show Cluster Status');
    let ws: StatusWarningRow[] = [];
    // Answering, should the webview's first look at the nodes ask for the key's passphrase.
    await drive('the status webview', async () => (ws = await w.statusWarnings()).some((y) => y.code === 'backup-missing'), 'the backup-missing warning');
    assert.match(ws.find((x) => x.code === 'backup-missing')!.text, /no database backup recorded/);
    assert.deepEqual((await w.statusNodes()).map((r) => r.node), ['ucd1', 'ucd2', 'ucd3']);
  });

  stage('step 1 Run takes the backup on ucd1 over SSH, with the encrypted key; the backup warning clears', async (w, d) => {
    const desc = await act('backup', 'Run', /^passed/);
    assert.match(desc, /passed/);
    const passphrases = asked.filter((a) => a.kind === 'quick' && a.input.kind === 'input' && /^Passphrase for SSH key /.test(a.input.prompt));
    assert.equal(passphrases.length, 1, 'the key\'s passphrase was asked once, for every node');
    assert.ok(passphrases[0].kind === 'quick' && passphrases[0].input.kind === 'input' && passphrases[0].input.password, 'the passphrase box hides what is typed');
    await waitForWarnings('no backup-missing', (x) => !x.some((y) => y.code === 'backup-missing'));
    const size = (await d.tc.inNode('ucd1', `stat -c %s ${JSON.parse(d.tc.clusterFile()).database.backup.artifact}`)).stdout.trim();
    assert.ok(Number(size) > 0, `the dump on ucd1 is ${size} bytes`);
  });

  stage('the UCD Upgrade output channel shows the backup command on ucd1, its exit code and its duration', async (w, d) => {
    const dump = (JSON.parse(d.tc.clusterFile()).database.backup.command as string).split(' ')[0];
    await w.showExtensionLog();
    // The panel shows a dozen lines: filter it down to ucd1's commands and their ends.
    await w.filterOutput(`[ucd1] $ ,[ucd1] exit `);
    const lines = await w.waitUntil(
      () => w.outputLines(),
      (ls) => ls.some((l) => l.includes(`[ucd1] $ ${dump} `)) && ls.some((l) => /\[ucd1\] exit 0 after \d+\.\d s$/.test(l)),
      `the Output panel's UCD Upgrade channel showing "[ucd1] $ ${dump} …" and "[ucd1] exit 0 after … s"`,
    );
    // The exit line that follows the command is that command's.
    const cmd = lines.findIndex((l) => l.includes(`[ucd1] $ ${dump} `));
    assert.ok(lines.slice(cmd + 1).some((l) => /\[ucd1\] exit 0 after \d+\.\d s$/.test(l)), lines.join('\n'));
    // Long lines wrap: a line of the log is a row that starts with its time stamp.
    const logged = lines.filter((l) => /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} \[/.test(l));
    assert.ok(logged.length >= 2 && logged.every((l) => /\[ucd1\] (\$|exit) /.test(l)), `the filter shows only ucd1's commands and exits: ${lines.join('\n')}`);
    // Every line says its step.
    assert.ok(logged.every((l) => l.includes('[step 1] [ucd1] ')), `each line names step 1: ${logged.join('\n')}`);
    await w.filterOutput('');
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
      dialog: (dl) => (dialogButton(dl, 'Cancel Them in UCD') ? ((confirmed = dl), 'Cancel Them in UCD') : undefined),
    });
    assert.ok(offered.some((i) => /Wait until none remain/.test(i)), JSON.stringify(offered));
    assert.ok(offered.includes('JPetStore / Deploy (PROD)'), `the quick pick offered ${JSON.stringify(offered)}`);
    assert.ok(confirmed, 'a confirmation was asked before cancelling');
    assert.match(`${confirmed.message} ${confirmed.detail}`, /Deploy/);
    assert.ok(confirmed.buttons.includes('Keep Them Running'), `the safe answer is offered by name: [${confirmed.buttons.join(' | ')}]`);
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
    for (const n of ['ucd1', 'ucd2', 'ucd3']) await nodeDescription(step, n, /failed.*pid \d+/);
    // The failure is said where a person looks, naming every node and what to do next.
    const failed = await w.waitUntil(() => w.notifications(), (ns) => ns.some((x) => /Step 5 .* failed on ucd1, ucd2, ucd3\./.test(x)), 'a notification that step 5 failed on ucd1, ucd2, ucd3');
    const note = failed.find((x) => /Step 5 .* failed on/.test(x))!;
    for (const n of ['ucd1', 'ucd2', 'ucd3']) assert.match(note, new RegExp(`${n}: Check failed: `), note);
    assert.match(note, /Next: /, note);
    assert.match(note, /Show Log/, 'the notification offers the node\'s log');
    const ws = await waitForWarnings('still-running on every node', (x) => ['ucd1', 'ucd2', 'ucd3'].every((n) => x.some((y) => y.code === 'still-running' && y.node === n)));
    assert.equal(ws[0].code, 'still-running', 'the most serious warning comes first');
  });

  stage('step 4 Run stops every server and proves it: step 5 shows 3/3, the still-running warnings clear', async (w) => {
    await act('stop', 'Run', /^passed/);
    const step5 = label('verifyStopped');
    await drive(step5, async () => /^passed.*3\/3 nodes proven stopped/.test(await w.rowDescription(step5)), 'step 5 to show 3/3 proven stopped');
    for (const n of ['ucd1', 'ucd2', 'ucd3']) await nodeDescription(step5, n, /^passed/);
    await waitForWarnings('no still-running', (x) => !x.some((y) => y.code === 'still-running' || y.code === 'stale-pid'));
    for (const r of await w.statusNodes()) assert.match(r.server, /stopped/, `${r.node}: ${r.server}`);
    assert.match(await w.rowDescription(label('storage')), /^not needed/);
  });

  stage('step 7 Run installs the first node (detached, answered through its input FIFO); step 8 Run brings it back; the versions now differ', async (w, d) => {
    await act('installFirst', 'Run', /^passed/, {}, 'inline');
    await nodeDescription(label('installFirst'), 'ucd1', /database schema upgraded by this node/);
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
    for (const n of ['ucd2', 'ucd3']) await nodeDescription(label('installOthers'), n, /no database upgrade on this node/);
    await act('startOthers', 'Run', /^passed/);
    await waitForWarnings('no versions-differ', (x) => !x.some((y) => y.code === 'versions-differ'));
  });

  stage('step 11 Check: every node on the target version, in the tree, the webview and on disk', async (w, d) => {
    const desc = await act('verifyVersions', 'Check', /^passed/, {}, 'menu');
    assert.match(desc, /passed/);
    // The end is said once, with the report's total time and outage window.
    const time = '\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d [+-]\\d\\d:\\d\\d';
    const complete = new RegExp(`Upgrade complete: every node of \\S+ is on ${target.replace(/\./g, '\\.')}; total time \\d+ (s|min)[^;]* \\(${time} → ${time}\\); outage \\d+ (s|min)[^(]* \\(${time} → ${time}, until ucd1 was back online\\)`);
    const notes = await w.waitUntil(() => w.notifications(), (ns) => ns.some((x) => complete.test(x)), `a notification "Upgrade complete: … total time …; outage …"`);
    assert.equal(notes.filter((x) => /Upgrade complete/.test(x)).length, 1, notes.join(' | '));
    for (const s of STEPS) {
      const text = await w.rowDescription(label(s.id));
      // A finished step says how long it took, right after its state.
      assert.match(text, s.id === 'storage' ? /^not needed\b/ : /^passed \d+ (ms|s|min \d+ s)\b/, `${label(s.id)}: ${text}`);
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
    for (const a of asked) if (a.kind === 'dialog') assert.match(a.answer, /^(Trust and Remember|Cancel Them in UCD)$/);
    await w.screenshot(path.join(SCREENSHOTS, 'status-end.png'));
    await w.expand(label('verifyStopped'));
    await w.screenshot(path.join(SCREENSHOTS, 'upgrade-tree-end.png'));
  });

  stage('the node transcripts on disk survive a reload; Show Log on ucd3 opens its transcript in the main editor area', async (w, d) => {
    const dir = path.join(d.workspace, '.ucd-upgrade');
    const [journal] = fs.readdirSync(dir).filter((f) => f.endsWith('.jsonl'));
    assert.ok(journal, `no journal in ${dir}`);
    const logs = path.join(dir, journal.replace(/\.jsonl$/, '.logs'));
    const ucd3 = path.join(logs, 'nodes', 'ucd3.log');
    const before = fs.readFileSync(ucd3, 'utf8');
    // ucd3's own record, each line with its step: the upload (3), the shutdown (4), the restart (10).
    for (const step of [3, 4, 10]) assert.match(before, new RegExp(`\\[step ${step}\\] \\[ucd3\\] `), `${ucd3} has step ${step}'s lines`);
    assert.ok(before.trimEnd().split('\n').every((l) => /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} [+-]\d\d:\d\d \[(info|warn|error)\] \[(step \d+|run)\] /.test(l)), `every line of ${ucd3} has its time, level and step`);
    assert.doesNotMatch(before, /\[(step \d+|run)\] \[ucd[12]\] /, 'only ucd3\'s lines in its transcript');
    // The probe's protocol is in the run's transcript, at debug level, and out of the node's.
    assert.doesNotMatch(before, /@@ucd-probe:/);
    const run = fs.readFileSync(path.join(logs, 'run.log'), 'utf8').split('\n');
    const probeLines = run.filter((l) => l.includes('@@ucd-probe:'));
    assert.ok(probeLines.length > 0 && probeLines.every((l) => l.includes(' [debug] ')), `probe framing at debug: ${probeLines.slice(0, 3).join('\n')}`);

    await w.reloadWindow();
    await w.waitForTopLevelRows(STEPS.length);
    const step10 = label('startOthers');
    await w.expand(step10);
    await w.contextMenu(await w.childRow(step10, 'ucd3'), 'Show Log');
    const tab = w.page.locator('.tabs-container .tab', { hasText: 'ucd3.log' });
    await tab.waitFor();
    assert.match((await tab.getAttribute('class')) ?? '', /\bactive\b/, 'the transcript tab is the active one');
    assert.equal(await w.page.locator('.editor-group-container').count(), 1, 'it opened in the main area, not in a new editor column');
    assert.doesNotMatch((await tab.getAttribute('class')) ?? '', /\bpreview\b|\bitalic\b/, 'it stays open (not a preview tab)');
    // The lines from before the reload are in the editor: its first lines are the upload's.
    const text = await w.waitUntil(
      () => w.page.locator('.editor-group-container .monaco-editor .view-lines').first().innerText(),
      (t) => t.replace(/\u00a0/g, ' ').includes('[step 3] [ucd3] '),
      `the ucd3.log editor showing "[step 3] [ucd3]" (logged before the reload)`,
    );
    assert.doesNotMatch(text, /Nothing has been logged/);
    assert.ok(fs.readFileSync(ucd3, 'utf8').startsWith(before), 'the transcript was appended to, never rewritten');
  });

  stage('Export Run Report: saved beside the cluster file, shown as a preview, with the cancelled deployment, every accepted fingerprint, step durations and the outage window', async (w, d) => {
    await w.runCommand('UCD Upgrade: Export Run Report (Markdown)');
    // VS Code's own save dialog (in the browser, a path box): the suggested place is taken.
    const box = w.page.locator('.quick-input-widget .quick-input-box input');
    const suggested = await w.waitUntil(() => box.inputValue().catch(() => ''), (v) => v.endsWith('-report.md'), 'the save dialog suggesting "…-report.md"');
    assert.equal(path.dirname(suggested), d.workspace, `the report is suggested beside the cluster file: ${suggested}`);
    await box.press('Enter');
    const file = path.join(d.workspace, path.basename(suggested));
    await w.waitUntil(async () => fs.existsSync(file), (x) => x, `the report saved as ${file}`);
    await w.page.locator('.tabs-container .tab', { hasText: `Preview ${path.basename(file)}` }).waitFor();
    const notes = await w.waitUntil(() => w.notifications(), (n) => n.some((x) => x.includes(file)), `a notification saying the report is saved to ${file}`);
    assert.ok(notes.length > 0);
    assert.deepEqual(fs.readdirSync(path.join(d.workspace, '.ucd-upgrade')).filter((f) => f.endsWith('.md') && f.includes('report')), [], 'nothing written into the hidden journal folder');
    const md = fs.readFileSync(file, 'utf8');
    const section = (title: string) => md.slice(md.indexOf(`\n## ${title}`), md.indexOf('\n## ', md.indexOf(`\n## ${title}`) + 4));
    assert.match(section('Decisions'), /cancelled in UCD: application: JPetStore \/ Deploy \(PROD\)/);
    const trusted = asked.filter((a): a is Extract<Asked, { kind: 'dialog' }> => a.kind === 'dialog' && a.answer === 'Trust and Remember');
    assert.ok(trusted.length > 0, 'certificates were accepted on the way');
    for (const a of trusted) {
      const fp = /SHA-256 fingerprint:\s*([0-9A-F:]{95})/.exec(a.dialog.detail)?.[1];
      assert.ok(fp, `the dialog showed a fingerprint: ${a.dialog.detail}`);
      assert.ok(section('Decisions').includes(`SHA-256 ${fp}`), `the report lists the accepted ${fp} (${a.dialog.message})`);
    }
    for (const s of STEPS.filter((x) => x.id !== 'storage')) {
      const row = md.split('\n').find((l) => l.startsWith(`| ${STEPS.indexOf(s) + 1} | `));
      assert.match(row ?? '', /\| \d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d\d:\d\d \| \d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d\d:\d\d \| \d+ (ms|s|min)/, `step ${s.title} has a start, an end and a duration: ${row}`);
    }
    assert.match(md, /^\| Total time \| \d+ (s|min)/m);
    assert.match(md, /^\| Outage \| \d+ (s|min)[^|]*: \d{4}-\d\d-\d\d [\d:]+ [+-]\d\d:\d\d → \d{4}-\d\d-\d\d [\d:]+ [+-]\d\d:\d\d \(every server down once ucd\d was proven stopped, until ucd1 was back online/m);
    assert.doesNotMatch(md.replace(/application: JPetStore[^|]*/g, ''), /\| \d{4}-\d\d-\d\dT\d\d:/, 'no UTC time in a time column');
  });

  stage('neither secret typed into the UI is in the journal, the exported report, the transcripts or the output channel\'s log', async (w, d) => {
    const dir = path.join(d.workspace, '.ucd-upgrade');
    const [report] = fs.readdirSync(d.workspace).filter((f) => f.endsWith('-report.md'));
    assert.ok(report, `the exported report in ${d.workspace}`);
    const transcripts = fs.readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.log')).map((f) => path.join(dir, f));
    assert.ok(transcripts.length >= 4, `the run's and the nodes' transcripts: ${transcripts.join(', ')}`);
    const journals = fs.readdirSync(dir).filter((f) => f.endsWith('.jsonl')).map((f) => path.join(dir, f));
    const channelLog = d.server.channelLogFile(EXTENSION_ID, 'UCD Upgrade');
    assert.ok(channelLog, `no "UCD Upgrade.log" under ${d.server.logsDir}`);
    // The files are this run's: the journal and the channel's log hold its steps, the report its outcome.
    assert.ok(journals.length > 0, `no journal in ${dir}`);
    // The channel's log is this window's (the window was reloaded); the run's transcript has it all.
    assert.match(fs.readFileSync(path.join(dir, journals[0] ? path.basename(journals[0]).replace(/\.jsonl$/, '.logs') : '?', 'run.log'), 'utf8'), /\[step 10\] \[ucd3\] exit 0 after \d+\.\d s/);
    assert.match(journals.map((f) => fs.readFileSync(f, 'utf8')).join(''), /"verifyVersions"/);
    assert.match(fs.readFileSync(path.join(d.workspace, report), 'utf8'), /ucd1[\s\S]*ucd2[\s\S]*ucd3/);
    const files = [...journals, path.join(d.workspace, report), channelLog, ...transcripts];

    const { user, password } = d.ucdUser;
    const secrets: Record<string, string> = {
      'the UCD password': password,
      'the UCD Basic authorization (user:password in base64)': Buffer.from(`${user}:${password}`).toString('base64'),
      'the SSH key passphrase': PASSPHRASE,
    };
    const plantDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ucd-planted-'));
    try {
      for (const [name, secret] of Object.entries(secrets)) {
        // The search can fail: in a copy of each file with the secret added, it finds it.
        const planted = files.map((f, i) => {
          const copy = path.join(plantDir, `${i}-${path.basename(f)}`);
          fs.writeFileSync(copy, `${fs.readFileSync(f, 'utf8')}\n${secret}\n`);
          return copy;
        });
        assert.deepEqual(grepFixed(secret, planted).sort(), [...planted].sort(), `grep finds ${name} in a planted copy of each file`);
        assert.deepEqual(grepFixed(secret, files), [], `${name} was written to a file of the run`);
        // Nor anywhere else the window wrote: the workspace, VS Code's logs, code-server's own output.
        assert.deepEqual(grepFixed(secret, [d.workspace, d.server.logsDir, d.server.logFile]), [], `${name} was written to disk`);
      }
    } finally {
      fs.rmSync(plantDir, { recursive: true, force: true });
    }
  });
});

/**
 * The nodes are reached with an encrypted copy of the cluster's key, in code-server's ~/.ssh: the
 * extension must ask its passphrase in the UI (the passphrase reaches ssh-keygen's command line
 * here, a test value on the test machine, never the extension's).
 */
function useEncryptedKey(d: Demo): void {
  const key = path.join(d.server.dir, '.ssh', 'id_ed25519_ucd');
  fs.copyFileSync(d.tc.identityFile, key);
  fs.chmodSync(key, 0o600);
  const enc = spawnSync('ssh-keygen', ['-q', '-p', '-P', '', '-N', PASSPHRASE, '-f', key], { encoding: 'utf8' });
  assert.equal(enc.status, 0, `ssh-keygen -p: ${enc.stderr}`);
  assert.notEqual(spawnSync('ssh-keygen', ['-y', '-P', '', '-f', key]).status, 0, `${key} opens without a passphrase`);
  const file = path.join(d.workspace, 'ucd-cluster.json');
  const text = fs.readFileSync(file, 'utf8');
  const uses = text.split(JSON.stringify(d.tc.identityFile)).length - 1;
  assert.equal(uses, d.tc.nodes.length, `every node of ${file} names ${d.tc.identityFile}`);
  fs.writeFileSync(file, text.split(JSON.stringify(d.tc.identityFile)).join(JSON.stringify(key)));
}
