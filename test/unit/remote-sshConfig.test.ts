import { test } from 'node:test';
import assert from 'node:assert/strict';
import { expandTokens, hostPatternsMatch, parseJumpSpec, parseSshConfig, resolveSshHost } from '../../src/core/remote/sshConfig';

const env = { home: '/home/eng', localUser: 'eng' };
const resolve = (text: string, alias: string) => resolveSshHost(parseSshConfig(text), alias, env);

const CONFIG = `
# global defaults come last in most files, but may also come first
User globaluser-first-wins-only-if-nothing-before

Host ucd1 ucd2
    HostName %h.prod.example.com
    Port 2222
    IdentityFile ~/.ssh/ucd_%h
    IdentityFile "/keys/with space/%r@%h"

Host ucd*
    User ucdadmin
    Port 9999
    ProxyJump bastion

Host bastion
    HostName bastion.example.com
    User jumper

Host *.internal !secret.internal
    User internal-user

Host=eq-style
    HostName=10.9.8.7
    Port = 2200
`;

test('first value wins per option, across Host blocks, like OpenSSH', () => {
  const c = resolve(CONFIG, 'ucd1');
  assert.equal(c.hostName, 'ucd1.prod.example.com');
  assert.equal(c.port, 2222, 'the first Port (from "Host ucd1 ucd2") wins over "Host ucd*"');
  // The User line before any Host applies to every host and comes first.
  assert.equal(c.user, 'globaluser-first-wins-only-if-nothing-before');
  assert.deepEqual(c.identityFiles, ['/home/eng/.ssh/ucd_ucd1.prod.example.com', '/keys/with space/globaluser-first-wins-only-if-nothing-before@ucd1.prod.example.com']);
  assert.deepEqual(c.proxyJump, [{ host: 'bastion' }]);
});

test('wildcards, negation, Keyword=value, and unknown hosts fall through to the name itself', () => {
  const noGlobal = CONFIG.replace(/^User globaluser.*$/m, '');
  assert.equal(resolve(noGlobal, 'ucd7').user, 'ucdadmin');
  assert.equal(resolve(noGlobal, 'ucd7').port, 9999);
  assert.equal(resolve(noGlobal, 'a.internal').user, 'internal-user');
  assert.equal(resolve(noGlobal, 'secret.internal').user, undefined, 'negated pattern excludes the host');
  const eq = resolve(noGlobal, 'eq-style');
  assert.equal(eq.hostName, '10.9.8.7');
  assert.equal(eq.port, 2200);
  const plain = resolve(noGlobal, 'other.example.com');
  assert.equal(plain.hostName, 'other.example.com');
  assert.equal(plain.port, undefined);
  assert.deepEqual(plain.identityFiles, []);
  assert.deepEqual(plain.proxyJump, []);
});

test('ProxyJump chains and user@host:port forms', () => {
  const c = resolve('Host t\n  ProxyJump admin@jump1:2022,ssh://ops@[fe80::1]:22,jump3\n', 't');
  assert.deepEqual(c.proxyJump, [{ host: 'jump1', user: 'admin', port: 2022 }, { host: 'fe80::1', user: 'ops', port: 22 }, { host: 'jump3' }]);
  assert.deepEqual(resolve('Host t\n ProxyJump none\n', 't').proxyJump, []);
  assert.equal(parseJumpSpec('host:notaport'), undefined);
  assert.equal(parseJumpSpec('@host'), undefined);
  assert.equal(parseJumpSpec('h:70000'), undefined);
  const bad = resolve('Host t\n ProxyJump good,bad:x\n', 't');
  assert.deepEqual(bad.proxyJump, [{ host: 'good' }]);
  assert.match(bad.warnings.join('\n'), /bad:x/);
});

test('Match and Include are reported, not silently applied; ProxyCommand is reported', () => {
  const c = resolve('Include ~/.ssh/conf.d/*\nMatch host x exec "true"\n  User matched\nHost t\n  ProxyCommand nc %h %p\n', 't');
  assert.equal(c.user, undefined);
  assert.match(c.warnings.join('\n'), /Match/);
  assert.match(c.warnings.join('\n'), /Include/);
  assert.match(c.warnings.join('\n'), /ProxyCommand/);
  assert.equal(resolve('Match all\n  User everyone\n', 'x').user, 'everyone');
});

test('tokens and ~ expansion', () => {
  const t = { home: '/h', host: 'real.host', alias: 'al', localUser: 'me', user: 'them', port: 2222 };
  assert.equal(expandTokens('~/.ssh/%h-%n-%u-%r-%p-%%-%d', t), '/h/.ssh/real.host-al-me-them-2222-%-/h');
  assert.equal(expandTokens('/abs/~notexpanded', t), '/abs/~notexpanded');
  assert.equal(expandTokens('%C', t), '%C');
});

test('host pattern lists', () => {
  assert.ok(hostPatternsMatch('db1', ['web*', 'db?']));
  assert.ok(!hostPatternsMatch('db1', ['*', '!db1']));
  assert.ok(!hostPatternsMatch('db1', ['!db2']), 'only negative patterns never match');
});

test('a bad Port is ignored with a warning; an unterminated quote is reported', () => {
  const c = resolve('Host t\n  Port twenty\n  IdentityFile "unterminated\n', 't');
  assert.equal(c.port, undefined);
  assert.match(c.warnings.join('\n'), /twenty/);
  assert.match(c.warnings.join('\n'), /unterminated quote/);
});
