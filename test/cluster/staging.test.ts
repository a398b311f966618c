// Issue 8, "a predictable staging folder" and "the SFTP upload has no stall timeout", on a real
// cluster: step 3 stages only in the SSH user's own folder and refuses another user's folder or
// a link in its place; the archive's sha256 is the one the node computed and equals the local
// file's; an installer tree swapped after the extraction is refused by the installer step before
// anything starts; an upload the node stops acknowledging fails after the stall timeout.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadCluster } from '../../src/core/cluster/load';
import type { Cluster } from '../../src/core/cluster/types';
import type { ActionContext } from '../../src/core/runbook/actions';
import { RunSession } from '../../src/core/runbook/session';
import type { StepId } from '../../src/core/runbook/steps';
import { HostKeyPolicy } from '../../src/core/remote/hostKeys';
import { SshPool, targetFromNode } from '../../src/core/remote/ssh';
import { RemoteError } from '../../src/core/remote/transport';
import { installerHandlers } from '../../src/core/steps/installer';
import { MemoryPinStore } from '../../src/core/ucd/rest/tls';
import { packageHandlers, packageLayout, recordedStaging } from '../../src/core/steps/package';
import { clusterPrerequisites, startCluster, type InstallerPackage, type TestCluster } from './harness';
import { actionContext } from '../../src/core/runbook/runner';
import type { SomeHandlers } from '../fixtures/handlers';

const skip = clusterPrerequisites();

interface Rig {
  readonly cluster: Cluster;
  readonly session: RunSession;
  readonly handlers: SomeHandlers;
  readonly lines: string[];
  readonly pool: SshPool;
}

function rig(tc: TestCluster, pkg: InstallerPackage): Rig {
  const ws = fs.mkdtempSync(path.join(os.tmpdir(), 'ucd-staging-'));
  const r = loadCluster(tc.clusterFile({ package: { localFile: pkg.file } }));
  if (!r.ok) throw new Error(JSON.stringify(r.problems));
  const pool = new SshPool({
    hostKeys: new HostKeyPolicy({ knownHostsFiles: [tc.knownHostsFile], storeFile: path.join(ws, 'known_hosts'), prompt: async () => 'cancel' }),
    sshConfigFile: null,
    agentSocket: null,
  });
  const transportFor = async (n: Cluster['nodes'][number]) => pool.transport(targetFromNode(n));
  const handlers: SomeHandlers = {
    package: packageHandlers({ transportFor }),
    installFirst: installerHandlers('installFirst', { transportFor, trust: { pins: new MemoryPinStore(), sessionPins: new Map<string, string>(), prompt: async () => 'once' as const }, confirm: async () => false, handOver: async () => assert.fail('the installer must not even start'), quietMs: 3_000 }),
  };
  return { cluster: r.cluster, session: RunSession.open(r.cluster, ws), handlers, lines: [], pool };
}

async function act(r: Rig, step: StepId, kind: 'run' | 'check', node: string): Promise<void> {
  const log = { info: (m: string) => r.lines.push(m), warn: (m: string) => r.lines.push(m), error: (m: string) => r.lines.push(m) };
  const ctx: ActionContext = actionContext({ cluster: r.cluster, session: r.session, target: { step, node }, log, signal: new AbortController().signal });
  await r.handlers[step]![kind]!(ctx);
}

function outcome(r: Rig, key: string): { status: string; evidence: readonly string[]; text: string } {
  const o = r.session.state().get(key);
  assert.ok(o, `no record for ${key}`);
  return { status: o.status, evidence: 'evidence' in o ? o.evidence : [], text: `${JSON.stringify(o)}\n--- log tail ---\n${r.lines.slice(-25).join('\n')}` };
}

