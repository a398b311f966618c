// Issue 14: one runner records every action. The steps only return what they found; the start and
// the result of every action are written by runner.ts alone, per node as each node's work ends.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadCluster } from '../../src/core/cluster/load';
import type { Cluster } from '../../src/core/cluster/types';
import type { JournalEvent } from '../../src/core/journal/events';
import { parseJournal } from '../../src/core/journal/journal';
import { finding, handlerOf, type ActionContext } from '../../src/core/runbook/actions';
import { Runner } from '../../src/core/runbook/runner';
import { RunSession } from '../../src/core/runbook/session';
import { STEPS } from '../../src/core/runbook/steps';
import { buildStepTable } from '../../src/core/steps/table';
import { RemoteError } from '../../src/core/remote/transport';
import { ASKED_AGAIN } from '../../src/core/trust/words';
import { tableOf } from '../fixtures/handlers';
import { VALID_CLUSTER } from '../fixtures/clusters';

const ROOT = path.resolve(__dirname, '../../..');

function files(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? files(p) : p.endsWith('.ts') ? [p] : [];
  });
}

function cluster(): Cluster {
  const r = loadCluster(VALID_CLUSTER);
  if (!r.ok) throw new Error(JSON.stringify(r.problems));
  return r.cluster;
}

function events(s: RunSession): JournalEvent[] {
  return parseJournal(fs.readFileSync(s.journalFile, 'utf8')).events;
}

const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };

// Compiles only while a step's session has none of the runner's record-keeping.
type Forbidden = 'begin' | 'finish' | 'interrupt' | 'letGo' | 'adopt';
const stepSessionHasNone: Extract<keyof ActionContext['session'], Forbidden> extends never ? true : false = true;
const contextHasNone: Extract<keyof ActionContext, Forbidden> extends never ? true : false = true;

