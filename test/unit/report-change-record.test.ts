// The report as a change record (issue 13): every decision with who made it, each step's start, end
// and duration, the total and the outage window, all in one local time zone with its offset; what
// was shown as a warning, a refusal or an interruption; a superseded confirmation said so.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadCluster } from '../../src/core/cluster/load';
import type { Cluster } from '../../src/core/cluster/types';
import type { JournalEvent } from '../../src/core/journal/events';
import { localTime } from '../../src/core/journal/localTime';
import { outageWindow, renderReport, stepTimings } from '../../src/core/journal/report';
import { RunSession } from '../../src/core/runbook/session';
import { VALID_CLUSTER } from '../fixtures/clusters';

function cluster(): Cluster {
  const r = loadCluster(VALID_CLUSTER);
  if (!r.ok) throw new Error('fixture');
  return r.cluster;
}

/** A settable clock: each event at the time the test says. */
function clock(startIso: string): { now: () => number; at(iso: string): void } {
  let t = Date.parse(startIso);
  return { now: () => t, at: (iso) => void (t = Date.parse(iso)) };
}

function section(md: string, title: string): string {
  const start = md.indexOf(`\n## ${title}`);
  assert.ok(start >= 0, `section ${title}`);
  const next = md.indexOf('\n## ', start + 4);
  return md.slice(start, next < 0 ? undefined : next);
}

const DEPLOY = 'application: JPetStore / Deploy (PROD), started 2026-11-24T08:50:00.000Z, by admin, EXECUTING';
const LB_FP = 'AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89';
const HOST_FP = 'SHA256:Zm9vYmFyYmF6cXV4cXV1eGZvb2JhcmJhenF1eHF1dXg';
const JAVA = '/usr/lib/jvm/java-17/bin/java -cp /opt/ibm-ucd/server/lib/* com.urbancode.ds.UDeployServer';

function upgradeRun(): { c: Cluster; s: RunSession; dir: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ucd-report-cr-'));
  const c = cluster();
  const t = clock('2026-11-24T09:00:00Z');
  const s = RunSession.open(c, dir, undefined, t.now);
  const act = (iso: string, step: Parameters<RunSession['begin']>[0], endIso: string, verdict: 'passed' | 'failed' | 'warning', evidence: string[], hint?: string) => {
    t.at(iso);
    const id = s.begin(step, 'run');
    t.at(endIso);
    s.finish(id, step, 'run', verdict, evidence, hint);
  };
  act('2026-11-24T09:01:00Z', { step: 'backup' }, '2026-11-24T09:02:30Z', 'passed', ['/var/backups/ucd.sql, 52311 bytes']);
  t.at('2026-11-24T09:03:00Z');
  s.decided({ kind: 'tls-certificate', endpoint: 'ucd.example.com:443', fingerprint: LB_FP, subject: 'CN=ucd.example.com', remembered: true });
  t.at('2026-11-24T09:03:10Z');
  const p = s.begin({ step: 'processes' }, 'run');
  t.at('2026-11-24T09:03:40Z');
  s.decided({ kind: 'cancel-processes', processes: [DEPLOY] }, { step: 'processes' });
  t.at('2026-11-24T09:04:00Z');
  s.finish(p, { step: 'processes' }, 'run', 'passed', ['no application or generic process running']);
  // A confirmation by hand that a later check overrides: it must not read as still in force.
  t.at('2026-11-24T09:05:00Z');
  s.confirm({ step: 'package', node: 'ucd3' }, 'copied the zip by hand');
  for (const n of ['ucd1', 'ucd2', 'ucd3']) act('2026-11-24T09:06:00Z', { step: 'package', node: n }, '2026-11-24T09:09:00Z', 'passed', ['install-server.sh present']);
  t.at('2026-11-24T09:09:30Z');
  s.refused({ step: 'installFirst' }, 'run', ['ucd2 is not proven stopped: run Check on step 5']);
  t.at('2026-11-24T09:10:00Z');
  s.decided({ kind: 'host-key', node: 'ucd2', endpoint: '10.0.0.2:22', keyType: 'ssh-ed25519', fingerprint: HOST_FP, remembered: false });
  act('2026-11-24T09:10:00Z', { step: 'stop', node: 'ucd1' }, '2026-11-24T09:11:00Z', 'passed', ['stopped']);
  act('2026-11-24T09:10:00Z', { step: 'stop', node: 'ucd3' }, '2026-11-24T09:12:00Z', 'passed', ['stopped']);
  act('2026-11-24T09:10:00Z', { step: 'stop', node: 'ucd2' }, '2026-11-24T09:11:30Z', 'failed', ['pid 4242 still runs'], 'run step 5');
  t.at('2026-11-24T09:13:00Z');
  s.decided({ kind: 'kill', node: 'ucd2', processes: [{ pid: 4242, command: JAVA }] }, { step: 'verifyStopped', node: 'ucd2' });
  act('2026-11-24T09:13:00Z', { step: 'verifyStopped', node: 'ucd2' }, '2026-11-24T09:14:00Z', 'passed', ['pid 4242 killed']);
  for (const n of ['ucd1', 'ucd3']) act('2026-11-24T09:14:00Z', { step: 'verifyStopped', node: n }, '2026-11-24T09:14:10Z', 'passed', ['nothing running']);
  act('2026-11-24T09:15:00Z', { step: 'installFirst', node: 'ucd1' }, '2026-11-24T09:25:00Z', 'passed', ['installed.version 7.1.2.0']);
  act('2026-11-24T09:26:00Z', { step: 'startFirst', node: 'ucd1' }, '2026-11-24T09:30:40Z', 'passed', ['login page v. 7.1.2.0']);
  return { c, s, dir };
}

