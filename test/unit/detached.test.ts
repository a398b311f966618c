// The detached launch and poll scripts, run by the real /bin/sh on this machine (no SSH): the
// command waits for go at its gate, runs in its own session with its output in the log and its
// status in a file, ends unstarted on anything else (or a closed channel), and a killed one is
// seen as gone.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { detachedLaunchScript, parseDetachedPid, parsePoll, pollScript, runFolder, type DetachedPoll, type DetachedRun } from '../../src/core/remote/detached';
import { sh } from '../../src/core/remote/quote';
import { GO_LINE, NOT_STARTED_EXIT, NOT_STARTED_MARKER, READY_MARKER } from '../../src/core/ucd/installer/startGate';

const GATE = { ready: READY_MARKER, go: GO_LINE, notStarted: NOT_STARTED_MARKER, notStartedExit: NOT_STARTED_EXIT };

interface Launched {
  run: DetachedRun;
  /** Sends the gate line (or closes stdin with undefined); resolves with the launch's output after it. */
  answer(line: string | undefined): Promise<string>;
}

function launch(command: string): Promise<Launched> {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'ucd-detached-unit-'));
  const dir = runFolder(base, 'run1');
  const child = spawn('/bin/sh', ['-c', detachedLaunchScript(dir, sh`eval ${command}`, GATE).text], { stdio: ['pipe', 'pipe', 'inherit'] });
  let out = '';
  const exited = new Promise<void>((r) => child.on('close', () => r()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ready line within 10 s; output: ${out}`)), 10_000);
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString();
      if (!out.includes(`${READY_MARKER}\n`)) return;
      clearTimeout(timer);
      const pid = parseDetachedPid(out);
      if (pid === undefined) return reject(new Error(`no pid line: ${out}`));
      const at = out.length;
      resolve({
        run: { runId: 'run1', pid, dir },
        answer: async (line) => {
          if (line === undefined) child.stdin.end();
          else child.stdin.end(`${line}\n`);
          await exited;
          return out.slice(at);
        },
      });
    });
  });
}

function poll(run: DetachedRun, offset = 0): DetachedPoll {
  const p = parsePoll(execFileSync('/bin/sh', ['-c', pollScript(run, offset).text], { encoding: 'utf8' }));
  assert.ok(p, 'the poll answer parses');
  return p;
}

async function until(run: DetachedRun, what: (p: DetachedPoll) => boolean, label: string): Promise<DetachedPoll> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const p = poll(run);
    if (what(p)) return p;
    assert.ok(Date.now() < deadline, `${label} within 10 s; last poll ${JSON.stringify(p)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('detached launch and poll (real /bin/sh)', () => {
  test('parsePoll: running, exit, gone; anything else is not an answer', () => {
    assert.deepEqual(parsePoll('ucd-detached running 12\nhello'), { state: { kind: 'running' }, size: 12, chunk: 'hello' });
    assert.deepEqual(parsePoll('ucd-detached exit 3 0\n'), { state: { kind: 'exited', code: 3 }, size: 0, chunk: '' });
    assert.deepEqual(parsePoll('ucd-detached gone 5\n'), { state: { kind: 'gone' }, size: 5, chunk: '' });
    assert.equal(parsePoll('sh: 1: tr: not found\n'), undefined);
    assert.equal(parsePoll(''), undefined);
  });

  test('go: the command runs in its own session, its output in the log, its status in a file; the folder is 0700', async () => {
    const l = await launch('echo "it ran in session $(ps -o sid= -p $$)"; echo second; exit 3');
    assert.equal(fs.statSync(l.run.dir).mode & 0o777, 0o700);
    assert.equal(fs.readFileSync(path.join(l.run.dir, 'log'), 'utf8'), '', 'nothing ran before go');
    assert.equal(poll(l.run).state.kind, 'running', 'waiting at its gate, alive');
    await l.answer(GO_LINE);
    const p = await until(l.run, (x) => x.state.kind === 'exited', 'an exit status');
    assert.deepEqual(p.state, { kind: 'exited', code: 3 });
    assert.match(p.chunk, new RegExp(`^it ran in session +${l.run.pid}\nsecond\n$`), 'the wrapper leads its own session');
    const from = poll(l.run, Buffer.byteLength('it ran'));
    assert.equal(from.chunk, p.chunk.slice('it ran'.length), 'read from an offset');
    assert.equal(poll(l.run, p.size).chunk, '', 'nothing past the end');
  });

  test('any other line, or a channel closed before the line: the command never runs', async () => {
    for (const answer of ['stop', undefined]) {
      const l = await launch(`touch ${JSON.stringify(path.join(os.tmpdir(), 'ucd-detached-must-not-exist'))}`);
      const after = await l.answer(answer);
      const p = await until(l.run, (x) => x.state.kind === 'exited', 'an exit status');
      assert.deepEqual(p.state, { kind: 'exited', code: NOT_STARTED_EXIT }, String(answer));
      assert.equal(p.chunk, `${NOT_STARTED_MARKER}\n`);
      if (answer === 'stop') assert.equal(after, `${NOT_STARTED_MARKER}\n`, 'the launch shows what the wrapper said');
      assert.ok(!fs.existsSync(path.join(os.tmpdir(), 'ucd-detached-must-not-exist')));
    }
  });

  test('killed with no exit status: gone; a pid whose command line does not name the folder is not ours', async () => {
    const l = await launch('sleep 30');
    await l.answer(GO_LINE);
    assert.equal(poll(l.run).state.kind, 'running');
    assert.equal(poll({ ...l.run, pid: process.pid }).state.kind, 'gone', 'another process with that pid is not the installer');
    process.kill(-l.run.pid, 'SIGKILL');
    const p = await until(l.run, (x) => x.state.kind !== 'running', 'the process gone');
    assert.deepEqual(p.state, { kind: 'gone' });
  });
});
