// Progress as a person reads it (issue 13 item 3): the installer's phase from its own output, a
// wait's countdown, the upload's line, the board the editor shows, the printer's pace, and the
// runner handing every step a reporter bound to its target.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadCluster } from '../../src/core/cluster/load';
import { InstallerPhases, installerPhaseText, liveProgress, ProgressBoard, ProgressPace, span, uploadText, waitingText } from '../../src/core/runbook/progress';
import { finding } from '../../src/core/runbook/actions';
import { Runner } from '../../src/core/runbook/runner';
import { RunSession } from '../../src/core/runbook/session';
import { UploadMeter } from '../../src/core/steps/uploadProgress';
import type { Target } from '../../src/core/journal/events';
import { VALID_CLUSTER } from '../fixtures/clusters';
import { tableOf } from '../fixtures/handlers';
import { converse, FIRST_NODE, OTHER_NODE } from '../fixtures/installer/transcripts';

const OPTIONS = (() => {
  const r = loadCluster(VALID_CLUSTER);
  if (!r.ok) throw new Error('fixture');
  const node = r.cluster.nodes[0];
  return { cluster: r.cluster, node, mode: 'guided' as const, quietMs: 3000, notice: { kind: 'answer' as const, note: 'NOTICE acknowledged: proven in this run' } };
})();

/** The phases a conversation goes through, as the progress line shows them, each once in order. */
function phases(turns: Parameters<typeof converse>[0]): string[] {
  const conv = converse(turns, OPTIONS);
  const out: string[] = [];
  for (const e of conv.events) {
    const t = installerPhaseText(e);
    if (t !== undefined && out.at(-1) !== t) out.push(t);
  }
  return out;
}

describe('the installer\'s phase, from its output', () => {
  test('the first node: each prompt answered, the files laid, the schema upgrade', () => {
    assert.deepEqual(phases(FIRST_NODE), [
      'installer: answered the server to upgrade (/opt/ucd/server)',
      'installer: answered the install directory (/opt/ucd/server)',
      'installer: answered the upgrade question (Y)',
      'installer: answered the NOTICE',
      'installer: laying the new files',
      'installer: upgrading the database schema (stopping now would leave it half-upgraded)',
    ]);
  });

  test('another node says it has no schema to upgrade; a plain line says nothing new', () => {
    const p = phases(OTHER_NODE);
    assert.ok(p.includes('installer: no database upgrade on this node'), p.join('\n'));
    assert.ok(!p.some((x) => /schema/.test(x)), p.join('\n'));
    assert.equal(installerPhaseText({ type: 'progress', line: 'Created dir: /opt/ucd/server/var/temp' }), undefined);
    assert.equal(installerPhaseText({ type: 'progress', line: '[copy] Copying 1289 files to /opt/ucd/server/lib' }), 'installer: laying the new files');
  });

  test('the end, a refusal and a question only a person may answer are said as such', () => {
    const conv = converse(FIRST_NODE, OPTIONS);
    conv.driver.end(0);
    const done = conv.events.find((e) => e.type === 'done');
    assert.ok(done);
    assert.equal(installerPhaseText(done), 'installer: finished (BUILD SUCCESSFUL)');
    assert.equal(installerPhaseText({ type: 'done', success: false, exitCode: 0, message: 'BUILD FAILED' }), 'installer: ended without success — BUILD FAILED');
    assert.match(installerPhaseText({ type: 'refusal', kind: 'pidFile', source: 'installer', line: 'x', message: 'Found pid file at /opt/ucd/server/var/server.pid', hint: 'h', installerWaiting: false }) ?? '', /^installer: refused — Found pid file/);
    assert.equal(installerPhaseText({ type: 'confirm', prompt: 'notice', question: 'q', detail: 'd' }), 'installer: waiting for your answer at the NOTICE');
  });
});

describe('a wait\'s countdown', () => {
  test('"waiting for the login page on ucd1: 35 s of 10 min"', () => {
    assert.equal(waitingText('the login page', 'ucd1', 35_000, 600_000), 'waiting for the login page on ucd1: 35 s of 10 min');
    assert.equal(waitingText('port 8443', 'ucd2', 125_400, 600_000), 'waiting for port 8443 on ucd2: 2 min 5 s of 10 min');
    assert.equal(waitingText('the login page', 'ucd1', 700_000, 600_000), 'waiting for the login page on ucd1: 10 min of 10 min', 'never more than the limit');
    assert.equal(span(0), '0 s');
    assert.equal(span(119_000), '119 s');
    assert.equal(span(90 * 60_000), '90 min');
  });
});

describe('the upload\'s line', () => {
  test('percent, rate and time left while it runs; the total time at the end', () => {
    let t = 0;
    const meter = new UploadMeter(10 * 1024 * 1024, () => t);
    t = 2_000;
    assert.equal(uploadText(meter.update(4 * 1024 * 1024).progress), 'uploading: 40% (4.0 MiB of 10.0 MiB) at 2.0 MiB/s, about 3 s left');
    t = 5_000;
    assert.equal(uploadText(meter.update(10 * 1024 * 1024).progress), 'uploaded: 100% (10.0 MiB of 10.0 MiB) at 2.0 MiB/s in 5 s');
  });
});

