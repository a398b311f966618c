// The runner is the one way into the runbook: these tests drive it with handlers that record what
// they were asked to do into the real journal, as the core's handlers do, and read the journal back.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadCluster } from '../../src/core/cluster/load';
import type { Cluster } from '../../src/core/cluster/types';
import type { JournalEvent, Target, Verdict } from '../../src/core/journal/events';
import { parseJournal } from '../../src/core/journal/journal';
import { finding, type ActionContext, type StepHandler } from '../../src/core/runbook/actions';
import { WindowClosing } from '../../src/core/runbook/cutOff';
import { renderReport } from '../../src/core/journal/report';
import { Runner } from '../../src/core/runbook/runner';
import { RunSession } from '../../src/core/runbook/session';
import { nodesOf } from '../../src/core/runbook/state';
import { stepDef, type StepId } from '../../src/core/runbook/steps';
import { VALID_CLUSTER } from '../fixtures/clusters';
import { tableOf, type SomeHandlers } from '../fixtures/handlers';

const T0 = Date.parse('2026-11-23T10:00:00Z');

function cluster(): Cluster {
  const r = loadCluster(VALID_CLUSTER);
  if (!r.ok) throw new Error(JSON.stringify(r.problems));
  return r.cluster;
}

interface Rig {
  session: RunSession;
  runner: Runner;
  clock: { now: number };
  /** Every handler call, as "run installOthers@ucd2". */
  calls: string[];
  lines: string[];
}

/** A handler that records `verdict` with `evidence` for each node of the target, as a real one does. */
function recording(calls: string[], kind: 'run' | 'check', verdict: (node: string) => Verdict, evidence: (node: string) => string[]): StepHandler {
  return async (ctx: ActionContext) => {
    calls.push(`${kind} ${ctx.target.step}${ctx.target.node ? `@${ctx.target.node}` : ''}`);
    const nodes = ctx.target.node ? [ctx.target.node] : nodesOf(stepDef(ctx.target.step), ctx.cluster);
    for (const n of nodes) await ctx.act({ step: ctx.target.step, node: n }, kind, async () => finding(verdict(n), evidence(n)));
  };
}

function rig(handlers: (calls: string[]) => SomeHandlers = (calls) => defaultHandlers(calls)): Rig {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ucd-runner-'));
  const clock = { now: T0 };
  const session = RunSession.open(cluster(), dir, undefined, () => clock.now);
  const calls: string[] = [];
  const lines: string[] = [];
  const log = { info: (m: string) => lines.push(m), warn: (m: string) => lines.push(m), error: (m: string) => lines.push(m) };
  return { session, runner: new Runner(session, { handlers: tableOf(handlers(calls)), log }), clock, calls, lines };
}

function defaultHandlers(calls: string[]): SomeHandlers {
  const pass = () => 'passed' as const;
  const table: SomeHandlers = {};
  for (const step of ['stop', 'verifyStopped', 'installFirst', 'startFirst', 'installOthers', 'startOthers', 'verifyVersions'] as StepId[]) {
    table[step] = { run: recording(calls, 'run', pass, () => [`${step} done`]), check: recording(calls, 'check', pass, () => [`${step} proven`]) };
  }
  return table;
}

/** Records a result directly, as an earlier action would have. */
function record(s: RunSession, step: StepId, node: string, kind: 'run' | 'check', verdict: Verdict, evidence = ['x']): void {
  const t: Target = { step, node };
  s.finish(s.begin(t, kind), t, kind, verdict, evidence);
}

function events(s: RunSession): JournalEvent[] {
  return parseJournal(fs.readFileSync(s.journalFile, 'utf8')).events;
}

function refusals(s: RunSession): Extract<JournalEvent, { type: 'refused' }>[] {
  return events(s).filter((e): e is Extract<JournalEvent, { type: 'refused' }> => e.type === 'refused');
}

