// What a person is told when an action ends (issue 13 item 3): a failed step names its nodes and
// what to do; a refusal names the nodes its reasons are about; the upgrade's end gives the total
// time and the outage window as the report computes them, once.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadCluster } from '../../src/core/cluster/load';
import type { Cluster } from '../../src/core/cluster/types';
import type { Target, Verdict } from '../../src/core/journal/events';
import { renderReport } from '../../src/core/journal/report';
import { completionNotice, failureNotice, refusalNotice } from '../../src/core/runbook/notices';
import { RunSession } from '../../src/core/runbook/session';
import { stepDef } from '../../src/core/runbook/steps';
import { VALID_CLUSTER } from '../fixtures/clusters';

function cluster(): Cluster {
  const r = loadCluster(VALID_CLUSTER);
  if (!r.ok) throw new Error('fixture');
  return r.cluster;
}

/** A run on a settable clock; `act` records one action from `start` to `end`. */
function run() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ucd-notices-'));
  let t = Date.parse('2026-11-24T09:00:00Z');
  const s = RunSession.open(cluster(), dir, undefined, () => t);
  const act = (target: Target, kind: 'run' | 'check', start: string, end: string, verdict: Verdict, evidence: string[], hint?: string) => {
    t = Date.parse(start);
    const id = s.begin(target, kind);
    t = Date.parse(end);
    s.finish(id, target, kind, verdict, evidence, hint);
  };
  return { s, act, done: () => (s.dispose(), fs.rmSync(dir, { recursive: true, force: true })) };
}

describe('a failed step', () => {
  test('names every node that failed, what each saw, and what to do next', () => {
    const r = run();
    try {
      r.act({ step: 'verifyStopped', node: 'ucd1' }, 'check', '2026-11-24T09:01:00Z', '2026-11-24T09:01:01Z', 'passed', ['no process']);
      const from = r.s.journal.events.length;
      r.act({ step: 'verifyStopped', node: 'ucd2' }, 'check', '2026-11-24T09:02:00Z', '2026-11-24T09:02:01Z', 'failed', ['pid 4242 listening on :8443', 'var/server.pid present'], 'Run step 4 on ucd2, then Check again.');
      r.act({ step: 'verifyStopped', node: 'ucd3' }, 'check', '2026-11-24T09:02:00Z', '2026-11-24T09:02:01Z', 'failed', ['pid 77 listening on :7918'], 'Run step 4 on ucd3, then Check again.');
      const n = failureNotice(r.s.journal.events, from, { step: 'verifyStopped' });
      assert.ok(n);
      assert.equal(n.severity, 'error');
      assert.deepEqual(n.nodes, ['ucd2', 'ucd3']);
      assert.equal(n.message, `Step 5 (${stepDef('verifyStopped').title}) failed on ucd2, ucd3. ucd2: Check failed: pid 4242 listening on :8443; ucd3: Check failed: pid 77 listening on :7918. Next: Run step 4 on ucd2, then Check again. Run step 4 on ucd3, then Check again.`);
      assert.equal(failureNotice(r.s.journal.events, from, { step: 'verifyStopped', node: 'ucd1' }), undefined, 'ucd1 passed: nothing to say about it');
    } finally {
      r.done();
    }
  });

  test('an earlier failure is not this action\'s, and a later pass of the same node supersedes it', () => {
    const r = run();
    try {
      r.act({ step: 'startFirst', node: 'ucd1' }, 'run', '2026-11-24T09:01:00Z', '2026-11-24T09:11:00Z', 'failed', ['not online after 600 s: login page: connection refused'], 'Look at var/log/deployserver.out.');
      const from = r.s.journal.events.length;
      assert.equal(failureNotice(r.s.journal.events, from, { step: 'startFirst' }), undefined);
      r.act({ step: 'startFirst', node: 'ucd1' }, 'check', '2026-11-24T09:12:00Z', '2026-11-24T09:12:01Z', 'failed', ['login page: connection refused']);
      r.act({ step: 'startFirst', node: 'ucd1' }, 'check', '2026-11-24T09:13:00Z', '2026-11-24T09:13:01Z', 'passed', ['login page v. 7.1.2.0']);
      assert.equal(failureNotice(r.s.journal.events, from, { step: 'startFirst' }), undefined);
    } finally {
      r.done();
    }
  });

  test('a cluster-wide step names no node and still says what to do', () => {
    const r = run();
    try {
      r.act({ step: 'processes' }, 'check', '2026-11-24T09:01:00Z', '2026-11-24T09:01:02Z', 'failed', ['application: JPetStore / Deploy (PROD) is running'], 'Wait for it to finish, or Run this step to cancel it.');
      const n = failureNotice(r.s.journal.events, 0, { step: 'processes' });
      assert.ok(n);
      assert.deepEqual(n.nodes, []);
      assert.ok(n.message.startsWith(`Step 2 (${stepDef('processes').title}) failed. Check failed: application: JPetStore`), n.message);
      assert.match(n.message, /Next: Wait for it to finish/);
    } finally {
      r.done();
    }
  });
});