test('no step module starts or closes an action: the runner is the only caller of begin/finish', () => {
  assert.ok(stepSessionHasNone && contextHasNone);
  const steps = files(path.join(ROOT, 'src/core/steps'));
  assert.ok(steps.length > 10, 'found the step modules');
  const offenders = steps.flatMap((f) => fs.readFileSync(f, 'utf8').split('\n').flatMap((line, i) =>
    /\.(begin|finish)\(|session\.(interrupt|letGo|adopt)\(/.test(line) ? [`${path.relative(ROOT, f)}:${i + 1}: ${line.trim()}`] : []));
  assert.deepEqual(offenders, []);
  const callers = files(path.join(ROOT, 'src')).filter((f) => /session\.(begin|finish)\(/.test(fs.readFileSync(f, 'utf8')));
  assert.deepEqual(callers.map((f) => path.relative(ROOT, f)), ['src/core/runbook/runner.ts']);
});

test('the core\'s step table has every step, each with a Run and a Check it can call', () => {
  const table = buildStepTable({
    dialogs: { confirm: async () => false, chooseProcesses: async () => undefined, handOver: async () => undefined },
    transportFor: () => Promise.reject(new Error('not in this test')),
    local: () => { throw new Error('not in this test'); },
    rest: () => { throw new Error('not in this test'); },
    trust: { pins: { get: () => undefined, set: async () => undefined } as never, sessionPins: new Map(), prompt: async () => 'cancel' as const },
  });
  assert.deepEqual(Object.keys(table).sort(), STEPS.map((s) => s.id).sort());
  for (const s of STEPS) {
    assert.equal(typeof handlerOf(table[s.id].run), 'function', `${s.id}: Run`);
    assert.equal(typeof handlerOf(table[s.id].check), 'function', `${s.id}: Check`);
  }
});

test('eachNode records every start first, then each node\'s result as its own work ends: ucd1 passes while ucd2 still runs', { timeout: 20_000 }, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ucd-runner-records-'));
  const session = RunSession.open(cluster(), dir);
  let seenMidway: JournalEvent[] = [];
  // ucd2's work ends only once the journal holds ucd1's result (the test's deadline names it if not).
  const ucd1Recorded = new Promise<void>((resolve) => {
    const sub = session.onDidChange(() => {
      if (session.state().get('package@ucd1')?.status === 'passed') {
        sub.dispose();
        resolve();
      }
    });
  });
  const runner = new Runner(session, {
    log: quiet,
    handlers: tableOf({
      package: {
        check: async (ctx) => {
          const nodes = ctx.cluster.nodes.filter((n) => n.name !== 'ucd3');
          await ctx.eachNode(nodes, 'package', 'check', async (node) => {
            if (node.name !== 'ucd2') return finding('passed', ['install-server.sh present']);
            await ucd1Recorded;
            seenMidway = events(session);
            return finding('failed', ['install-server.sh missing'], 'Run step 3.');
          });
        },
      },
    }),
  });
  assert.deepEqual(await runner.check({ step: 'package' }), { kind: 'done' });
  const mid = seenMidway.filter((e) => e.type === 'started' || e.type === 'finished').map((e) => `${e.type} ${'node' in e ? e.node : ''}`);
  assert.deepEqual(mid, ['started ucd1', 'started ucd2', 'finished ucd1'], 'midway: both started, only ucd1 recorded');
  assert.equal(session.state().get('package@ucd1')?.status, 'passed');
  const o = session.state().get('package@ucd2');
  assert.equal(o?.status, 'failed');
  assert.deepEqual(o && 'evidence' in o && [o.evidence, o.hint], [['install-server.sh missing'], 'Run step 3.']);
  session.dispose();
});

test('a thrown error is the action\'s failed result with its message and hint; the other nodes still end with their own', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ucd-runner-records-'));
  const session = RunSession.open(cluster(), dir);
  const runner = new Runner(session, {
    log: quiet,
    handlers: tableOf({
      stop: {
        run: async (ctx) => {
          await ctx.eachNode(ctx.cluster.nodes, 'stop', 'run', async (node) => {
            if (node.name === 'ucd2') throw Object.assign(new Error('stop command not found'), { hint: 'Fix stopCommand for ucd2.' });
            return finding('passed', ['stopped']);
          });
        },
      },
    }),
  });
  assert.deepEqual(await runner.run({ step: 'stop' }), { kind: 'error', message: 'stop command not found' });
  const o = session.state().get('stop@ucd2');
  assert.deepEqual(o && 'evidence' in o && [o.status, o.evidence, o.hint], ['failed', ['ended without a result: stop command not found'], 'Fix stopCommand for ucd2.']);
  for (const n of ['ucd1', 'ucd3']) assert.equal(session.state().get(`stop@${n}`)?.status, 'passed', `${n} ended with its own result`);
  assert.equal(events(session).filter((e) => e.type === 'started').length, 3);
  assert.equal(events(session).filter((e) => e.type === 'finished').length, 3, 'nothing left running');
  session.dispose();
});

test('a host key dismissed mid-step, thrown out of a handler, is recorded as waiting for trust in the transport\'s words', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ucd-runner-records-'));
  const session = RunSession.open(cluster(), dir);
  const declined = new RemoteError('hostkey-unknown-declined', 'ucd2', 'waiting for trust: the host key of node ucd2 (10.0.0.2:22, ssh-ed25519 SHA256:abc) is not known and was not accepted; nothing was sent to it.', `Compare SHA256:abc with the node's own key. ${ASKED_AGAIN}`);
  const runner = new Runner(session, {
    log: quiet,
    handlers: tableOf({ package: { run: async (ctx) => void (await ctx.act({ step: 'package', node: 'ucd2' }, 'run', async () => { throw declined; })) } }),
  });
  assert.equal((await runner.run({ step: 'package', node: 'ucd2' })).kind, 'error');
  const o = session.state().get('package@ucd2');
  assert.deepEqual(o && 'evidence' in o && [o.status, o.evidence, o.hint], ['failed', [declined.message], declined.hint]);
  session.dispose();
});

test('a step the table marks unavailable says so, names why, and records nothing', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ucd-runner-records-'));
  const session = RunSession.open(cluster(), dir);
  const table = { ...tableOf({}), storage: { run: { unavailable: 'Move the folders by hand.' }, check: { unavailable: 'Look by hand.' } } };
  const runner = new Runner(session, { log: quiet, handlers: table });
  const r = await runner.check({ step: 'storage' });
  assert.equal(r.kind, 'unavailable');
  assert.match(r.kind === 'unavailable' ? r.reason : '', /Check is not available in this version of the extension\. Look by hand\./);
  assert.equal(events(session).filter((e) => e.type === 'started').length, 0);
  session.dispose();
});