test('Run on step 9 after a Check there is refused with the gate\'s words: the first node is not back online', async () => {
  const r = rig();
  // The demo: step 9 checked on ucd2 (its row is no longer "blocked"), every other node stopped.
  for (const n of ['ucd1', 'ucd2', 'ucd3']) record(r.session, 'verifyStopped', n, 'check', 'passed');
  record(r.session, 'installOthers', 'ucd2', 'check', 'failed', ['conf/installed.version 7.0.5.0']);
  const row = r.session.view().find((v) => v.def.id === 'installOthers')?.nodes.find((n) => n.node === 'ucd2');
  assert.equal(row?.state, 'failed', 'the display state is no longer blocked');

  const result = await r.runner.run({ step: 'installOthers', node: 'ucd2' });
  assert.deepEqual(result, { kind: 'refused', reasons: ['ucd1: first node not back online at 7.1.2.0 yet — step 8'] });
  assert.deepEqual(r.calls, [], 'the installer handler was never called');
  const [refused] = refusals(r.session);
  assert.deepEqual({ step: refused.step, node: refused.node, request: refused.request, reasons: refused.reasons }, { step: 'installOthers', node: 'ucd2', request: 'run', reasons: ['ucd1: first node not back online at 7.1.2.0 yet — step 8'] });
  assert.ok(r.lines.some((l) => /Run refused: ucd1: first node not back online/.test(l)), r.lines.join('\n'));
});

test('the gates are read from the journal and the clock when Run starts, not from what the view showed', async () => {
  const r = rig();
  for (const n of ['ucd1', 'ucd2', 'ucd3']) record(r.session, 'verifyStopped', n, 'check', 'passed');
  assert.equal(r.session.view().find((v) => v.def.id === 'installFirst')?.actions.run, true, 'offered while the proof is fresh');
  r.clock.now = T0 + 6 * 60_000;
  const result = await r.runner.run({ step: 'installFirst', node: 'ucd1' });
  assert.equal(result.kind, 'refused');
  assert.deepEqual(result.kind === 'refused' && result.reasons, [
    'ucd1: stopped-check is 6 min old (limit 5 min) — check again',
    'ucd2: stopped-check is 6 min old (limit 5 min) — check again',
    'ucd3: stopped-check is 6 min old (limit 5 min) — check again',
  ]);
  assert.deepEqual(r.calls, []);
  // Checked again: now it goes through, and the handler runs.
  for (const n of ['ucd1', 'ucd2', 'ucd3']) assert.equal((await r.runner.check({ step: 'verifyStopped', node: n })).kind, 'done');
  assert.deepEqual(await r.runner.run({ step: 'installFirst', node: 'ucd1' }), { kind: 'done' });
  assert.deepEqual(r.calls.slice(-1), ['run installFirst@ucd1']);
});

test('a person\'s word opens no gate a probe guards: skipped or confirmed installs and restarts', async () => {
  const r = rig();
  r.session.confirm({ step: 'installFirst', node: 'ucd1' }, 'ran it by hand');
  const startFirst = await r.runner.run({ step: 'startFirst', node: 'ucd1' });
  assert.deepEqual(startFirst, { kind: 'refused', reasons: ['ucd1: its upgrade was confirmed by hand, not proven — run Check on step 7'] });
  r.session.confirm({ step: 'startFirst', node: 'ucd1' }, 'it is up');
  for (const n of ['ucd2', 'ucd3']) record(r.session, 'verifyStopped', n, 'check', 'passed');
  const others = await r.runner.run({ step: 'installOthers', node: 'ucd2' });
  assert.deepEqual(others, { kind: 'refused', reasons: ['ucd1: first node not proven back online at 7.1.2.0: its restart was confirmed by hand, not proven — run Check on step 8'] });
  r.session.skip({ step: 'installOthers', node: 'ucd3' }, 'done by the night shift');
  const start3 = await r.runner.run({ step: 'startOthers', node: 'ucd3' });
  assert.deepEqual(start3, { kind: 'refused', reasons: ['ucd3: its upgrade was skipped ("done by the night shift"), not proven — run Check on step 9'] });
  assert.deepEqual(r.calls, []);
});

test('step 9 for one node needs every node not yet upgraded stopped, and the node itself whatever its record', async () => {
  const r = rig();
  record(r.session, 'startFirst', 'ucd1', 'check', 'passed');
  record(r.session, 'verifyStopped', 'ucd2', 'check', 'passed');
  record(r.session, 'verifyStopped', 'ucd3', 'check', 'failed', ['pid 77 listening on :8443']);
  const result = await r.runner.run({ step: 'installOthers', node: 'ucd2' });
  assert.deepEqual(result, { kind: 'refused', reasons: ['ucd3: not stopped (pid 77 listening on :8443)'] });
});

