// Issue 13 item 4 in a real VS Code on the demo cluster: the trust pass is run once from the
// palette, lists every host key and certificate with node names in one list, and what is accepted
// there is never asked again: step 2's REST calls and the login pages (every node's and the load
// balancer's, read by step 11's Check) meet no certificate prompt; the journal records each
// accepted certificate with who accepted it.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { STEPS, type StepId } from '../../src/core/runbook/steps';
import { label } from './labels';
import { demoPrerequisites, type Demo } from '../demo/demo';
import { demoRig, type DemoRig } from './rig';
import { findPrerequisites, REPO_ROOT } from './harness';
import { Workbench } from './workbench';

const pre = findPrerequisites();
const skip = demoPrerequisites() ?? (pre.ok ? false : pre.reason);

describe('the trust pass through the UI, on the demo cluster', { skip, concurrency: 1 }, () => {
  let rig: DemoRig | undefined;
  let demo: Demo | undefined;
  let wb: Workbench | undefined;

  before(async () => {
    if (!pre.ok) return;
    rig = await demoRig(pre.paths);
    ({ demo, wb } = rig);
  }, { timeout: 240_000 });

  after(() => rig?.stop());

  const journal = (): Record<string, unknown>[] => {
    const dir = path.join(demo!.workspace, '.ucd-upgrade');
    return fs.readdirSync(dir).filter((f) => f.endsWith('.jsonl')).flatMap((f) => fs.readFileSync(path.join(dir, f), 'utf8').trim().split('\n')).map((l) => JSON.parse(l) as Record<string, unknown>);
  };

  /**
   * Clicks Check on a step and waits, with one deadline, until its description shows `expect`.
   * The only questions allowed on the way are the UCD login's two boxes: any dialog fails the test.
   */
  async function checkWithoutPrompts(w: Workbench, d: Demo, id: StepId, expect: RegExp): Promise<string> {
    const step = label(id);
    await w.waitUntil(() => w.viewBusy(), (busy) => !busy, `the runbook view idle before Check on "${step}"`);
    const before = await w.rowDescription(step);
    await w.inlineAction(step, 'Check');
    const deadline = Date.now() + 90_000;
    let last = before;
    while (Date.now() < deadline) {
      last = await w.rowDescription(step);
      if (last !== before && !/^(running|checking)/.test(last) && expect.test(last)) return last;
      const dl = await w.dialog();
      if (dl) throw new Error(`"${step}" Check showed a dialog after the trust pass: ${dl.message} ${dl.detail}`);
      const q = await w.quickInput();
      if (q?.kind === 'input' && /UCD credential/.test(q.title)) {
        await w.submitInputBox(q.password ? d.ucdUser.password : d.ucdUser.user);
        continue;
      }
      if (q) throw new Error(`"${step}" Check asked something unexpected: ${JSON.stringify(q)}`);
      await w.page.waitForTimeout(250);
    }
    throw new Error(`"${step}" did not show ${expect} within 90 s after Check; it shows "${last}"`);
  }

  test('one list with node names; accepted once, step 2 and the login pages ask nothing', { timeout: 420_000 }, async () => {
    assert.ok(wb && demo);
    const w = wb;
    const d = demo;
    const file = JSON.parse(d.tc.clusterFile()) as { nodes: { name: string; host: string }[]; loadBalancerUrl: string };
    try {
      await w.openView('UCD Upgrade');
      await w.waitForTopLevelRows(STEPS.length);
      const lb = new URL(file.loadBalancerUrl);
      const lbEndpoint = `${lb.hostname}:${lb.port || 443}`;

      // Before the pass, a certificate met mid-step is the exception: it says what the endpoint is
      // to the run and which step met it, and dismissing it leaves step 2 waiting for trust.
      await w.inlineAction(label('processes'), 'Check');
      const prompt = await w.waitUntil(() => w.dialog(), (x) => x !== undefined, 'the certificate prompt met by step 2');
      assert.ok(prompt);
      assert.ok(prompt.message.startsWith(`The TLS certificate of ${lbEndpoint} (the load balancer `), prompt.message);
      assert.match(prompt.message, /ucd\.url \S+: the REST API \(step 2 and the pre-flight\)\) is not trusted \(\w+\); met during step 2 “Ensure no application or generic processes are running”\.$/);
      assert.match(prompt.detail, /Cancel sends nothing; the step waits for trust and the next Run asks again\./);
      await w.answerDialog('Cancel');
      // Not failed: the row says what it waits for, and the next Run asks again.
      const waiting = await w.waitUntil(() => w.rowDescription(label('processes')), (t) => /^waiting for trust/.test(t), 'step 2 ending "waiting for trust" after the dismissed certificate');
      assert.match(waiting, /^waiting for trust: The TLS certificate of https:\/\/\S+ \(SHA-256 [0-9A-F:]+\) was not accepted/);

      await w.runCommand('UCD Upgrade: Review Host Keys and Certificates…');
      const pick = await w.waitUntil(() => w.quickInput(), (q) => q?.kind === 'pick' && /^Host keys and certificates of /.test(q.title), 'the trust review list', 60_000);
      assert.ok(pick?.kind === 'pick');
      // The demo's host keys are in the editor's known_hosts; its certificates are self-signed.
      assert.match(pick.title, /: 4 to review, 3 known$/);
      const certs = [...file.nodes.map((n) => `${n.name} (${n.host}:8443) — TLS certificate`), `load balancer, UCD URL (${lb.hostname}:${lb.port || 443}) — TLS certificate`];
      const keys = file.nodes.map((n) => `${n.name} (${n.host}:22) — SSH host key`);
      for (const want of [...certs, ...keys]) assert.ok(pick.items.some((i) => i.includes(want)), `"${want}" in the list: ${JSON.stringify(pick.items)}`);
      await w.pickMany(certs);
      const note = await w.waitUntil(() => w.notifications(), (ns) => ns.some((n) => /accepted and remembered 4 of the 7/.test(n)), 'the notification of what was accepted');
      assert.ok(note.some((n) => /3 were already trusted/.test(n)), note.join(' | '));

      const accepted = journal().filter((e) => e.type === 'decided' && (e.decision as { kind: string }).kind === 'tls-certificate');
      assert.deepEqual(accepted.map((e) => (e.decision as { endpoint: string }).endpoint).sort(), [...file.nodes.map((n) => `${n.host}:8443`), lbEndpoint].sort());
      for (const e of accepted) {
        assert.match((e.decision as { fingerprint: string }).fingerprint, /^[0-9A-F]{2}(:[0-9A-F]{2}){31}$/);
        assert.ok((e.by as { user?: string }).user, 'who accepted it');
      }

      // Step 2 over REST (through the load balancer): the login is asked, no certificate.
      const desc = await checkWithoutPrompts(w, d, 'processes', /^failed/);
      assert.match(desc, /Deploy/, 'the REST call went through and names the running Deploy');
      // Every node's login page and the balancer's, read by step 11: no certificate asked.
      await checkWithoutPrompts(w, d, 'verifyVersions', /^failed/);
      const after11 = journal().filter((e) => e.type === 'finished' && e.step === 'verifyVersions');
      assert.deepEqual(after11.map((e) => e.node).sort(), file.nodes.map((n) => n.name).sort());
      for (const e of after11) {
        // Not on the target yet, but read over TLS: the page's own version is named.
        assert.match(JSON.stringify(e.evidence), /login page (shows )?v\. \d/, `step 11 read ${String(e.node)}'s login page: ${JSON.stringify(e.evidence)}`);
      }
      const logs = fs.readdirSync(path.join(d.workspace, '.ucd-upgrade'), { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.log'));
      const logged = logs.map((f) => fs.readFileSync(path.join(d.workspace, '.ucd-upgrade', f), 'utf8')).join('\n');
      assert.match(logged, /\[lb\] load balancer answers v\. \d/, `step 11 read the balancer's login page (run logs: ${logs.join(', ')})`);
      // After the pass, nothing was declined or asked: only the one dismissed before it.
      const afterPass = logged.slice(logged.indexOf('[trust] accepted 4: '));
      assert.ok(afterPass.length < logged.length, 'the pass is in the run log');
      assert.doesNotMatch(afterPass, /not accepted|not trusted \(/);
      assert.equal(logged.match(/waiting for trust/g)?.length, 1, 'the one certificate dismissed before the pass');
    } catch (e) {
      await w.screenshot(path.join(REPO_ROOT, 'test-results', 'e2e', 'trust.png')).catch(() => undefined);
      throw e;
    }
  });
});
