// The NOTICE (back up the database, no processes running) is acknowledged for the engineer only
// when this run's journal shows step 1 passed with a verified artifact and step 2 passed;
// otherwise the driver stops at it and asks, and "Stop Here" ends the installer before the upgrade.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Outcome } from '../../src/core/runbook/state';
import { noticeDecision } from '../../src/core/steps/installerNotice';
import { InstallerDriver, type InstallerEvent } from '../../src/core/ucd/installer/driver';
import type { NoticeDecision } from '../../src/core/ucd/installer/prompts';
import { summarizeEvents } from '../../src/core/ucd/installer/summary';
import { FakeClock } from '../fixtures/installer/clock';
import { ANT_START, COPYING, DIR_PROMPT, INSTALL_DIR_PROMPT, NOTICE, SCHEMA, SUCCESS, UPGRADE_PROMPT } from '../fixtures/installer/transcripts';

const AT = '2026-12-01T10:00:00.000Z';
const BACKUP_OK: Outcome = { status: 'passed', at: AT, kind: 'run', evidence: ['/var/backups/ucd.sql, 5120 bytes, sha256:0123456789ab', `modified ${AT}`] };
const PROCESSES_OK: Outcome = { status: 'passed', at: AT, kind: 'check', evidence: ['no application or generic process running'] };

function state(entries: Record<string, Outcome>): ReadonlyMap<string, Outcome> {
  return new Map(Object.entries(entries));
}

test('notice: acknowledged without asking only when step 1 and step 2 both passed in this run', () => {
  const d = noticeDecision(state({ backup: BACKUP_OK, processes: PROCESSES_OK }), 'ucd1');
  assert.equal(d.kind, 'answer');
  assert.match(d.kind === 'answer' ? d.note : '', /verified the backup \(step 1\) and that no process runs \(step 2\)/);
});