test('a second action on the same target, or a second Run on the same node, is refused as busy', async () => {
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  const r = rig((calls) => ({
    ...defaultHandlers(calls),
    verifyStopped: {
      run: async (ctx) => {
        calls.push(`run verifyStopped@${ctx.target.node}`);
        await gate;
      },
      check: recording(calls, 'check', () => 'passed', () => ['stopped']),
    },
  }));
  const first = r.runner.run({ step: 'verifyStopped', node: 'ucd2' });
  assert.ok(r.runner.isBusy({ step: 'verifyStopped' }), 'the step as a whole overlaps the node');
  assert.deepEqual(await r.runner.run({ step: 'verifyStopped', node: 'ucd2' }), { kind: 'busy', running: 'Run of Ensure each server is stopped on ucd2 is still running' });
  assert.equal((await r.runner.check({ step: 'verifyStopped' })).kind, 'busy', 'the step-wide Check covers ucd2');
  assert.equal((await r.runner.run({ step: 'stop', node: 'ucd2' })).kind, 'busy', 'another Run on the same server');
  assert.equal((await r.runner.skip({ step: 'verifyStopped', node: 'ucd2' }, 'x')).kind, 'busy');
  assert.deepEqual(await r.runner.check({ step: 'verifyStopped', node: 'ucd3' }), { kind: 'done' }, 'another node is free');
  release();
  assert.deepEqual(await first, { kind: 'done' });
  assert.equal(r.runner.isBusy({ step: 'verifyStopped', node: 'ucd2' }), false);
  assert.equal(refusals(r.session).length, 4, 'each busy refusal is in the journal');
});

test('Confirm Manually on step 5 is refused always: a probe guards it', async () => {
  const r = rig();
  const result = await r.runner.confirm({ step: 'verifyStopped', node: 'ucd1' }, 'I looked, it is down');
  assert.equal(result.kind, 'refused');
  assert.match(result.kind === 'refused' ? result.reasons[0] : '', /^a probe guards this: only Check on step 5 proves a server stopped/);
  assert.equal(r.session.state().get('verifyStopped@ucd1'), undefined, 'nothing was recorded as its result');
  assert.deepEqual(r.calls, []);
  assert.equal(r.session.view().find((v) => v.def.id === 'verifyStopped')?.nodes[0].actions.confirm, false, 'and the view does not offer it');
});

test('Confirm Manually on the installer step runs its Check: refused while the node is on the old version', async () => {
  const versions = new Map([['ucd1', '7.0.5.0']]);
  const r = rig((calls) => ({
    ...defaultHandlers(calls),
    installFirst: {
      check: recording(calls, 'check', (n) => (versions.get(n) === '7.1.2.0' ? 'passed' : 'failed'), (n) => [`conf/installed.version ${versions.get(n)}`]),
    },
  }));
  const refused = await r.runner.confirm({ step: 'installFirst', node: 'ucd1' }, 'upgraded it by hand');
  assert.deepEqual(refused, { kind: 'refused', reasons: ['ucd1: Confirm Manually refused — a fresh probe does not show ucd1 on 7.1.2.0 (conf/installed.version 7.0.5.0). A probe guards this step: a note is not proof. Fix the node, then Check again.'] });
  assert.deepEqual(r.calls, ['check installFirst@ucd1']);
  assert.equal(r.session.state().get('installFirst@ucd1')?.status, 'failed', 'the probe\'s own result stands');
  assert.equal(r.session.view().find((v) => v.def.id === 'startFirst')?.state, 'blocked', 'step 8 stays blocked');

  versions.set('ucd1', '7.1.2.0');
  const proven = await r.runner.confirm({ step: 'installFirst', node: 'ucd1' }, 'upgraded it by hand');
  assert.deepEqual(proven, { kind: 'proven', evidence: ['ucd1: conf/installed.version 7.1.2.0'] });
  const o = r.session.state().get('installFirst@ucd1');
  assert.equal(o?.status, 'passed');
  assert.equal(o && 'kind' in o && o.kind, 'check', 'what counts is the probe');
  const noted = events(r.session).filter((e) => e.type === 'noted');
  assert.deepEqual(noted.map((e) => e.type === 'noted' && [e.step, e.node, e.note]), [['installFirst', 'ucd1', 'upgraded it by hand']]);
  assert.notEqual(r.session.view().find((v) => v.def.id === 'startFirst')?.state, 'blocked');
});