function sha256(file: string): string {
  return createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

describe('the staging folder, on a real cluster', { skip, concurrency: 1 }, () => {
  let tc: TestCluster;
  let pkg: InstallerPackage;
  /** Where today's main staged: the folder another local user could create first. */
  let oldStage: string;
  before(async () => {
    tc = await startCluster({ nodes: 2, database: true });
    pkg = tc.buildPackage();
    oldStage = `/tmp/ucd-upgrade-${pkg.version}`;
  });
  after(async () => {
    await tc?.stop();
  });

  test('step 3 stages in a 0700 folder of the SSH user under its home, and records the sha256 the node computed: the local file\'s', async () => {
    const r = rig(tc, pkg);
    try {
      await act(r, 'package', 'run', 'ucd1');
      const o = outcome(r, 'package@ucd1');
      assert.equal(o.status, 'passed', o.text);
      const staged = recordedStaging(r.session.journal.events, 'ucd1');
      assert.ok(staged, `the journal records what was staged: ${o.text}`);
      assert.equal(staged.archiveSha256, sha256(pkg.file));
      assert.ok(o.evidence.includes(`archive sha256 ${sha256(pkg.file)}`), o.text);
      const layout = packageLayout(r.cluster, tc.homeDir);
      assert.equal(staged.stage, layout.stage);
      assert.ok(staged.stage.startsWith(`${tc.homeDir}/`), staged.stage);
      const st = await tc.inNode('ucd1', `stat -c '%U %a %F' ${layout.base} ${layout.stage} && sha256sum ${layout.archive}`);
      assert.equal(st.code, 0, st.stderr);
      assert.deepEqual(st.stdout.trim().split('\n'), [`${tc.user} 700 directory`, `${tc.user} 700 directory`, `${sha256(pkg.file)}  ${layout.archive}`]);
      assert.equal((await tc.inNode('ucd1', `test -e ${oldStage}`)).code, 1, `${oldStage} is not used`);
      assert.ok(r.lines.some((l) => /^\[ucd1\] upload 100% \(\d+(\.\d)? (B|KiB|MiB) of \d+(\.\d)? (B|KiB|MiB)\) at \d+(\.\d)? (B|KiB|MiB)\/s in \d+ s$/.test(l)), `the upload's bytes and rate are logged:\n${r.lines.join('\n')}`);
    } finally {
      await r.pool.closeAll();
    }
  });

  test('a staging folder another user created first, or a link in its place, is refused and not used', async () => {
    const r = rig(tc, pkg);
    const layout = packageLayout(r.cluster, tc.homeDir);
    const elsewhere = '/tmp/ucd-staging-elsewhere';
    try {
      // The attacker's folders: open to all, owned by another user (nobody), at the old and the new place.
      const made = await tc.inNode('ucd2', `set -e
        mkdir -p ${oldStage} && chmod 777 ${oldStage} && chown nobody ${oldStage}
        mkdir -p -m 700 ${layout.base} && chown ${tc.user} ${layout.base}
        rm -rf ${layout.stage} && mkdir -m 777 ${layout.stage} && chown nobody ${layout.stage}`);
      assert.equal(made.code, 0, made.stderr);
      await act(r, 'package', 'run', 'ucd2');
      let o = outcome(r, 'package@ucd2');
      assert.equal(o.status, 'failed', o.text);
      assert.match(o.evidence[0] ?? '', new RegExp(`^refused to stage on ucd2: ${layout.stage} belongs to nobody \\(uid \\d+\\), not to the SSH user`), o.text);
      let left = await tc.inNode('ucd2', `ls -A ${layout.stage} ${oldStage}; stat -c '%U %a' ${layout.stage}`);
      assert.equal(left.stdout.replace(/^\/.*:$/gm, '').trim(), 'nobody 777', `nothing was written into either folder, and the foreign one was not replaced:\n${left.stdout}`);
      assert.equal(recordedStaging(r.session.journal.events, 'ucd2'), undefined);

      // A link to another user's folder in its place: refused, nothing written through it.
      const linked = await tc.inNode('ucd2', `set -e
        rm -rf ${layout.stage} ${elsewhere} && mkdir -m 777 ${elsewhere} && chown nobody ${elsewhere}
        ln -s ${elsewhere} ${layout.stage} && chown -h nobody ${layout.stage}`);
      assert.equal(linked.code, 0, linked.stderr);
      await act(r, 'package', 'run', 'ucd2');
      o = outcome(r, 'package@ucd2');
      assert.equal(o.status, 'failed', o.text);
      assert.match(o.evidence[0] ?? '', /is a symbolic link, not a folder of the SSH user/, o.text);
      left = await tc.inNode('ucd2', `ls -A ${elsewhere}; readlink ${layout.stage}`);
      assert.equal(left.stdout.trim(), elsewhere, `nothing written through the link, the link left in place:\n${left.stdout}`);
    } finally {
      await tc.inNode('ucd2', `rm -rf ${layout.stage} ${elsewhere} ${oldStage}`);
      await r.pool.closeAll();
    }
  });

  test('an installer tree swapped after the extraction: the installer step refuses before anything starts; node and schema unchanged', async () => {
    const r = rig(tc, pkg);
    const marker = '/tmp/ucd-swapped-installer-ran';
    const stages = [...new Set([packageLayout(r.cluster, tc.homeDir).stage, oldStage])];
    try {
      // Only the stage this run makes is there to swap.
      await tc.inNode('ucd1', `rm -rf ${stages.join(' ')}`);
      await act(r, 'package', 'run', 'ucd1');
      assert.equal(outcome(r, 'package@ucd1').status, 'passed', outcome(r, 'package@ucd1').text);
      // The swap, wherever step 3 staged: a copy of the tree with another install-server.sh.
      const swapped = await tc.inNode('ucd1', `n=0
        for s in ${stages.join(' ')}; do
          [ -d "$s/ibm-ucd-install" ] || continue
          cd "$s" && mv ibm-ucd-install ibm-ucd-install.orig && cp -a ibm-ucd-install.orig ibm-ucd-install || exit 1
          printf '#!/bin/sh\\ntouch ${marker}\\n' > ibm-ucd-install/install-server.sh && n=$((n + 1))
        done
        echo swapped=$n`);
      assert.match(swapped.stdout, /swapped=1/, swapped.stderr);
      const schemaBefore = await tc.database!.schemaVersions();
      const versionFile = `${tc.installDir}/conf/installed.version`;
      const before = (await tc.inNode('ucd1', `cat ${versionFile}`)).stdout;

      await act(r, 'installFirst', 'run', 'ucd1');
      const o = outcome(r, 'installFirst@ucd1');
      assert.equal(o.status, 'failed', o.text);
      assert.equal(o.evidence[0], 'the installer was NOT started', o.text);
      assert.match(o.evidence[1] ?? '', /^the installer was not started on ucd1: the installer tree in \S+ changed since step 3 measured it \(ibm-ucd-install\/install-server\.sh: content changed\)$/, o.text);
      assert.equal((await tc.inNode('ucd1', `test -e ${marker}`)).code, 1, 'the swapped script did not run');
      assert.equal((await tc.inNode('ucd1', `cat ${versionFile}`)).stdout, before, 'the install is untouched');
      assert.deepEqual(await tc.database!.schemaVersions(), schemaBefore, 'the schema is untouched');
      assert.ok(!r.lines.some((l) => /install-server\.sh/.test(l) && /^\[ucd1\] \$ /.test(l)), 'no installer command was sent');
    } finally {
      await tc.inNode('ucd1', `rm -f ${marker}`);
      await r.pool.closeAll();
    }
  });

  test('an upload the node stops acknowledging fails after the stall timeout, naming the node and what to do', async () => {
    const pool = new SshPool({
      hostKeys: new HostKeyPolicy({ knownHostsFiles: [tc.knownHostsFile], storeFile: path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'ucd-stall-')), 'known_hosts'), prompt: async () => 'cancel' }),
      sshConfigFile: null,
      agentSocket: null,
    });
    const node = tc.nodes[0]!;
    const t = pool.transport({ name: node.name, host: node.host, port: node.sshPort, user: tc.user, identityFile: tc.identityFile });
    // Sparse: big enough that it cannot finish once the server stops, without using the disk.
    const local = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'ucd-stall-')), 'ibm-ucd-9.9.9.9.zip');
    fs.writeFileSync(local, '');
    fs.truncateSync(local, 512 * 1048576);
    const remote = `${tc.homeDir}/stall-test.zip`;
    const stopped: number[] = [];
    let found: number[] | undefined;
    let sentAtStop = -1;
    let lastSent = 0;
    try {
      const upload = t.upload(local, remote, {
        stallTimeoutMs: 2_000,
        onProgress: (sent) => {
          lastSent = sent;
          if (found) return;
          // The first acknowledged bytes: stop the node's sftp-server right now (synchronously).
          found = tc.hostPids(node.name, 'sftp-server');
          if (found.length !== 1) return;
          process.kill(found[0]!, 'SIGSTOP');
          stopped.push(found[0]!);
          sentAtStop = sent;
        },
      });
      let deadline: NodeJS.Timeout | undefined;
      const outcome = await Promise.race([
        upload.then(() => 'finished' as const, (e: unknown) => e),
        new Promise<'deadline'>((res) => (deadline = setTimeout(() => res('deadline'), 30_000))),
      ]);
      clearTimeout(deadline);
      assert.equal(found?.length, 1, `one sftp-server on ${node.name}: ${found?.join(', ')}`);
      assert.notEqual(outcome, 'deadline', 'the stalled upload did not fail within 30 s');
      assert.notEqual(outcome, 'finished', 'the upload finished although the server was stopped');
      assert.ok(stopped.length === 1 && sentAtStop > 0, 'the server was stopped mid-upload');
      assert.ok(outcome instanceof RemoteError, String(outcome));
      assert.equal(outcome.kind, 'timeout');
      assert.equal(outcome.node, node.name);
      assert.match(outcome.message, new RegExp(`^Uploading ibm-ucd-9\\.9\\.9\\.9\\.zip to node ${node.name} stalled: no bytes acknowledged for 2 s \\(\\d+ of ${512 * 1048576} bytes sent\\); ${remote.replace(/\//g, '\\/')} is incomplete\\.$`));
      assert.ok(lastSent < 512 * 1048576, 'not everything was acknowledged');
      assert.match(outcome.hint, new RegExp(`Check node ${node.name}: .*sftp-server.*run the step again`));
    } finally {
      for (const pid of stopped) process.kill(pid, 'SIGCONT');
      await pool.closeAll();
      await tc.inNode(node.name, `rm -f ${remote}`);
      fs.rmSync(path.dirname(local), { recursive: true, force: true });
    }
  });
});
