// Issue 10, item 3, on a real cluster through the core's runner: an action cut off from this window
// (the window closing or reloading, or the SSH connection to its node dropped) is recorded as
// interrupted, in plain words and with what to do next, never as failed with the SSH library's
// words; the report lists it among its warnings, refusals and interruptions. The action here is step 1's backup command, run
// over SSH on the node, made to last until it is cut off.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadCluster } from '../../src/core/cluster/load';
import { parseJournal } from '../../src/core/journal/journal';
import { renderReport } from '../../src/core/journal/report';
import type { ActionLog } from '../../src/core/runbook/actions';
import { WindowClosing } from '../../src/core/runbook/cutOff';
import { Runner } from '../../src/core/runbook/runner';
import { RunSession } from '../../src/core/runbook/session';
import { HostKeyPolicy } from '../../src/core/remote/hostKeys';
import { LocalTransport } from '../../src/core/remote/local';
import { SshPool, targetFromNode } from '../../src/core/remote/ssh';
import { backupHandlers } from '../../src/core/steps/backup';
import { clusterPrerequisites, startCluster, type TestCluster } from './harness';
import { tableOf } from '../fixtures/handlers';

const skip = clusterPrerequisites();

describe('an action cut off from the window is interrupted, not failed, on a real cluster', { skip, concurrency: 1 }, () => {
  let tc: TestCluster;
  before(async () => {
    tc = await startCluster({ nodes: 1 });
  });
  after(async () => {
    await tc?.stop();
  });

  /** A window: its own pool, session and runner; step 1's command writes `marker` on ucd1, then waits. */
  function openWindow(marker: string) {
    const ws = fs.mkdtempSync(path.join(os.tmpdir(), 'ucd-interrupted-'));
    const file = JSON.parse(tc.clusterFile()) as Record<string, unknown>;
    const artifact = `${tc.homeDir}/never-${path.basename(marker)}.sql`;
    file.database = { type: 'mysql', backup: { node: tc.nodes[0].name, command: `echo started > ${marker} && sleep 600 && echo done > ${artifact}`, artifact } };
    const r = loadCluster(JSON.stringify(file));
    if (!r.ok) throw new Error(JSON.stringify(r.problems));
    const pool = new SshPool({
      hostKeys: new HostKeyPolicy({ knownHostsFiles: [tc.knownHostsFile], globalKnownHostsFiles: [], storeFile: path.join(ws, 'known_hosts'), prompt: async () => 'cancel' }),
      sshConfigFile: null,
      agentSocket: null,
    });
    const session = RunSession.open(r.cluster, ws);
    const lines: string[] = [];
    const log: ActionLog = { info: (m) => lines.push(m), warn: (m) => lines.push(m), error: (m) => lines.push(m) };
    const runner = new Runner(session, { log, handlers: tableOf({ backup: backupHandlers({ local: () => new LocalTransport(), transportFor: async (n) => pool.transport(targetFromNode(n)) }) }) });
    return { session, pool, runner, lines };
  }

  /** Waits, with one deadline, until the backup command runs on ucd1 (its marker is there). */
  async function commandRunning(marker: string, lines: string[]): Promise<void> {
    const deadline = Date.now() + 60_000;
    for (;;) {
      const r = await tc.inNode(tc.nodes[0].name, `test -f ${marker} && echo yes || true`);
      if (r.stdout.trim() === 'yes') return;
      if (Date.now() > deadline) assert.fail(`the backup command's marker ${marker} did not appear on ${tc.nodes[0].name} within 60 s\n${lines.slice(-10).join('\n')}`);
      await new Promise((res) => setTimeout(res, 200));
    }
  }

  function checkInterrupted(session: RunSession, lines: string[], cause: RegExp): string {
    const o = session.state().get('backup');
    assert.equal(o?.status, 'interrupted', `${JSON.stringify(o)}\n${lines.slice(-10).join('\n')}`);
    const reason = o.status === 'interrupted' ? o.reason ?? '' : '';
    assert.match(reason, cause);
    assert.match(reason, /so its end was not seen/);
    assert.match(reason, /Check this step to see where/);
    assert.doesNotMatch(reason, /Channel has been closed|No response from server|Not connected/, 'the record has plain words, not the library\'s');
    const events = parseJournal(fs.readFileSync(session.journalFile, 'utf8')).events;
    assert.ok(!events.some((e) => e.type === 'finished' && e.step === 'backup'), `no failure recorded: ${JSON.stringify(events.slice(-3))}`);
    const report = renderReport({ cluster: session.cluster, events, views: session.view(), readIssues: [], generatedAt: new Date(), operator: { user: 'u', machine: 'm' }, journalFile: path.basename(session.journalFile) });
    const at = report.indexOf('## Warnings, refusals and interruptions');
    assert.ok(at >= 0, 'the report has its warnings, refusals and interruptions section');
    const interruptions = report.slice(at, report.indexOf('\n## ', at + 1));
    assert.doesNotMatch(interruptions, /None\./, interruptions);
    assert.match(interruptions, /Back up the database/);
    return reason;
  }

  test('the window closes while the command runs on the node: interrupted, with what to do next', { timeout: 180_000 }, async () => {
    const marker = `${tc.homeDir}/started-${randomBytes(4).toString('hex')}`;
    const w = openWindow(marker);
    try {
      const closing = new AbortController();
      const result = w.runner.run({ step: 'backup' }, closing.signal);
      await commandRunning(marker, w.lines);
      // What the editor does on a reload: abort what runs with the window-closing reason, close the pool.
      closing.abort(new WindowClosing());
      await w.pool.closeAll();
      assert.deepEqual(await result, { kind: 'done' });
      checkInterrupted(w.session, w.lines, /^the window closed or reloaded while "Back up the database" was running, so its end was not seen/);
    } finally {
      w.session.dispose();
      await w.pool.closeAll();
    }
  });

  test('the SSH connection to the node drops while the command runs: interrupted, naming the lost connection', { timeout: 180_000 }, async () => {
    const marker = `${tc.homeDir}/started-${randomBytes(4).toString('hex')}`;
    const w = openWindow(marker);
    try {
      const result = w.runner.run({ step: 'backup' });
      await commandRunning(marker, w.lines);
      // The node's end of our connection goes away: its sshd session processes, found by their
      // established sockets on port 22 in the node's own namespaces, killed by pid.
      const node = tc.nodes[0].name;
      const found = await tc.inNode(node, `ss -Htnp state established '( sport = :${tc.nodes[0].sshPort} )' | grep -o 'pid=[0-9]*' | cut -d= -f2 | sort -u`);
      const pids = found.stdout.split('\n').map((s) => s.trim()).filter((s) => /^\d+$/.test(s));
      assert.ok(pids.length > 0, `no sshd process for our connection on ${node}: ${found.stdout}${found.stderr}`);
      const killed = await tc.inNode(node, `kill -9 ${pids.join(' ')}`);
      assert.equal(killed.code, 0, killed.stderr);
      assert.deepEqual(await result, { kind: 'done' });
      checkInterrupted(w.session, w.lines, /^the connection to (ucd1|a node) was lost while "Back up the database" was running/);
      assert.ok(w.lines.some((l) => /interrupted, not failed/.test(l)), 'the log keeps the library\'s words beside the plain ones');
    } finally {
      w.session.dispose();
      await w.pool.closeAll();
    }
  });
});