test('Confirm Manually elsewhere records a person\'s word; a malformed request is an error, not a record', async () => {
  const r = rig();
  assert.deepEqual(await r.runner.confirm({ step: 'processes' }, 'Dashboard empty'), { kind: 'done' });
  assert.equal(r.session.state().get('processes')?.status, 'confirmed');
  assert.deepEqual(await r.runner.confirm({ step: 'processes' }, '  '), { kind: 'error', message: 'A note is required to confirm a step by hand.' });
  const wrong = await r.runner.run({ step: 'installFirst', node: 'ucd2' });
  assert.deepEqual(wrong, { kind: 'error', message: 'Step "Run the installer on the first node" does not concern node ucd2: it concerns ucd1.' });
  assert.equal((await r.runner.run({ step: 'backup' })).kind, 'unavailable', 'no handler: said so, nothing recorded');
});

test('a handler that throws leaves no record running: it is closed as failed with the message', async () => {
  const r = rig((calls) => ({
    ...defaultHandlers(calls),
    stop: {
      run: async (ctx) => {
        await ctx.act({ step: 'stop', node: 'ucd1' }, 'run', async () => {
          throw new Error('ssh: connection reset');
        });
      },
    },
  }));
  assert.deepEqual(await r.runner.run({ step: 'stop', node: 'ucd1' }), { kind: 'error', message: 'ssh: connection reset' });
  const o = r.session.state().get('stop@ucd1');
  assert.equal(o?.status, 'failed');
  assert.deepEqual(o && 'evidence' in o && o.evidence, ['ended without a result: ssh: connection reset']);
});

/** A handler that starts its record on ucd3, then, as the core's handlers do, records the error it met as failed. */
function failingWith(message: string, hold?: Promise<void>): StepHandler {
  return async (ctx) => {
    await ctx.act({ step: ctx.target.step, node: 'ucd3' }, 'run', async () => {
      await hold;
      return finding('failed', [message], 'Read the log.');
    });
  };
}

function section(markdown: string, title: string): string {
  const at = markdown.indexOf(`## ${title}`);
  assert.ok(at >= 0, `no "${title}" section in the report`);
  const next = markdown.indexOf('\n## ', at + 1);
  return markdown.slice(at, next < 0 ? undefined : next);
}

function report(s: RunSession): string {
  return renderReport({ cluster: s.cluster, events: s.journal.events, views: s.view(), readIssues: [], generatedAt: new Date(T0), operator: { user: 'u', machine: 'm' }, journalFile: path.basename(s.journalFile) });
}

test('an action cut off by the window closing is recorded interrupted in plain words, never failed with the library\'s, and the report lists it', async () => {
  let release!: () => void;
  const hold = new Promise<void>((resolve) => (release = resolve));
  const r = rig((calls) => ({ ...defaultHandlers(calls), stop: { run: failingWith('Channel has been closed', hold) } }));
  const closing = new AbortController();
  const done = r.runner.run({ step: 'stop', node: 'ucd3' }, closing.signal);
  closing.abort(new WindowClosing());
  release();
  assert.deepEqual(await done, { kind: 'done' });
  const o = r.session.state().get('stop@ucd3');
  assert.equal(o?.status, 'interrupted', JSON.stringify(o));
  const reason = o?.status === 'interrupted' ? o.reason ?? '' : '';
  assert.match(reason, /^the window closed or reloaded while "Shut down the servers" was running on ucd3, so its end was not seen/);
  assert.match(reason, /Check this step to see where ucd3 is now/);
  assert.doesNotMatch(reason, /Channel has been closed/, 'the record says what happened, not the library\'s words');
  assert.ok(!events(r.session).some((e) => e.type === 'finished' && e.step === 'stop'), 'no failure in the journal');
  assert.ok(r.lines.some((l) => l.includes('interrupted, not failed') && l.includes('Channel has been closed')), 'the library\'s words stay in the log');
  const interruptions = section(report(r.session), 'Warnings, refusals and interruptions');
  assert.doesNotMatch(interruptions, /None\./);
  assert.match(interruptions, /ucd3/);
});

