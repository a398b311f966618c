import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadCluster } from '../../src/core/cluster/load';
import type { Cluster } from '../../src/core/cluster/types';
import { mdText, renderReport } from '../../src/core/journal/report';
import { RunSession } from '../../src/core/runbook/session';
import { VALID_CLUSTER, variant } from '../fixtures/clusters';

function cluster(text = VALID_CLUSTER): Cluster {
  const r = loadCluster(text);
  if (!r.ok) throw new Error('fixture');
  return r.cluster;
}

/** A clock that advances one minute per reading, so every event has its own time. */
function clock(startIso: string): () => number {
  let t = Date.parse(startIso);
  return () => (t += 60_000);
}

const SECRET = 'hunter2-db-pass';

function section(md: string, title: string): string {
  const start = md.indexOf(`## ${title}`);
  assert.ok(start >= 0, `section ${title}`);
  const next = md.indexOf('\n## ', start + 3);
  return md.slice(start, next < 0 ? undefined : next);
}

test('a run journal built through RunSession becomes a complete change record', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ucd-report-'));
  const c = cluster();
  const now = clock('2026-11-24T09:00:00Z');
  const s = RunSession.open(c, dir, () => [SECRET], now);

  const b = s.begin({ step: 'backup' }, 'run');
  s.finish(b, { step: 'backup' }, 'run', 'passed', ['/var/backups/ucd.sql, 52311 bytes, sha256:0123456789ab', 'modified 2026-11-24T09:01:30.000Z']);
  // A note that (wrongly) contains the DB password: the journal masks it, so the report cannot leak it.
  s.confirm({ step: 'processes' }, `Dashboard empty | checked with DBA (pw ${SECRET})`);
  for (const n of ['ucd1', 'ucd2']) {
    const id = s.begin({ step: 'package', node: n }, 'check');
    s.finish(id, { step: 'package', node: n }, 'check', 'passed', [`/tmp/ibm-ucd-install/install-server.sh present, version 7.1.2.0`]);
  }
  const w = s.begin({ step: 'package', node: 'ucd3' }, 'check');
  s.finish(w, { step: 'package', node: 'ucd3' }, 'check', 'warning', ['disk: 1.2 GiB free'], 'free space before the installer runs');
  s.skip({ step: 'stop', node: 'ucd3' }, 'node already powered off <by ops>');
  const f = s.begin({ step: 'stop', node: 'ucd1' }, 'run');
  s.finish(f, { step: 'stop', node: 'ucd1' }, 'run', 'failed', ['var/server.pid present (pid 4242)'], 'run step 5 to stop what is left');
  s.begin({ step: 'stop', node: 'ucd2' }, 'run');
  // The window closes here; reopening marks ucd2's stop as interrupted.
  const s2 = RunSession.open(c, dir, () => [SECRET], now);
  assert.equal(s2.interruptedOnOpen.length, 1);

  const md = renderReport({
    cluster: c, events: s2.journal.events, views: s2.view(), readIssues: s2.readIssues,
    generatedAt: '2026-11-24T12:00:00.000Z', operator: { user: 'jdoe', machine: 'laptop-7' }, journalFile: path.basename(s2.journalFile), timeZone: 'UTC',
  });
  fs.writeFileSync(path.join(dir, 'report.md'), md);

  assert.ok(!md.includes(SECRET), 'no secret in the report');
  assert.ok(!md.includes('mysqldump'), 'no command line from the cluster file');
  // Header.
  assert.match(md, /^# UCD HA upgrade: demo, 7\.0\.5\.0 → 7\.1\.2\.0$/m);
  assert.match(md, /^\| Nodes \| ucd1 \(10\.0\.0\.1, first node\), ucd2 \(10\.0\.0\.2\), ucd3 \(10\.0\.0\.3\) \|$/m);
  assert.match(md, /^\| Run started \| 2026-11-24 09:01:00 \+00:00 \|$/m);
  assert.match(md, /^\| Report by \| jdoe on laptop-7 \|$/m);
  assert.match(md, /^\| Outcome \| FAILED at step 4 \|$/m);
  // Steps table: final states.
  const steps = section(md, 'Steps');
  assert.match(steps, /^\| 1 \| Back up the database \| 1 \| passed \|/m);
  assert.match(steps, /^\| 2 \| Ensure no application or generic processes are running \| 2 \| confirmed manually \|/m);
  assert.match(steps, /^\| 3 \| Download and extract the installation package \| 3 \| passed with warning \| 2026-11-24 09:05:00 \+00:00 \| 2026-11-24 09:10:00 \+00:00 \| 5 min 0 s \(3 actions\) \| 3\/3 nodes extracted \|$/m);
  assert.match(steps, /^\| 4 \| Shut down the servers \| 4 \| FAILED \|/m);
  assert.match(steps, /^\| 6 \| Update network storage \(upgrades from before 6\.1\.1\.5\) \| 6 \| not needed \|/m);
  assert.equal(steps.split('\n').filter((l) => /^\| \d+ \|/.test(l)).length, 11, 'one row per step');
  // Per node, with evidence.
  const ucd1 = md.slice(md.indexOf('### ucd1'), md.indexOf('### ucd2'));
  assert.match(ucd1, /\| 4 \| Shut down the servers \| FAILED \| var/);
  assert.match(ucd1, /server.pid present \(pid 4242\)<br>next: run step 5 to stop what is left/);
  const ucd3 = md.slice(md.indexOf('### ucd3'), md.indexOf('## Skips'));
  assert.match(ucd3, /\| 4 \| Shut down the servers \| skipped \| skipped: node already powered off &lt;by ops&gt; \|/);
  assert.match(ucd3, /\| 3 \| Download and extract the installation package \| passed with warning \| disk: 1\.2 GiB free<br>next: free space/);
  assert.match(section(md, 'Cluster-wide results'), /\| Back up the database \| passed \| \/var\/backups\/ucd\.sql, 52311 bytes, sha256:0123456789ab<br>modified/);
  // Every skip and confirmation, with its words (table-safe).
  const manual = section(md, 'Skips and manual confirmations');
  assert.match(manual, /\| Ensure no application or generic processes are running \| confirmed manually \| Dashboard empty \\\| checked with DBA \(pw \\\*\\\*\\\*\) \|/);
  assert.match(manual, /\| Shut down the servers — ucd3 \| skipped \| node already powered off &lt;by ops&gt; \|/);
  // Warnings and interruptions.
  assert.match(section(md, 'Warnings'), /\| 2026-11-24 09:10:00 \+00:00 \| Download and extract the installation package — ucd3 \| check warning \| disk: 1\.2 GiB free; next: free space/);
  assert.match(section(md, 'Warnings'), /Shut down the servers — ucd1 \| run FAILED \| var\/server\.pid present \(pid 4242\); next: run step 5/);
  assert.match(section(md, 'Interrupted actions, and where they stand now'), /\| Shut down the servers — ucd2 \| INTERRUPTED \|/);
  assert.match(section(md, 'Warnings'), /Shut down the servers — ucd2 \| interrupted \| it was running when its window closed/);
  // Appendix: every event, in order.
  const appendix = section(md, 'Appendix: every journal event, in order');
  const rows = appendix.split('\n').filter((l) => /^\| \d+ \|/.test(l));
  assert.equal(rows.length, s2.journal.events.length);
  const times = rows.map((r) => r.split(' | ')[1]);
  assert.deepEqual(times, [...times].sort());
  assert.match(rows[0], /run opened: demo, 7\.0\.5\.0 → 7\.1\.2\.0, nodes ucd1, ucd2, ucd3/);
  assert.match(rows[2], /run passed in 60 s: \/var\/backups/);
  assert.match(rows.at(-1) ?? '', /Shut down the servers — ucd2 \| interrupted/);
});