test('a refusal names the nodes its reasons are about, and that nothing was done', () => {
  const c = cluster();
  const n = refusalNotice(c, { step: 'installFirst' }, 'run', ['ucd2: not proven stopped yet — run Check on step 5', 'ucd3: stopped-check is 12 min old (limit 5 min) — check again']);
  assert.equal(n.severity, 'warning');
  assert.deepEqual(n.nodes, ['ucd2', 'ucd3']);
  assert.equal(n.message, `Step 7 (${stepDef('installFirst').title}): Run refused, nothing was done. ucd2: not proven stopped yet — run Check on step 5; ucd3: stopped-check is 12 min old (limit 5 min) — check again.`);
  assert.deepEqual(refusalNotice(c, { step: 'startOthers', node: 'ucd3' }, 'run', ['Run of Restart the other nodes on ucd2 is still running']).nodes, ['ucd3'], 'the node asked about');
});

describe('the upgrade\'s end', () => {
  function upgrade(r: ReturnType<typeof run>): void {
    for (const n of ['ucd1', 'ucd2', 'ucd3']) r.act({ step: 'verifyStopped', node: n }, 'check', '2026-11-24T09:10:00Z', `2026-11-24T09:1${n.slice(-1)}:00Z`, 'passed', ['no process']);
    r.act({ step: 'installFirst', node: 'ucd1' }, 'run', '2026-11-24T09:14:00Z', '2026-11-24T09:20:00Z', 'passed', ['upgraded']);
    r.act({ step: 'startFirst', node: 'ucd1' }, 'run', '2026-11-24T09:20:00Z', '2026-11-24T09:25:30Z', 'passed', ['login page v. 7.1.2.0']);
  }

  test('once every node is verified: the total time and the outage window, as the report has them', () => {
    const r = run();
    try {
      r.act({ step: 'backup' }, 'run', '2026-11-24T09:01:00Z', '2026-11-24T09:02:00Z', 'passed', ['dump']);
      upgrade(r);
      const from = r.s.journal.events.length;
      for (const n of ['ucd1', 'ucd2']) r.act({ step: 'verifyVersions', node: n }, 'check', '2026-11-24T09:40:00Z', '2026-11-24T09:40:05Z', 'passed', ['v. 7.1.2.0']);
      assert.equal(completionNotice(r.s.journal.events, from, r.s.cluster, 'UTC'), undefined, 'ucd3 is not verified yet');
      r.act({ step: 'verifyVersions', node: 'ucd3' }, 'check', '2026-11-24T09:40:00Z', '2026-11-24T09:41:00Z', 'passed', ['v. 7.1.2.0']);
      const n = completionNotice(r.s.journal.events, from, r.s.cluster, 'UTC');
      assert.ok(n);
      assert.equal(n.severity, 'info');
      assert.equal(n.message, 'Upgrade complete: every node of demo is on 7.1.2.0; total time 40 min 0 s (2026-11-24 09:01:00 +00:00 → 2026-11-24 09:41:00 +00:00); outage 12 min 30 s (2026-11-24 09:13:00 +00:00 → 2026-11-24 09:25:30 +00:00, until ucd1 was back online). Export Run Report for the change record.');
      // The same numbers as the change record's.
      const md = renderReport({ cluster: r.s.cluster, events: r.s.journal.events, views: r.s.view(), generatedAt: new Date(), timeZone: 'UTC' });
      assert.match(md, /^\| Total time \| 40 min 0 s /m);
      assert.match(md, /^\| Outage \| 12 min 30 s: /m);
      // Said once: a later Check of a complete run says nothing again.
      const later = r.s.journal.events.length;
      r.act({ step: 'verifyVersions' }, 'check', '2026-11-24T10:00:00Z', '2026-11-24T10:00:05Z', 'passed', ['v. 7.1.2.0']);
      assert.equal(completionNotice(r.s.journal.events, later, r.s.cluster, 'UTC'), undefined);
    } finally {
      r.done();
    }
  });
});