test('an action cut off by a lost connection is interrupted; a Cancel the engineer chose, or any other failure, stays failed', async () => {
  const r = rig((calls) => ({
    ...defaultHandlers(calls),
    stop: { run: failingWith('The SSH connection to node ucd3 was lost (while a command ran).') },
    verifyStopped: { run: failingWith('kill exited 1') },
  }));
  assert.deepEqual(await r.runner.run({ step: 'stop', node: 'ucd3' }), { kind: 'done' });
  const lost = r.session.state().get('stop@ucd3');
  assert.equal(lost?.status, 'interrupted');
  assert.match(lost?.status === 'interrupted' ? lost.reason ?? '' : '', /^the connection to ucd3 was lost while "Shut down the servers" was running there/);

  const cancel = new AbortController();
  cancel.abort();
  await r.runner.run({ step: 'verifyStopped', node: 'ucd3' }, cancel.signal);
  assert.equal(r.session.state().get('verifyStopped@ucd3')?.status, 'failed', 'a plain abort (the engineer\'s Stop) is not a window closing');

  // A handler that throws in a lost link's words: its dangling record is interrupted too.
  const thrower = rig((calls) => ({
    ...defaultHandlers(calls),
    installFirst: {
      run: async (ctx) => {
        await ctx.act({ step: 'installFirst', node: 'ucd1' }, 'run', async () => {
          throw new Error('Channel has been closed');
        });
      },
    },
  }));
  for (const n of ['ucd1', 'ucd2', 'ucd3']) record(thrower.session, 'verifyStopped', n, 'check', 'passed');
  assert.deepEqual(await thrower.runner.run({ step: 'installFirst', node: 'ucd1' }), { kind: 'error', message: 'Channel has been closed' });
  assert.equal(thrower.session.state().get('installFirst@ucd1')?.status, 'interrupted');
});

test('followAgain: the installer an earlier window left running detached is followed again through its Check, once', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ucd-runner-'));
  const first = RunSession.open(cluster(), dir);
  const target = { step: 'installFirst' as const, node: 'ucd1' };
  const id = first.begin(target, 'run');
  first.detached(id, target, { runId: 'r-1', pid: 4242, dir: '/home/u/.ucd-upgrade-stage/runs/r-1' });
  // The window reloads: it lets go of the installer, which goes on on the node.
  first.dispose();
  first.letGo(id);

  const calls: string[] = [];
  const lines: string[] = [];
  const log = { info: (m: string) => lines.push(m), warn: (m: string) => lines.push(m), error: (m: string) => lines.push(m) };
  const second = RunSession.open(cluster(), dir);
  assert.equal(second.role.kind, 'owner');
  assert.equal(second.view().find((v) => v.def.id === 'installFirst')?.nodes[0].detail, 'running on ucd1 (detached; not followed here — Check follows it again)');
  let seen = '';
  const runner = new Runner(second, {
    log,
    handlers: tableOf({
      installFirst: {
        check: async (ctx) => {
          calls.push(`check ${ctx.target.step}@${ctx.target.node}`);
          // What the installer's Check does: resume the run, then record its real outcome on it.
          await ctx.resume(id, target, 'run', async () => {
            seen = ctx.session.view().find((v) => v.def.id === 'installFirst')?.nodes[0].detail ?? '';
            return finding('passed', ['upgraded 7.0.5.0 → 7.1.2.0']);
          });
        },
      },
    }),
  });
  const followed = runner.followAgain();
  assert.deepEqual(followed.map((f) => f.target), [target]);
  assert.deepEqual(await followed[0].result, { kind: 'done' });
  assert.deepEqual(calls, ['check installFirst@ucd1']);
  assert.equal(seen, 'running on ucd1 (detached; followed)', 'while followed, the tree says so');
  assert.equal(second.state().get('installFirst@ucd1')?.status, 'passed');
  assert.ok(lines.some((l) => l.includes('following it again') && l.includes('run r-1, pid 4242')), lines.join('\n'));
  assert.deepEqual(runner.followAgain(), [], 'each is followed once');
  assert.deepEqual(calls.length, 1);
  second.dispose();
});

