// The sudo classifier on Debian's sudo 1.9.13 outputs, captured on this machine (as a user with a
// rule for /bin/sh only), and the prompt/ready handshake that feeds the password once.
import assert from 'node:assert/strict';
import test from 'node:test';
import { newMarkers, sudoCommandLine, sudoTarget, SudoGate, ownerProblem } from '../../src/core/remote/privilege';
import { classifySudoFailure, sudoFailureText } from '../../src/core/remote/sudo';
import type { ClusterNode } from '../../src/core/cluster/types';

const M = 'MK:';
// What sudo printed on stderr (prompt marker "MK:"), each with its exit code.
const CAPTURED = {
  wrongTwice: { stderr: 'MK:Sorry, try again.\nMK:Sorry, try again.\nMK:\nsudo: no password was provided\nsudo: 2 incorrect password attempts\n', code: 1 },
  wrongThenEof: { stderr: 'MK:Sorry, try again.\nMK:\nsudo: no password was provided\nsudo: 1 incorrect password attempt\n', code: 1 },
  forbidden: { stderr: "MK:Sorry, user sudocap is not allowed to execute '/bin/ls /' as ucdcap on vm.\n", code: 1 },
  nopasswdMissing: { stderr: 'sudo: a password is required\n', code: 1 },
  noTty: { stderr: 'sudo: a terminal is required to read the password; either use the -S option to read from standard input or configure an askpass helper\nsudo: a password is required\n', code: 1 },
  requiretty: { stderr: 'sudo: sorry, you must have a tty to run sudo\n', code: 1 },
  missing: { stderr: 'sh: 1: sudo: not found\n', code: 127 },
  notInSudoers: { stderr: 'ucdcap is not in the sudoers file.\n', code: 1 },
  unknownUser: { stderr: 'sudo: unknown user ucdx\nsudo: error initializing audit plugin sudoers_audit\n', code: 1 },
};
const prompts = (s: string): number => s.split(M).length - 1;
const kind = (c: { stderr: string; code: number }): string => classifySudoFailure({ stderr: c.stderr.split(M).join(''), code: c.code, prompts: prompts(c.stderr) });

test('each of sudo\'s refusals is told apart', () => {
  assert.equal(kind(CAPTURED.wrongTwice), 'wrong-password');
  assert.equal(kind(CAPTURED.wrongThenEof), 'wrong-password');
  assert.equal(kind(CAPTURED.forbidden), 'forbidden');
  assert.equal(kind(CAPTURED.nopasswdMissing), 'password-required');
  assert.equal(kind(CAPTURED.noTty), 'needs-tty');
  assert.equal(kind(CAPTURED.requiretty), 'needs-tty');
  assert.equal(kind(CAPTURED.missing), 'missing');
  assert.equal(kind(CAPTURED.notInSudoers), 'not-in-sudoers');
  assert.equal(kind(CAPTURED.unknownUser), 'unknown-user');
});

test('every message names the node and the command, and each kind says something of its own', () => {
  const kinds = ['wrong-password', 'password-required', 'needs-tty', 'missing', 'forbidden', 'not-in-sudoers', 'unknown-user', 'other'] as const;
  const texts = kinds.map((k) => sudoFailureText(k, { node: 'ucd2', user: 'ucd', sshUser: 'alice', what: '"bin/server stop"' }, ''));
  for (const t of texts) {
    assert.match(t.message, /ucd2/);
    assert.match(t.message, /"bin\/server stop"/);
    assert.ok(t.hint.length > 20);
  }
  assert.equal(new Set(texts.map((t) => t.message.replace(/ucd2|alice|ucd/g, ''))).size, kinds.length);
  assert.match(texts[0]!.message, /tried once and not again/);
});

test('the command line quotes the user and the command and never holds a password', () => {
  const m = newMarkers(true);
  const line = sudoCommandLine("ucd'x", "cd '/opt/a b' && bin/server stop", m);
  assert.match(line, /^sudo -S -p '\[ucd-upgrade sudo [0-9a-f]{16}\] ' -H -u 'ucd'\\''x' -- \/bin\/sh -c '/);
  assert.ok(line.includes(m.ready));
  assert.notEqual(newMarkers(true).prompt, m.prompt, 'each command gets its own marker');
  assert.match(sudoCommandLine('ucd', 'true', newMarkers(false)), /^sudo -n -H -u 'ucd' -- /);
});

function fakeStdin(): { written: string[]; ended: boolean; end(d?: string): void; write(d: string): void } {
  const s = { written: [] as string[], ended: false, write: (d: string) => void s.written.push(d), end: (d?: string) => { if (d !== undefined) s.written.push(d); s.ended = true; } };
  return s;
}

test('the gate writes the password once at the prompt, then the command\'s own stdin only after it started', () => {
  const m = newMarkers(true);
  const gate = new SudoGate(m, 'pw-1');
  const stdin = fakeStdin();
  let handed = false;
  gate.attach(stdin, (s) => { handed = true; s.end('payload'); });
  // The prompt split across chunks still counts once.
  assert.equal(gate.stderr(m.prompt!.slice(0, 5)), '');
  assert.deepEqual(stdin.written, []);
  assert.equal(gate.stderr(m.prompt!.slice(5)), '');
  assert.deepEqual(stdin.written, ['pw-1\n']);
  assert.equal(handed, false);
  assert.equal(gate.stderr(`${m.ready} 4242\ncommand says`), 'command says');
  assert.equal(gate.pid, 4242);
  assert.equal(handed, true);
  assert.deepEqual(stdin.written, ['pw-1\n', 'payload']);
  assert.equal(gate.commandStderr, 'command says');
  assert.ok(!gate.sudoStderr.includes('pw-1'));
});

