import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadCluster } from '../../src/core/cluster/load';
import { RunSession } from '../../src/core/runbook/session';
import { LocalTransport } from '../../src/core/remote/local';
import { packageHandlers, packageLayout, versionFromName } from '../../src/core/steps/package';
import { VALID_CLUSTER } from '../fixtures/clusters';

function makePackage(dir: string, name: string, version: string | undefined): string {
  const src = path.join(dir, 'src', 'ibm-ucd-install');
  fs.mkdirSync(path.join(src, 'conf'), { recursive: true });
  fs.writeFileSync(path.join(src, 'install-server.sh'), '#!/bin/sh\n', { mode: 0o755 });
  if (version) fs.writeFileSync(path.join(src, 'conf', 'installed.version'), `installed.version=${version}\n`);
  const archive = path.join(dir, name);
  execFileSync('tar', ['-czf', archive, '-C', path.join(dir, 'src'), 'ibm-ucd-install']);
  fs.rmSync(path.join(dir, 'src'), { recursive: true });
  return archive;
}

function run(archive: string) {
  const ws = fs.mkdtempSync(path.join(os.tmpdir(), 'ucd-pkg-ws-'));
  const r = loadCluster(VALID_CLUSTER.replace('"remotePath": "/tmp/ibm-ucd-install"', `"remotePath": ${JSON.stringify(archive)}`));
  if (!r.ok) throw new Error(JSON.stringify(r.problems));
  const session = RunSession.open(r.cluster, ws);
  const log = { info: () => undefined, warn: () => undefined, error: () => undefined };
  const local = new LocalTransport();
  const h = packageHandlers({ transportFor: async () => local });
  return { cluster: r.cluster, session, go: () => h.run!({ cluster: r.cluster, session, target: { step: 'package', node: 'ucd1' }, log, signal: new AbortController().signal }) };
}

test('the package location is derived from the cluster file alone', () => {
  assert.equal(versionFromName('/x/ibm-ucd-7.1.2.0.zip'), '7.1.2.0');
  assert.equal(versionFromName('/x/ibm-ucd-7.0.5.2.1050384.tar.gz'), '7.0.5.2.1050384');
  assert.equal(versionFromName('/x/ucd.zip'), undefined);
});

test('Run extracts a package already on the node and proves install-server.sh and its version', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ucd-pkg-'));
  const archive = makePackage(dir, 'ibm-ucd-7.1.2.0.tar.gz', '7.1.2.0');
  const { cluster, session, go } = run(archive);
  await go();
  const o = session.state().get('package@ucd1');
  assert.equal(o?.status, 'passed', JSON.stringify(o));
  const layout = packageLayout(cluster);
  assert.ok(fs.existsSync(path.join(layout.installerDir, 'install-server.sh')));
  assert.equal(layout.stage, path.join(dir, 'ucd-upgrade-7.1.2.0'));
});

test('a package of another version fails the step and says which', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ucd-pkg-'));
  const archive = makePackage(dir, 'ibm-ucd-7.1.1.0.tar.gz', '7.1.1.0');
  const { session, go } = run(archive);
  await go();
  const o = session.state().get('package@ucd1');
  assert.equal(o?.status, 'failed');
  assert.ok(o && 'evidence' in o && o.evidence[0] === 'package is 7.1.1.0, target is 7.1.2.0');
});

test('a broken archive fails with the extractor\'s error', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ucd-pkg-'));
  const archive = path.join(dir, 'ibm-ucd-7.1.2.0.tar.gz');
  fs.writeFileSync(archive, 'not a tarball');
  const { session, go } = run(archive);
  await go();
  const o = session.state().get('package@ucd1');
  assert.equal(o?.status, 'failed');
  assert.ok(o && 'evidence' in o && /extracting .* failed/.test(o.evidence[0]), JSON.stringify(o));
});
