// One owner per run, in a real VS Code: while another process owns the run's journal, the window
// shows it read-only, names the owner and follows it live; when the owner dies, the window takes
// the run over and only then marks what was left running as interrupted.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser } from 'playwright-core';
import { loadCluster } from '../../src/core/cluster/load';
import { STEPS, type StepId } from '../../src/core/runbook/steps';
import { label } from './labels';
import { journalPath } from '../../src/core/runbook/session';
import { isState, Peer } from '../support/peer';
import { CodeServer, copyFixture, findPrerequisites, launchChromium, removeTempDirs, REPO_ROOT } from './harness';
import { Workbench } from './workbench';

const pre = findPrerequisites();
const skip = pre.ok ? false : pre.reason;
const stepLabel = (id: StepId) => label(id);

/** Polls `get` until `ok`; one deadline, and the error says what was last seen. */
async function waitUntil<T>(what: string, get: () => Promise<T>, ok: (v: T) => boolean, wb: Workbench, ms = 30_000): Promise<T> {
  const deadline = Date.now() + ms;
  let last: T | undefined;
  while (Date.now() < deadline) {
    last = await get().catch(() => undefined as T);
    if (last !== undefined && ok(last)) return last;
    await wb.page.waitForTimeout(200);
  }
  throw new Error(`${what} did not appear within ${ms} ms; last seen: ${JSON.stringify(last)}`);
}

describe('one owner per run, in a real VS Code (code-server + Chromium)', () => {
  let server: CodeServer | undefined;
  let browser: Browser | undefined;

  before(async () => {
    if (!pre.ok) return;
    server = await CodeServer.start(pre.paths);
    browser = await launchChromium(pre.paths);
  });

  after(async () => {
    await browser?.close().catch(() => undefined);
    await server?.stop();
    removeTempDirs();
  });

  test('a window on a run owned by another live process is read-only and live, and takes over when the owner is killed', { skip }, async () => {
    assert.ok(server && browser);
    const folder = copyFixture('three-nodes');
    const loaded = loadCluster(fs.readFileSync(path.join(folder, 'ucd-cluster.json'), 'utf8'));
    assert.ok(loaded.ok);
    const journal = journalPath(loaded.cluster, folder);
    const peer = new Peer({ PEER_HEARTBEAT_MS: '500', PEER_STALE_MS: '10000', PEER_POLL_MS: '200' });
    let wb: Workbench | undefined;
    try {
      await peer.ready();
      const owned = await peer.waitFor('the peer owning the run', isState, peer.send({ cmd: 'open', dir: folder }));
      assert.equal(owned.role, 'owner');
      const ucd2 = { step: 'verifyStopped', node: 'ucd2' } as const;
      const began = await peer.waitFor('began', (m): m is Extract<typeof m, { ev: 'began' }> => m.ev === 'began', peer.send({ cmd: 'begin', target: ucd2, kind: 'check' }));

      wb = await Workbench.open(browser, server, folder);
      await wb.openView('UCD Upgrade');
      await wb.waitForTopLevelRows(STEPS.length);
      const message = await waitUntil('the read-only message naming the owner', () => wb!.viewMessage(), (m) => m.includes(`pid ${peer.pid}`), wb);
      assert.match(message, /^Read-only: this run is owned by .+@.+ \(pid \d+, since .+\)\. This view follows it live/);
      const step = stepLabel('verifyStopped');
      await wb.expand(step);
      await waitUntil('ucd2 shown running', () => wb!.childDescription(step, 'ucd2'), (d) => d.startsWith('running'), wb);
      assert.ok(!fs.readFileSync(journal, 'utf8').includes('"interrupted"'), 'the window marked nothing interrupted');
      // No action is offered on a followed run: hovering a node shows no inline buttons.
      const row = await wb.childRow(step, 'ucd3');
      await row.hover();
      assert.equal(await row.locator('.actions .action-label').count(), 0, 'no inline action on a read-only run');

      peer.send({ cmd: 'finish', id: began.id, target: ucd2, kind: 'check', verdict: 'passed' });
      await waitUntil('the owner\'s result, live', () => wb!.childDescription(step, 'ucd2'), (d) => d.startsWith('passed'), wb);

      const ucd3 = { step: 'verifyStopped', node: 'ucd3' } as const;
      await peer.waitFor('began 2', (m) => m.ev === 'began', peer.send({ cmd: 'begin', target: ucd3, kind: 'check' }));
      await waitUntil('ucd3 shown running', () => wb!.childDescription(step, 'ucd3'), (d) => d.startsWith('running'), wb);
      await peer.kill('SIGKILL');

      await waitUntil('the read-only message gone after the takeover', () => wb!.viewMessage(), (m) => m === '', wb);
      await waitUntil('ucd3 marked interrupted', () => wb!.childDescription(step, 'ucd3'), (d) => d.startsWith('interrupted'), wb);
      const owned3 = await wb.childRow(step, 'ucd3');
      await owned3.hover();
      assert.ok((await owned3.locator('.actions .action-label').count()) > 0, 'the new owner is offered actions (so the count above could fail)');
      const interrupted = fs.readFileSync(journal, 'utf8').split('\n').filter((l) => l.includes('"interrupted"'));
      assert.equal(interrupted.length, 1, interrupted.join('\n'));
      assert.match(interrupted[0], /"node":"ucd3"/);
    } catch (e) {
      await wb?.screenshot(path.join(REPO_ROOT, 'test-results', 'e2e', 'owner-follower.png')).catch(() => undefined);
      throw e;
    } finally {
      await peer.close();
      await wb?.close().catch(() => undefined);
    }
  });
});