test('notice: each way a step falls short is named in the question to the engineer', () => {
  const cases: { backup?: Outcome; processes?: Outcome; question: RegExp; detail: RegExp[] }[] = [
    { processes: PROCESSES_OK, question: /without a verified backup\?/, detail: [/step 1, database backup: no result in this run/] },
    { backup: { status: 'skipped', at: AT, reason: 'the DBA takes it' }, processes: PROCESSES_OK, question: /a verified backup/, detail: [/skipped \("the DBA takes it"\), not proven/] },
    { backup: { status: 'confirmed', at: AT, note: 'dump is on the NAS' }, processes: PROCESSES_OK, question: /a verified backup/, detail: [/confirmed by hand \("dump is on the NAS"\), not proven/] },
    // A backup without a checksum is a warning, not a verified artifact.
    { backup: { status: 'warning', at: AT, kind: 'run', evidence: ['/var/backups/ucd.sql, 5120 bytes, sha256:unavailable'] }, processes: PROCESSES_OK, question: /a verified backup/, detail: [/not fully proven \(.*sha256:unavailable/] },
    { backup: { status: 'failed', at: AT, kind: 'run', evidence: ['/var/backups/ucd.sql: not found on ucd1'] }, processes: PROCESSES_OK, question: /a verified backup/, detail: [/failed \(\/var\/backups\/ucd.sql: not found on ucd1\)/] },
    { backup: { status: 'interrupted', at: AT }, processes: PROCESSES_OK, question: /a verified backup/, detail: [/interrupted/] },
    { backup: BACKUP_OK, processes: { status: 'failed', at: AT, kind: 'check', evidence: ['JPetStore / Deploy (PROD) running'] }, question: /without a proof that no process runs\?/, detail: [/step 2, no running processes: failed \(JPetStore \/ Deploy/] },
    { question: /without a verified backup and a proof that no process runs\?/, detail: [/step 1, database backup: no result/, /step 2, no running processes: no result/] },
  ];
  for (const c of cases) {
    const d = noticeDecision(state({ ...(c.backup ? { backup: c.backup } : {}), ...(c.processes ? { processes: c.processes } : {}) }), 'ucd2');
    assert.equal(d.kind, 'ask', JSON.stringify(c));
    if (d.kind !== 'ask') continue;
    assert.match(d.question, /^Upgrade ucd2 /);
    assert.match(d.question, c.question);
    for (const r of c.detail) assert.match(d.detail, r);
    // What each button does is added by the editor's one destructive dialog, not repeated here.
    assert.doesNotMatch(d.detail, /Upgrade Anyway|Stop Here/);
  }
});

const CLUSTER = { currentVersion: '7.0.5.0', targetVersion: '7.1.2.0' };
const NODE = { name: 'ucd1', installDir: '/opt/ucd/server', os: 'linux' as const };
const UP_TO_NOTICE = DIR_PROMPT + ANT_START + INSTALL_DIR_PROMPT() + UPGRADE_PROMPT('7.0.5.0') + NOTICE;

function driveToNotice(notice?: NoticeDecision) {
  const clock = new FakeClock();
  const events: InstallerEvent[] = [];
  const d = new InstallerDriver({ cluster: CLUSTER, node: NODE, mode: 'guided', quietMs: 3000, clock, ...(notice ? { notice } : {}), onEvent: (e) => events.push(e) });
  // Line by line, as a pty delivers it: each prompt is the end of the output when it is read.
  for (const line of UP_TO_NOTICE.split(/(?<=\n)/)) d.feed(line);
  return { d, clock, events };
}

const answers = (events: readonly InstallerEvent[]) => events.filter((e) => e.type === 'answer').map((e) => (e.type === 'answer' ? e.prompt : ''));

test('driver: an unproven NOTICE is not answered; it asks and waits, and a long wait is not a hand-over', () => {
  const ask = noticeDecision(state({}), 'ucd1');
  const { d, clock, events } = driveToNotice(ask);
  assert.deepEqual(answers(events), ['upgradeDirectory', 'installDirectory', 'upgradeConfirm'], 'Enter is not pressed at the NOTICE');
  const asked = events.filter((e) => e.type === 'confirm');
  assert.equal(asked.length, 1);
  assert.equal(asked[0].type === 'confirm' && asked[0].question, ask.kind === 'ask' && ask.question);
  assert.equal(d.state, 'confirming');
  clock.advance(60_000);
  assert.deepEqual(events.filter((e) => e.type === 'unknownPrompt'), [], 'the engineer thinking is not an unknown prompt');
});

test('driver: "Stop Here" at the NOTICE is a refusal while the installer waits, so it is ended; the summary says refused', () => {
  const { d, events } = driveToNotice(noticeDecision(state({ processes: PROCESSES_OK }), 'ucd1'));
  d.resolveConfirm(false);
  const refusal = events.find((e) => e.type === 'refusal');
  assert.ok(refusal && refusal.type === 'refusal');
  assert.equal(refusal.kind, 'noticeDeclined');
  assert.equal(refusal.installerWaiting, true, 'the caller must end the installer, never press Enter');
  assert.match(refusal.message, /stopped at the NOTICE \("Stop Here"\); the upgrade did not begin/);
  assert.deepEqual(answers(events), ['upgradeDirectory', 'installDirectory', 'upgradeConfirm']);
  d.end(null);
  const o = summarizeEvents(d.events, CLUSTER.targetVersion);
  assert.equal(o.kind, 'refused');
  assert.equal(o.kind === 'refused' && o.refusal, 'noticeDeclined');
});

test('driver: "Upgrade Anyway" types Enter at the NOTICE and the upgrade goes on, noted as the engineer\'s answer', () => {
  const { d, events } = driveToNotice(noticeDecision(state({ backup: BACKUP_OK }), 'ucd1'));
  d.resolveConfirm(true);
  const a = events.filter((e) => e.type === 'answer').at(-1);
  assert.ok(a && a.type === 'answer');
  assert.equal(a.prompt, 'notice');
  assert.equal(a.text, '\r');
  assert.match(a.note, /by the engineer \("Upgrade Anyway"\)/);
  d.resolveConfirm(true); // a second answer types nothing more
  assert.equal(answers(events).length, 4);
  for (const chunk of [COPYING, SCHEMA, SUCCESS]) d.feed(chunk);
  d.end(0);
  const o = summarizeEvents(d.events, CLUSTER.targetVersion);
  assert.equal(o.kind, 'upgraded');
  assert.equal(o.kind === 'upgraded' && o.schemaUpgraded, true);
});

test('driver: proven in this run, the NOTICE is answered at once with the reason', () => {
  const { d, events } = driveToNotice(noticeDecision(state({ backup: BACKUP_OK, processes: PROCESSES_OK }), 'ucd1'));
  assert.deepEqual(answers(events), ['upgradeDirectory', 'installDirectory', 'upgradeConfirm', 'notice']);
  assert.equal(events.filter((e) => e.type === 'confirm').length, 0);
  assert.equal(d.state, 'driving');
});

test('driver: told nothing about the NOTICE, it asks (the safe default)', () => {
  const { events } = driveToNotice();
  assert.deepEqual(answers(events), ['upgradeDirectory', 'installDirectory', 'upgradeConfirm']);
  assert.equal(events.filter((e) => e.type === 'confirm').length, 1);
});