test('a second prompt closes stdin instead of trying again', () => {
  const m = newMarkers(true);
  const gate = new SudoGate(m, 'wrong');
  const stdin = fakeStdin();
  gate.attach(stdin, () => assert.fail('the command must not start'));
  gate.stderr(`${m.prompt}Sorry, try again.\n${m.prompt}`);
  assert.deepEqual(stdin.written, ['wrong\n']);
  assert.equal(stdin.ended, true);
  assert.equal(gate.prompts, 2);
  assert.equal(gate.started, false);
  assert.equal(classifySudoFailure({ stderr: gate.sudoStderr, code: 1, prompts: gate.prompts }), 'wrong-password');
  assert.ok(!gate.sudoStderr.includes(m.prompt!));
});

const node = (rights: ClusterNode['rights']): ClusterNode => ({ name: 'ucd1', host: 'h', sshPort: 22, os: 'linux', installDir: '/opt/ucd/server', httpsPort: 8443, jmsPort: 7918, startCommand: 's', stopCommand: 't', service: { manager: 'auto' }, ...(rights ? { rights } : {}) });

test('each action sudoes to whom the file says, and no further', () => {
  const sudoRoot = node({ privilege: { method: 'sudo', as: 'root', password: true }, installOwner: 'ucd' });
  assert.equal(sudoTarget(sudoRoot, 'owner'), 'ucd');
  assert.equal(sudoTarget(sudoRoot, 'root'), 'root');
  assert.equal(sudoTarget(sudoRoot, 'self'), undefined);
  const sudoOwner = node({ privilege: { method: 'sudo', as: 'installOwner', password: false }, installOwner: 'ucd' });
  assert.equal(sudoTarget(sudoOwner, 'root'), 'ucd');
  assert.equal(sudoTarget(node(undefined), 'root'), undefined);
  assert.equal(sudoTarget(node({ privilege: { method: 'none' }, installOwner: 'ucd' }), 'owner'), undefined);
});

test('an install owned by someone else than the file says is a problem naming the node and both users', () => {
  const n = node({ privilege: { method: 'sudo', as: 'root', password: true }, installOwner: 'ucd' });
  const p = ownerProblem(n, 'alice', 'root');
  assert.ok(p);
  assert.match(p.message, /ucd1/);
  assert.match(p.message, /belongs to root/);
  assert.match(p.message, /installOwner is ucd/);
  assert.match(p.hint, /"installOwner": "root"/);
  assert.equal(ownerProblem(n, 'alice', 'ucd'), undefined);
  assert.match(ownerProblem(node(undefined), 'alice', 'ucd')!.message, /SSH user alice/);
});

test('sudo passwords: parallel nodes ask one at a time, once per node and user, stored by name; a refused one is forgotten', async () => {
  const { sudoPasswordsFrom, sudoPasswordsFromEnv } = await import('../../src/core/remote/sudoPasswords');
  const stored = new Map<string, string>();
  const asked: string[] = [];
  let open = 0;
  let most = 0;
  const source = {
    get: async (k: string) => stored.get(k),
    store: async (k: string, v: string) => void stored.set(k, v),
    delete: async (k: string) => void stored.delete(k),
    ask: async (prompt: string) => {
      open++;
      most = Math.max(most, open);
      asked.push(prompt);
      await new Promise((r) => setImmediate(r));
      open--;
      return 'pw';
    },
  };
  const pw = sudoPasswordsFrom(source);
  const a = node(undefined);
  const b = { ...a, name: 'ucd2' };
  const got = await Promise.all([pw.get(a, 'alice'), pw.get(a, 'alice'), pw.get(b, 'alice')]);
  assert.deepEqual(got, ['pw', 'pw', 'pw']);
  assert.equal(asked.length, 2, 'once per node');
  assert.equal(most, 1, 'never two questions open at once');
  assert.ok(asked[0]!.includes('alice') && asked[0]!.includes('ucd1'));
  assert.deepEqual([...stored.keys()].sort(), ['ucd-upgrade.sudo-password/alice@ucd1', 'ucd-upgrade.sudo-password/alice@ucd2']);
  await pw.rejected(a, 'alice');
  assert.equal(stored.has('ucd-upgrade.sudo-password/alice@ucd1'), false);
  await pw.get(a, 'alice');
  assert.equal(asked.length, 3, 'asked again only on the next use, after the refusal');

  const seen: string[] = [];
  const env = sudoPasswordsFromEnv({ MY_SUDO: 'from-env' }, (v) => seen.push(v));
  assert.equal(await env.get(node({ privilege: { method: 'sudo', as: 'root', password: true, passwordEnv: 'MY_SUDO' } }), 'alice'), 'from-env');
  assert.equal(await env.get(node({ privilege: { method: 'sudo', as: 'root', password: true, passwordEnv: 'UNSET_VAR' } }), 'alice'), undefined);
  assert.deepEqual(seen, ['from-env'], 'what is read is handed to the journal mask');
});
