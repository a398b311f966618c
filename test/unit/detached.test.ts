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
import { detachedLaunchScript, inputFifo, inputScript, parseDetachedPid, parseInputWrite, parsePoll, pollScript, runFolder, stopScript, STOPPED_EXIT, STOPPED_MARKER, type DetachedInput, type DetachedPoll, type DetachedRun } from '../../src/core/remote/detached';
import { sh } from '../../src/core/remote/quote';
import { GO_LINE, NOT_STARTED_EXIT, NOT_STARTED_MARKER, READY_MARKER } from '../../src/core/ucd/installer/startGate';

const GATE = { ready: READY_MARKER, go: GO_LINE, notStarted: NOT_STARTED_MARKER, notStartedExit: NOT_STARTED_EXIT };

interface Launched {
  run: DetachedRun;
  /** Sends the gate line (or closes stdin with undefined); resolves with the launch's output after it. */
  answer(line: string | undefined): Promise<string>;
}

function launch(command: string, input: DetachedInput = 'closed'): Promise<Launched> {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'ucd-detached-unit-'));
  const dir = runFolder(base, 'run1');
  const child = spawn('/bin/sh', ['-c', detachedLaunchScript(dir, sh`eval ${command}`, GATE, input).text], { stdio: ['pipe', 'pipe', 'inherit'] });
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
        run: { runId: 'run1', pid, dir, ...(input === 'fifo' ? { input: inputFifo(dir) } : {}) },
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

  test('fifo input: each write reaches the command, which never sees end of input between writes; a key is typed once; nothing typed is stored', async () => {
    const l = await launch('while IFS= read -r a; do echo "got [$a]"; [ "$a" = last ] && exit 5; done; echo "end of input"; exit 9', 'fifo');
    await l.answer(GO_LINE);
    const write = (text: string, key: string) => parseInputWrite(execFileSync('/bin/sh', ['-c', inputScript(l.run, key).text], { input: text, encoding: 'utf8' }));
    assert.equal(write('first\n', '10 installDirectory'), 'written');
    await until(l.run, (p) => p.chunk.includes('got [first]'), 'the first answer read');
    // The writer is gone now (as after a reload): the command still waits for more.
    assert.equal(poll(l.run).state.kind, 'running', 'no end of input when a writer goes away');
    assert.equal(write('first\n', '10 installDirectory'), 'already', 'the same key is not typed twice');
    assert.equal(write('secret words\n', ''), 'written');
    assert.equal(write('last\n', '20 upgradeConfirm'), 'written');
    const p = await until(l.run, (x) => x.state.kind === 'exited', 'an exit status');
    assert.deepEqual(p.state, { kind: 'exited', code: 5 });
    assert.equal(p.chunk, 'got [first]\ngot [secret words]\ngot [last]\n', 'typed once each, in order');
    assert.equal(fs.readFileSync(path.join(l.run.dir, 'answered'), 'utf8'), '10 installDirectory\n20 upgradeConfirm\n', 'only offsets and prompt names are kept');
    for (const f of fs.readdirSync(l.run.dir)) {
      const st = fs.statSync(path.join(l.run.dir, f));
      if (st.isFile()) assert.ok(f === 'log' || !fs.readFileSync(path.join(l.run.dir, f), 'utf8').includes('secret words'), `${f} holds nothing typed`);
    }
    assert.equal(write('late\n', '30 notice'), 'ended', 'nothing is typed into an installer that ended');
  });

  test('stop: the whole session ends and the stop is its exit status, never "gone"', async () => {
    const l = await launch('echo started; sleep 30 & wait', 'fifo');
    await l.answer(GO_LINE);
    await until(l.run, (p) => p.chunk.includes('started'), 'the command running');
    const said = execFileSync('/bin/sh', ['-c', stopScript(l.run).text], { encoding: 'utf8' });
    assert.match(said, new RegExp(`stopped: exit ${STOPPED_EXIT}$`, 'm'));
    const p = poll(l.run);
    assert.deepEqual(p.state, { kind: 'exited', code: STOPPED_EXIT });
    assert.ok(p.chunk.includes(STOPPED_MARKER), p.chunk);
    assert.equal(parseInputWrite('garbage'), undefined);
  });
});
