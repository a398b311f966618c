import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  entryMatchesHost,
  fingerprintSha256,
  formatKnownHostsLine,
  globMatch,
  hostKeyAlgorithmsFor,
  keyTypeOfBlob,
  knownHostsName,
  lookupKnownHosts,
  parseKnownHosts,
} from '../../src/core/remote/knownHosts';

// Real keys and real hashed lines from ssh-keygen, so the parser is checked against OpenSSH itself.
let dir: string;
const keys: Record<string, { type: string; b64: string; pub: string; fp: string }> = {};

function gen(name: string, type: string): void {
  const f = path.join(dir, name);
  execFileSync('ssh-keygen', ['-q', '-t', type, '-N', '', '-f', f], { stdio: 'ignore' });
  const [t, b64] = fs.readFileSync(`${f}.pub`, 'utf8').trim().split(/\s+/) as [string, string];
  const fp = execFileSync('ssh-keygen', ['-lf', `${f}.pub`], { encoding: 'utf8' }).split(/\s+/)[1] as string;
  keys[name] = { type: t, b64, pub: `${f}.pub`, fp };
}

before(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ucd-kh-unit-'));
  gen('ed', 'ed25519');
  gen('ec', 'ecdsa');
  gen('rsa', 'rsa');
  gen('other', 'ed25519');
});

const blob = (k: string): Buffer => Buffer.from(keys[k]!.b64, 'base64');

test('fingerprint matches ssh-keygen -lf for ed25519, ecdsa and rsa keys', () => {
  for (const k of ['ed', 'ec', 'rsa']) {
    assert.equal(fingerprintSha256(blob(k)), keys[k]!.fp);
    assert.doesNotMatch(fingerprintSha256(blob(k)), /=$/);
  }
  assert.equal(keyTypeOfBlob(blob('ed')), 'ssh-ed25519');
  assert.equal(keyTypeOfBlob(blob('ec')), 'ecdsa-sha2-nistp256');
  assert.equal(keyTypeOfBlob(Buffer.from([0, 0])), undefined);
});

test('plain names, comma lists and [host]:port', () => {
  const text = [
    '# comment',
    '',
    `node1.example.com,10.0.0.1 ${keys.ed!.type} ${keys.ed!.b64}`,
    `[node2.example.com]:2222 ${keys.ec!.type} ${keys.ec!.b64} comment here`,
  ].join('\n');
  const { entries, badLines } = parseKnownHosts(text, 'kh');
  assert.equal(entries.length, 2);
  assert.deepEqual(badLines, []);
  assert.equal(lookupKnownHosts(entries, 'node1.example.com', 22).known.length, 1);
  assert.equal(lookupKnownHosts(entries, 'NODE1.example.com', 22).known.length, 1, 'host names are case-insensitive');
  assert.equal(lookupKnownHosts(entries, '10.0.0.1', 22).known.length, 1);
  assert.equal(lookupKnownHosts(entries, 'node1.example.com', 2222).known.length, 0, 'a non-22 port needs [host]:port');
  assert.equal(lookupKnownHosts(entries, 'node2.example.com', 2222).known[0]?.line, 4);
  assert.equal(lookupKnownHosts(entries, 'node2.example.com', 22).known.length, 0);
});

test('hashed lines written by ssh-keygen -H match the right host:port only', () => {
  const f = path.join(dir, 'hashed');
  fs.writeFileSync(f, [`node1.example.com ${keys.ed!.type} ${keys.ed!.b64}`, `[10.1.2.3]:2200 ${keys.rsa!.type} ${keys.rsa!.b64}`].join('\n') + '\n');
  execFileSync('ssh-keygen', ['-H', '-f', f], { stdio: 'ignore' });
  const text = fs.readFileSync(f, 'utf8');
  assert.equal(text.split('\n').filter((l) => l.startsWith('|1|')).length, 2, 'ssh-keygen hashed both lines');
  const { entries } = parseKnownHosts(text, f);
  assert.equal(lookupKnownHosts(entries, 'node1.example.com', 22).known[0]?.keyType, 'ssh-ed25519');
  assert.equal(lookupKnownHosts(entries, '10.1.2.3', 2200).known[0]?.keyType, 'ssh-rsa');
  assert.equal(lookupKnownHosts(entries, '10.1.2.3', 22).known.length, 0);
  assert.equal(lookupKnownHosts(entries, 'node2.example.com', 22).known.length, 0);
  // ssh-keygen -F agrees on what matches.
  assert.match(execFileSync('ssh-keygen', ['-F', '[10.1.2.3]:2200', '-f', f], { encoding: 'utf8' }), /ssh-rsa/);
});