test('a finished run reads as complete; a truncated journal line is listed as a warning', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ucd-report-'));
  const c = cluster(variant('"currentVersion": "7.0.5.0"', '"currentVersion": "6.1.0.0"'));
  const s = RunSession.open(c, dir, undefined, clock('2026-11-24T09:00:00Z'));
  fs.appendFileSync(s.journalFile, '{"type":"skipped","ts":"2026-11-2');
  const s2 = RunSession.open(c, dir, undefined, clock('2026-11-24T10:00:00Z'));
  for (const v of s2.view()) {
    if (v.def.scope === 'cluster') s2.confirm({ step: v.def.id }, `done by hand for step ${v.number}`);
    else for (const n of v.nodes) s2.confirm({ step: v.def.id, node: n.node }, `done on ${n.node}`);
  }
  // Words are not a finished upgrade: only a probe of every node on the target version is.
  const unverified = renderReport({ cluster: c, events: s2.journal.events, views: s2.view(), generatedAt: new Date('2026-11-24T11:00:00Z'), timeZone: 'UTC' });
  assert.match(unverified, /^\| Outcome \| not verified: every step is settled, but no probe has shown every node on 7\.1\.2\.0 \(step 11 is confirmed manually\) \|/m);
  for (const n of c.nodes) {
    const id = s2.begin({ step: 'verifyVersions', node: n.name }, 'check');
    s2.finish(id, { step: 'verifyVersions', node: n.name }, 'check', 'passed', ['login page v. 7.1.2.0', 'installed.version 7.1.2.0']);
  }
  const md = renderReport({ cluster: c, events: s2.journal.events, views: s2.view(), readIssues: s2.readIssues, generatedAt: new Date('2026-11-24T11:00:00Z'), timeZone: 'UTC' });
  assert.match(md, /^\| Outcome \| complete: a probe showed every node on 7\.1\.2\.0 at 2026-11-24 10:\d\d:\d\d \+00:00 \|/m);
  assert.ok(!/\| Report by \|/.test(md), 'no operator line when unknown');
  assert.match(md, /\| 6 \| Update network storage \(upgrades from before 6\.1\.1\.5\) \| 6 \| confirmed manually \|/);
  assert.match(section(md, 'Warnings'), /\| journal \| unreadable line \| line 2 was cut short/);
  assert.ok(!md.includes('Interrupted actions'), 'no interruption to list');
});

test('mdText keeps table cells intact and HTML inert', () => {
  assert.equal(mdText('a|b\nc <img src=x> `x` *y*'), 'a\\|b c &lt;img src=x&gt; \\`x\\` \\*y\\*');
});
