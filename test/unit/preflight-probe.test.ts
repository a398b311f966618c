// The pre-flight's node script, run by a real /bin/sh against an install the simulator lays out
// (in a folder whose name needs quoting), and its parser. Only the three settings it needs leave
// installed.properties; the database password never does.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { buildPreflightProbe, parseJavaVersionText, parsePreflightProbe, parseProps } from '../../src/core/preflight/probe';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const lay = require(path.join(__dirname, '..', '..', '..', 'test', 'sim', 'lay-install.js')) as {
  layInstall(o: Record<string, unknown>): void;
  layAppdata(o: Record<string, unknown>): void;
};

function laid(): { install: string; appdata: string } {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "ucd pre'flight "));
  const install = path.join(root, 'server');
  const appdata = path.join(root, 'appdata');
  lay.layInstall({ dir: install, version: '7.0.5.0', installPath: install, appdataPath: appdata, webHost: '127.0.0.1', javaVersion: '11.0.21' });
  lay.layAppdata({ dir: appdata, version: '7.0.5.0' });
  fs.appendFileSync(path.join(install, 'conf/server/installed.properties'), 'hibernate.connection.password=s3cret-do-not-leak\n');
  return { install, appdata };
}

function runProbe(install: string, appdata: string): { stdout: string; built: ReturnType<typeof buildPreflightProbe> } {
  const built = buildPreflightProbe({ installDir: install }, appdata);
  const stdout = execFileSync('/bin/sh', ['-s'], { input: built.script, encoding: 'utf8', env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: os.tmpdir() } });
  return { stdout, built };
}

test('reads versions, the HA settings, set_env\'s Java and its -version, space and the patches in one script', () => {
  const { install, appdata } = laid();
  fs.writeFileSync(path.join(appdata, 'patches', 'APAR 1.jar'), 'p');
  fs.mkdirSync(path.join(install, 'opt/tomcat/conf'), { recursive: true });
  const custom = path.join(install, 'opt/tomcat/conf/server.xml');
  fs.writeFileSync(custom, '<Server/>');
  const later = new Date(Date.now() + 60_000);
  fs.utimesSync(custom, later, later);
  fs.writeFileSync(path.join(install, 'conf', 'custom.jks'), 'k');
  const { stdout, built } = runProbe(install, appdata);
  assert.doesNotMatch(stdout, /s3cret-do-not-leak/);
  const r = parsePreflightProbe(built, stdout);
  assert.ok(r.ok, r.ok ? '' : r.reason);
  assert.deepEqual(r.read.installVersion, { kind: 'found', version: '7.0.5.0' });
  assert.deepEqual(r.read.appdataVersion, { kind: 'found', version: '7.0.5.0' });
  assert.deepEqual(r.read.props, { kind: 'found', values: { 'install.java.home': path.join(install, 'java'), 'server.appdata.dir': appdata, 'com.urbancode.ds.UDeployServer.multiserver': 'true' } });
  assert.equal(r.read.java.kind, 'ok');
  assert.equal(r.read.java.kind === 'ok' && r.read.java.javaHome, path.join(install, 'java'));
  assert.equal(r.read.java.kind === 'ok' && r.read.java.version, '11.0.21');
  assert.ok((r.read.homeFreeKb ?? 0) > 0 && (r.read.installFreeKb ?? 0) > 0);
  assert.deepEqual(r.read.patches, ['APAR 1.jar']);
  assert.deepEqual(r.read.tomcatChanged, [custom]);
  assert.deepEqual(r.read.keystores, [path.join(install, 'conf', 'custom.jks')]);
  assert.equal(r.read.sshUser, os.userInfo().username);
  assert.equal(r.read.installOwner, os.userInfo().username);
});

test('a broken JRE, a missing set_env and missing files are read as such, not as a pass', () => {
  const { install, appdata } = laid();
  fs.rmSync(path.join(install, 'java', 'release'));
  let r = parsePreflightProbe(...(({ built, stdout }) => [built, stdout] as const)(runProbe(install, appdata)));
  assert.ok(r.ok);
  assert.equal(r.read.java.kind, 'java-failed');
  fs.rmSync(path.join(install, 'bin', 'set_env'));
  fs.rmSync(path.join(install, 'conf', 'server', 'installed.properties'));
  fs.rmSync(path.join(appdata, 'patches'), { recursive: true });
  const p = runProbe(install, appdata);
  r = parsePreflightProbe(p.built, p.stdout);
  assert.ok(r.ok);
  assert.deepEqual(r.read.java, { kind: 'no-set-env' });
  assert.deepEqual(r.read.props, { kind: 'missing' });
  assert.equal(r.read.patches, undefined);
});

test('cut-off output is an error, never a silent pass', () => {
  const { install, appdata } = laid();
  const { stdout, built } = runProbe(install, appdata);
  const r = parsePreflightProbe(built, stdout.slice(0, Math.floor(stdout.length / 2)));
  assert.equal(r.ok, false);
});

test('properties and java -version texts', () => {
  assert.deepEqual(parseProps(['  a.b = x ', 'a.b=y', 'c:z']), { 'a.b': 'y', c: 'z' });
  assert.equal(parseJavaVersionText('java version "1.8.0_392"\nJava(TM) SE Runtime Environment'), '1.8.0_392');
  assert.equal(parseJavaVersionText('openjdk version "21.0.1" 2023-10-17'), '21.0.1');
  assert.equal(parseJavaVersionText('garbage'), undefined);
});