describe('the progress board', () => {
  test('keeps the latest word per step and node, says it in one line, and forgets a target once cleared', () => {
    const b = new ProgressBoard();
    let changes = 0;
    b.onDidChange(() => changes++);
    b.report('package', 'ucd1', 'uploading: 10%');
    b.report('package', 'ucd2', 'uploading: 20%');
    b.report('package', 'ucd1', 'uploading: 30%');
    b.report('package', 'ucd1', 'uploading: 30%');
    b.report('startFirst', 'ucd1', 'waiting for the login page on ucd1: 5 s of 10 min');
    assert.equal(changes, 4, 'the same text again is no change');
    assert.equal(b.summary({ step: 'package' }), 'ucd1: uploading: 30%; ucd2: uploading: 20%');
    assert.equal(b.summary({ step: 'package', node: 'ucd2' }), 'ucd2: uploading: 20%');
    b.clear({ step: 'package', node: 'ucd1' });
    assert.equal(b.summary({ step: 'package' }), 'ucd2: uploading: 20%');
    b.clear({ step: 'package' });
    assert.equal(b.summary({ step: 'package' }), '');
    assert.equal(b.text('startFirst', 'ucd1'), 'waiting for the login page on ucd1: 5 s of 10 min', 'another step is untouched');
  });

  test('a running node row shows its progress; a finished one keeps its own words', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ucd-progress-'));
    const s = RunSession.open(OPTIONS.cluster, dir);
    try {
      s.begin({ step: 'package', node: 'ucd1' }, 'run');
      const b = new ProgressBoard();
      b.report('package', 'ucd1', 'uploading: 37% (12.0 MiB of 32.4 MiB) at 4.1 MiB/s, about 5 s left');
      b.report('package', 'ucd2', 'uploading: 50%');
      const step = liveProgress(s.view(), b).find((v) => v.def.id === 'package')!;
      assert.equal(step.nodes.find((n) => n.node === 'ucd1')!.detail, 'uploading: 37% (12.0 MiB of 32.4 MiB) at 4.1 MiB/s, about 5 s left');
      const ucd2 = step.nodes.find((n) => n.node === 'ucd2')!;
      assert.notEqual(ucd2.state, 'running');
      assert.doesNotMatch(ucd2.detail, /uploading/, 'ucd2 is not running: no progress on its row');
    } finally {
      s.dispose();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('the command line\'s pace', () => {
  test('a new phase at once; the same phase with new numbers only every few seconds', () => {
    let t = 0;
    const p = new ProgressPace(5_000, () => t);
    assert.equal(p.due('ucd1', 'uploading: 10% (1.0 MiB of 10.0 MiB)'), true);
    t = 1_000;
    assert.equal(p.due('ucd1', 'uploading: 20% (2.0 MiB of 10.0 MiB)'), false);
    assert.equal(p.due('ucd2', 'uploading: 20% (2.0 MiB of 10.0 MiB)'), true, 'each node on its own');
    assert.equal(p.due('ucd1', 'extracting the package on ucd1'), true, 'another phase');
    t = 7_000;
    assert.equal(p.due('ucd1', 'extracting the package on ucd1'), false, 'the same words are not printed twice');
    assert.equal(p.due('ucd2', 'uploading: 90% (9.0 MiB of 10.0 MiB)'), true);
  });
});

test('the runner gives each handler a reporter bound to its step and the node named', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ucd-progress-runner-'));
  const s = RunSession.open(OPTIONS.cluster, dir);
  const seen: [Required<Target>, string][] = [];
  try {
    const runner = new Runner(s, {
      log: { info: () => undefined, warn: () => undefined, error: () => undefined },
      progress: (t, text) => seen.push([t, text]),
      handlers: tableOf({
        package: {
          check: async (ctx) => {
            assert.ok(ctx.progress, 'the handler has a reporter');
            ctx.progress('ucd2', 'sha256 of the archive on ucd2');
            await ctx.act({ step: 'package', node: 'ucd2' }, 'check', async () => finding('passed', ['ok']));
          },
        },
      }),
    });
    assert.deepEqual(await runner.check({ step: 'package', node: 'ucd2' }), { kind: 'done' });
    assert.deepEqual(seen, [[{ step: 'package', node: 'ucd2' }, 'sha256 of the archive on ucd2']]);
  } finally {
    s.dispose();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

describe('one installer\'s phases never go back', () => {
  test('the files of a chunk before its schema line: the schema is then said as done', () => {
    const p = new InstallerPhases();
    assert.equal(p.next({ type: 'answer', prompt: 'notice', value: '', text: '\r', note: 'n', shown: {} }), 'installer: answered the NOTICE');
    assert.equal(p.next({ type: 'progress', line: '[copy] Copying the HCL UrbanCode Deploy 7.1.2.0 files to /opt/ucd/server' }), 'installer: laying the new files');
    assert.equal(p.next({ type: 'info', kind: 'databaseUpgrades', line: 'Found database upgrades, cancelling currently running processes' }), 'installer: database schema upgraded by this node; laying the new files');
    assert.equal(p.next({ type: 'answer', prompt: 'notice', value: '', text: '\r', note: 'n', shown: {} }), undefined, 'nothing older after the files');
    assert.equal(p.next({ type: 'done', success: true, exitCode: 0, message: 'BUILD SUCCESSFUL' }), 'installer: finished (BUILD SUCCESSFUL)');
  });

  test('in separate chunks the schema upgrade is said while it runs', () => {
    const p = new InstallerPhases();
    assert.equal(p.next({ type: 'info', kind: 'databaseUpgrades', line: 'Found database upgrades, cancelling currently running processes' }), 'installer: upgrading the database schema (stopping now would leave it half-upgraded)');
    assert.equal(p.next({ type: 'progress', line: '[echo] Upgraded the database schema from 7.0.5.0 to 7.1.2.0.' }), undefined);
    assert.equal(p.next({ type: 'progress', line: '[copy] Copying the HCL UrbanCode Deploy 7.1.2.0 files to /opt/ucd/server' }), 'installer: laying the new files');
  });
});