test('wildcards and negation', () => {
  assert.ok(globMatch('node7.prod.example.com', '*.prod.example.com'));
  assert.ok(globMatch('node7', 'node?'));
  assert.ok(!globMatch('node17', 'node?'));
  assert.ok(globMatch('[10.0.0.5]:2222', '[10.0.0.?]:2222'));
  const entries = parseKnownHosts(`*.example.com,!bad.example.com ${keys.ed!.type} ${keys.ed!.b64}`, 'kh').entries;
  assert.equal(lookupKnownHosts(entries, 'good.example.com', 22).known.length, 1);
  assert.equal(lookupKnownHosts(entries, 'bad.example.com', 22).known.length, 0, 'a negated pattern wins');
  assert.equal(lookupKnownHosts(entries, 'example.org', 22).known.length, 0);
  assert.ok(entryMatchesHost({ hostField: '[*.example.com]:2222' }, 'a.example.com', 2222));
});

test('@revoked and @cert-authority', () => {
  const text = [
    `@revoked * ${keys.other!.type} ${keys.other!.b64}`,
    `@cert-authority *.example.com ${keys.ec!.type} ${keys.ec!.b64}`,
    `node1.example.com ${keys.ed!.type} ${keys.ed!.b64}`,
    `@bogus node1 ${keys.ed!.type} ${keys.ed!.b64}`,
    `node1 ssh-ed25519 AAAAnotakey`,
    `just-a-host`,
  ].join('\n');
  const { entries, badLines } = parseKnownHosts(text, 'kh');
  assert.deepEqual(badLines.map((b) => b.line), [4, 5, 6]);
  const l = lookupKnownHosts(entries, 'node1.example.com', 22);
  assert.equal(l.known.length, 1);
  assert.equal(l.revoked.length, 1);
  assert.equal(l.ignoredCertAuthorities, 1);
});

test('formatKnownHostsLine writes a line OpenSSH reads back', () => {
  const line = formatKnownHostsLine('127.0.0.1', 2222, blob('ed'));
  assert.equal(line, `[127.0.0.1]:2222 ssh-ed25519 ${keys.ed!.b64}`);
  const f = path.join(dir, 'written');
  fs.writeFileSync(f, line + '\n');
  assert.match(execFileSync('ssh-keygen', ['-F', '[127.0.0.1]:2222', '-f', f], { encoding: 'utf8' }), /ssh-ed25519/);
  assert.equal(knownHostsName('h', 22), 'h');
});

test('host key algorithms: known types first, all others still offered', () => {
  const algs = hostKeyAlgorithmsFor(['ssh-rsa']);
  assert.deepEqual(algs.slice(0, 3), ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa']);
  assert.ok(algs.includes('ssh-ed25519'));
  assert.equal(new Set(algs).size, algs.length);
  assert.equal(hostKeyAlgorithmsFor([])[0], 'ssh-ed25519');
});

test('a hashed line matches the host in any letter case, as ssh lower-cases it before hashing', () => {
  const f = path.join(dir, 'hashed-case');
  // What `ssh UCD1.Example.com` leaves behind with HashKnownHosts: the lower-case name, hashed.
  fs.writeFileSync(f, `ucd1.example.com ${keys.ed!.type} ${keys.ed!.b64}\n[ucd2.example.com]:2200 ${keys.rsa!.type} ${keys.rsa!.b64}\n`);
  execFileSync('ssh-keygen', ['-H', '-f', f], { stdio: 'ignore' });
  const { entries } = parseKnownHosts(fs.readFileSync(f, 'utf8'), f);
  assert.ok(entries.every((e) => e.hostField.startsWith('|1|')));
  assert.equal(lookupKnownHosts(entries, 'UCD1.example.com', 22).known[0]?.keyType, 'ssh-ed25519');
  assert.equal(lookupKnownHosts(entries, 'Ucd2.EXAMPLE.com', 2200).known[0]?.keyType, 'ssh-rsa');
  assert.equal(lookupKnownHosts(entries, 'UCD1.example.com', 2200).known.length, 0, 'still the right port only');
  assert.equal(formatKnownHostsLine('UCD1.Example.com', 22, blob('ed')), `ucd1.example.com ssh-ed25519 ${keys.ed!.b64}`);
});