test('the report lists every decision with who made it: the cancelled deployment, each fingerprint, the kill', () => {
  const { c, s } = upgradeRun();
  const md = renderReport({ cluster: c, events: s.journal.events, views: s.view(), generatedAt: '2026-11-24T10:00:00Z', timeZone: 'Europe/Berlin' });
  const who = `${os.userInfo().username}@${os.hostname()}`.replace(/([\\|`*_[\]])/g, '\\$1');
  const d = section(md, 'Decisions');
  const rows = d.split('\n').filter((l) => /^\| 2026/.test(l));
  assert.equal(rows.length, 4, d);
  assert.ok(rows.every((r) => r.includes(`| ${who} |`)), `each decision names ${who}:\n${d}`);
  assert.match(d, /\| 2026-11-24 10:03:40 \+01:00 \| .* \| Ensure no application or generic processes are running \| cancelled in UCD: application: JPetStore \/ Deploy \(PROD\), started/);
  assert.ok(d.includes(`accepted the TLS certificate of ucd.example.com:443: SHA-256 ${LB_FP}`), d);
  assert.ok(d.includes(`accepted the SSH host key of ucd2 (10.0.0.2:22): ssh-ed25519 ${HOST_FP.replace(/_/g, '\\_')}, for that connection only`), d);
  assert.match(d, /Ensure each server is stopped — ucd2 \| kill on ucd2: pid 4242 \(\/usr\/lib\/jvm\/java-17\/bin\/java -cp \/opt\/ibm-ucd\/server\/lib\/\\\* com\.urbancode\.ds\.UDeployServer\)/);
  // The audit trail names the decision too.
  assert.match(section(md, 'Appendix: every journal event, in order'), /decided by .*: cancelled in UCD: application: JPetStore/);
});

test('the report gives each step\'s start, end and duration, the total and the outage window, in one zone', () => {
  const { c, s } = upgradeRun();
  const md = renderReport({ cluster: c, events: s.journal.events, views: s.view(), generatedAt: '2026-11-24T10:00:00Z', timeZone: 'Europe/Berlin' });
  // Every time is local with its offset: no UTC "Z" time anywhere.
  assert.doesNotMatch(md.split(DEPLOY).join(''), /\d{4}-\d\d-\d\dT\d\d:\d\d/, 'no ISO UTC time in the report (but in what UCD said about its process)');
  assert.match(md, /^\| Times \| local time, Europe\/Berlin/m);
  const steps = section(md, 'Steps');
  assert.match(steps, /^\| 1 \| Back up the database \| 1 \| passed \| 2026-11-24 10:01:00 \+01:00 \| 2026-11-24 10:02:30 \+01:00 \| 90 s \|/m);
  assert.match(steps, /^\| 4 \| Shut down the servers \| 4 \| FAILED \| 2026-11-24 10:10:00 \+01:00 \| 2026-11-24 10:12:00 \+01:00 \| 2 min 0 s \(3 actions\) \|/m);
  assert.match(steps, /^\| 8 \| Restart the first node \| 10 \| passed \| 2026-11-24 10:26:00 \+01:00 \| 2026-11-24 10:30:40 \+01:00 \| 4 min 40 s \|/m);
  assert.match(steps, /^\| 11 \| .* \| — \| — \| — \|/m);
  assert.match(md, /^\| Total time \| 29 min 40 s \(2026-11-24 10:01:00 \+01:00 → 2026-11-24 10:30:40 \+01:00\) \|$/m);
  // All down once ucd2 was proven stopped (step 5, 09:14 UTC; ucd1 and ucd3 went down earlier), until ucd1 was back.
  assert.match(md, /^\| Outage \| 16 min 40 s: 2026-11-24 10:14:00 \+01:00 → 2026-11-24 10:30:40 \+01:00 \(every server down once ucd2 was proven stopped, until ucd1 was back online at 7\.1\.2\.0\) \|$/m);
});

test('warnings, refusals and failures appear as they were shown; a superseded confirmation says so', () => {
  const { c, s } = upgradeRun();
  const md = renderReport({ cluster: c, events: s.journal.events, views: s.view(), generatedAt: '2026-11-24T10:00:00Z', timeZone: 'Europe/Berlin' });
  const w = section(md, 'Warnings, refusals and interruptions');
  assert.doesNotMatch(w, /No warning/);
  assert.match(w, /\| 2026-11-24 10:09:30 \+01:00 \| Run the installer on the first node \| Run refused \| ucd2 is not proven stopped: run Check on step 5 \|/);
  assert.match(w, /\| 2026-11-24 10:11:30 \+01:00 \| Shut down the servers — ucd2 \| run FAILED \| pid 4242 still runs; next: run step 5 \|/);
  const m = section(md, 'Skips and manual confirmations');
  assert.match(m, /\| Download and extract the installation package — ucd3 \| confirmed manually \| copied the zip by hand \| SUPERSEDED by run passed at 2026-11-24 10:09:00 \+01:00 \|/);
});

test('a run with nothing done yet says so in words, and lists the open warning', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ucd-report-cr-'));
  const c = cluster();
  const s = RunSession.open(c, dir, undefined, () => Date.parse('2026-07-01T12:00:00Z'));
  const md = renderReport({ cluster: c, events: s.journal.events, views: s.view(), generatedAt: '2026-07-01T12:00:00Z', timeZone: 'Europe/Berlin' });
  // Summer time: the offset follows the date.
  assert.match(md, /^\| Run started \| 2026-07-01 14:00:00 \+02:00 \|$/m);
  // The only thing shown so far is the open warning before the installer, and it is listed.
  assert.match(section(md, 'Warnings, refusals and interruptions'), /\| now \| step 7 \| open warning \| no database backup recorded/);
  assert.match(section(md, 'Decisions'), /No cancellation, kill, accepted host key or certificate/);
  assert.match(md, /^\| Outage \| no outage recorded: ucd1, ucd2, ucd3 were never proven stopped \|$/m);
  assert.match(md, /^\| Total time \| no step was run \|$/m);
});

test('the outage is ongoing until a server is back; step timings stay open while an action runs', () => {
  const ev = (e: Record<string, unknown>) => e as unknown as JournalEvent;
  const events: JournalEvent[] = [
    ev({ type: 'started', ts: '2026-11-24T09:00:00.000Z', id: 'a', kind: 'run', step: 'stop', node: 'n1' }),
    ev({ type: 'finished', ts: '2026-11-24T09:01:00.000Z', id: 'a', kind: 'run', verdict: 'passed', evidence: [], step: 'stop', node: 'n1' }),
    ev({ type: 'started', ts: '2026-11-24T09:00:00.000Z', id: 'b', kind: 'check', step: 'verifyStopped', node: 'n2' }),
    ev({ type: 'finished', ts: '2026-11-24T09:02:00.000Z', id: 'b', kind: 'check', verdict: 'passed', evidence: [], step: 'verifyStopped', node: 'n2' }),
    ev({ type: 'started', ts: '2026-11-24T09:03:00.000Z', id: 'c', kind: 'run', step: 'startFirst', node: 'n1' }),
  ];
  assert.deepEqual(outageWindow(events, ['n1', 'n2']), { kind: 'ongoing', since: '2026-11-24T09:02:00.000Z', lastDown: 'n2' });
  assert.deepEqual(outageWindow(events, ['n1', 'n2', 'n3']), { kind: 'none', why: 'no outage recorded: n3 was never proven stopped' });
  const start = stepTimings(events).find((t) => t.step === 'startFirst');
  assert.deepEqual(start, { step: 'startFirst', start: '2026-11-24T09:03:00.000Z', actions: 1 });
  assert.equal(localTime('2026-11-24T09:03:00.000Z', 'America/New_York'), '2026-11-24 04:03:00 -05:00');
  assert.equal(localTime('2026-11-24T09:03:00.000Z', 'UTC'), '2026-11-24 09:03:00 +00:00');
});
