// The sudo prompt through the real UI: on a cluster whose install belongs to the service user and
// whose sudo asks for the SSH user's password, Check on step 5 asks for it in a password box,
// once per node, and the proof runs through sudo (it sees the service user's server).
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser } from 'playwright-core';
import { STEPS } from '../../src/core/runbook/steps';
import { label } from './labels';
import { clusterPrerequisites, startCluster, type TestCluster } from '../cluster/harness';
import { CodeServer, findPrerequisites, launchChromium } from './harness';
import { Workbench } from './workbench';

const pre = findPrerequisites();
const skip = !pre.ok ? pre.reason : clusterPrerequisites() ?? (fs.existsSync('/usr/bin/sudo') ? false : 'sudo is not installed (test/install-debian-deps.sh installs it)');
const step = label('verifyStopped');

async function waitFor(cond: () => Promise<boolean>, what: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await cond().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

describe('the sudo password, asked in the real UI', { skip }, () => {
  let tc: TestCluster | undefined;
  let server: CodeServer | undefined;
  let browser: Browser | undefined;
  let wb: Workbench | undefined;
  let ws = '';

  before(async () => {
    if (!pre.ok) return;
    tc = await startCluster({ nodes: 2, serviceUser: true });
    await tc.startServer('ucd2');
    server = await CodeServer.start(pre.paths);
    fs.mkdirSync(path.join(server.dir, '.ssh'), { recursive: true, mode: 0o700 });
    fs.copyFileSync(tc.knownHostsFile, path.join(server.dir, '.ssh', 'known_hosts'));
    ws = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'ucd-ws-')), 'sudo-cluster');
    fs.mkdirSync(ws);
    fs.writeFileSync(path.join(ws, 'ucd-cluster.json'), tc.clusterFile());
    browser = await launchChromium(pre.paths);
  });

  after(async () => {
    await wb?.close().catch(() => undefined);
    await browser?.close().catch(() => undefined);
    await server?.stop();
    await tc?.stop();
    if (ws) fs.rmSync(path.dirname(ws), { recursive: true, force: true });
  });

  test('Check on step 5 asks for the sudo password once per node in a password box; the proof sees the service user\'s server', async () => {
    assert.ok(tc && server && browser);
    const password = tc.sudoPassword!;
    wb = await Workbench.open(browser, server, ws);
    await wb.openView('UCD Upgrade');
    await wb.waitForTopLevelRows(STEPS.length);
    await wb.expand(step);
    await wb.inlineAction(step, 'Check');
    const w = wb;
    const asked: string[] = [];
    for (let i = 0; i < tc.nodes.length; i++) {
      let q: Awaited<ReturnType<Workbench['quickInput']>>;
      await waitFor(async () => (q = await w.quickInput()) !== undefined && q.kind === 'input' && /sudo password/.test(q.prompt), `the sudo password box (${i + 1} of ${tc.nodes.length})`);
      assert.ok(q! && q.kind === 'input');
      assert.equal(q.password, true, 'the box hides what is typed');
      asked.push(q.prompt);
      await w.submitInputBox(password);
    }
    assert.deepEqual(asked.map((a) => /on node (ucd\d)/.exec(a)?.[1]).sort(), ['ucd1', 'ucd2'], asked.join('\n'));
    assert.ok(asked.every((a) => a.includes(`of ${tc!.user}`)), asked.join('\n'));

    await waitFor(async () => /failed/.test(await w.childDescription(step, 'ucd2')), 'ucd2 failed (its server runs as ucd)');
    const pid = (await tc.inNode('ucd2', `cat ${tc.installDir}/var/server.pid`)).stdout.trim();
    assert.match(await wb.childDescription(step, 'ucd2'), new RegExp(`pid ${pid}`));
    await waitFor(async () => /passed/.test(await w.childDescription(step, 'ucd1')), 'ucd1 passed');
    assert.equal(await wb.quickInput(), undefined, 'nothing more is asked');

    const dir = path.join(ws, '.ucd-upgrade');
    const journal = fs.readdirSync(dir).filter((f) => f.endsWith('.jsonl')).map((f) => fs.readFileSync(path.join(dir, f), 'utf8')).join('\n');
    assert.ok(journal.includes('ucd2'), 'the journal holds the check');
    assert.ok(!journal.includes(password), 'the sudo password is not in the journal');
    assert.ok(!fs.readFileSync(path.join(ws, 'ucd-cluster.json'), 'utf8').includes(password), 'nor in the cluster file');
  });
});
