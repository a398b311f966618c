// Issue 14's Ansible export, run with Debian's ansible-playbook against a real 3-node cluster
// (OpenSSH nodes, the UCD simulator, MariaDB, nginx): with one server that ignores its stop
// command the play stops at the proof, naming the node, before any installer; then the whole
// upgrade runs through the playbook alone.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { clusterPrerequisites, startCluster, type TestCluster } from './harness';

const ROOT = path.resolve(__dirname, '../../..');
const CLI = path.join(ROOT, 'dist/cli.js');
const PASSWORD_ENV = 'UCDT_ANSIBLE_ADMIN_PASSWORD';
const skip = clusterPrerequisites() ?? (fs.existsSync('/usr/bin/ansible-playbook') ? undefined : 'ansible-playbook is not installed (test/install-debian-deps.sh installs it)');

interface Ran { code: number | null; stdout: string; stderr: string }

function run(cmd: string, args: readonly string[], opts: { cwd: string; env?: NodeJS.ProcessEnv; timeoutMs: number }): Promise<Ran> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { cwd: opts.cwd, env: opts.env ?? process.env, timeout: opts.timeoutMs, maxBuffer: 64 << 20 }, (error, stdout, stderr) => {
      if (error && typeof error.code !== 'number') return reject(new Error(`${cmd} ${args.join(' ')} did not exit by itself within ${opts.timeoutMs} ms (${error.message})\n${stdout.slice(-4000)}\n${stderr.slice(-2000)}`));
      resolve({ code: error ? (error.code as number) : 0, stdout, stderr });
    });
  });
}

describe('the exported Ansible playbook, on a real 3-node cluster', { skip, concurrency: 1 }, () => {
  let tc: TestCluster;
  let ws: string;
  let exportDir: string;
  let caFile: string;

  const version = async (node: string) => (await tc.inNode(node, `sed -n 's/^installed.version=//p' ${tc.installDir}/conf/installed.version`)).stdout.trim();
  const playbook = (extra: string[] = []) => run('/usr/bin/ansible-playbook', ['-i', 'inventory.yml', 'upgrade.yml', '-e', `ucd_ca_file=${caFile}`, ...extra], {
    cwd: exportDir,
    timeoutMs: 1_200_000,
    // The password reaches Ansible only through the environment variable the inventory names.
    env: { ...process.env, [PASSWORD_ENV]: tc.ucdAdmin.password, ANSIBLE_NOCOLOR: '1', ANSIBLE_FORCE_COLOR: '0', ANSIBLE_LOCAL_TEMP: path.join(ws, 'ansible-tmp') },
  });

  before(async () => {
    assert.ok(fs.existsSync(CLI), `${CLI} is missing: build it first (npm run build, or npm test's set-up)`);
    tc = await startCluster({ nodes: 3, database: true, loadBalancer: true });
    const pkg = tc.buildPackage();
    ws = fs.mkdtempSync(path.join(os.tmpdir(), 'ucd-ansible-'));
    fs.writeFileSync(path.join(ws, 'ucd-cluster.json'), tc.clusterFile({ package: { localFile: pkg.file } }));
    // The certificates the operator trusts: each server's own and the load balancer's, read from their files.
    caFile = path.join(ws, 'ca.pem');
    fs.writeFileSync(caFile, [...tc.nodes.map((n) => fs.readFileSync(path.join(tc.hostInstallDir(n.name), 'conf/sim/server.crt'), 'utf8')), fs.readFileSync(tc.loadBalancer!.certFile, 'utf8')].join('\n'));
    const r = await run(process.execPath, [CLI, 'export', 'ansible', '--known-hosts', tc.knownHostsFile, '--ssh-config', os.devNull, '--ucd-user', tc.ucdAdmin.user, '--ucd-password-env', PASSWORD_ENV, '--online-wait', '300'], { cwd: ws, timeoutMs: 60_000 });
    assert.equal(r.code, 0, `export: ${r.stderr}`);
    exportDir = path.join(ws, 'ansible');
    assert.deepEqual(fs.readdirSync(exportDir).sort(), ['files', 'inventory.yml', 'upgrade.yml']);
    const syntax = await run('/usr/bin/ansible-playbook', ['-i', 'inventory.yml', 'upgrade.yml', '--syntax-check'], { cwd: exportDir, timeoutMs: 120_000 });
    assert.equal(syntax.code, 0, `syntax check: ${syntax.stdout}${syntax.stderr}`);
    for (const f of ['inventory.yml', 'upgrade.yml']) assert.ok(!fs.readFileSync(path.join(exportDir, f), 'utf8').includes(tc.ucdAdmin.password), `no secret in ${f}`);
  });
  after(async () => {
    await tc?.stop();
  });

  test('a server left running stops the play at the proof, naming it, before any installer', async () => {
    for (const n of tc.nodes) await tc.startServer(n.name);
    const schema = await tc.database!.schemaVersions();
    await tc.setFault('ucd2', 'ignoresStop', true);
    try {
      const r = await playbook();
      assert.notEqual(r.code, 0, 'the play failed');
      const out = r.stdout;
      assert.match(out, /PLAY \[5\. Prove every server stopped/);
      assert.match(out, /fatal: \[ucd2\]: FAILED! .*ucd2: NOT proven stopped/, `the proof names ucd2:\n${out.slice(-5000)}`);
      assert.doesNotMatch(out, /PLAY \[7-8\. Upgrade the first node/, 'no installer play started');
      assert.doesNotMatch(out, /TASK \[Run the installer/, 'no installer task ran');
      for (const n of tc.nodes) assert.equal(await version(n.name), tc.version, `${n.name} untouched`);
      assert.deepEqual(await tc.database!.schemaVersions(), schema, 'the schema is untouched');
    } finally {
      await tc.setFault('ucd2', 'ignoresStop', false);
    }
  });

  test('the whole upgrade through the playbook alone', async () => {
    // ucd2 still runs from the test before; the play stops it with the others.
    for (const n of tc.nodes) if (n.name !== 'ucd2') await tc.startServer(n.name);
    await tc.startProcess('ucd3', { type: 'application', name: 'Deploy', application: 'JPetStore', environment: 'QA', components: ['web'] });
    const refused = await playbook();
    assert.notEqual(refused.code, 0, 'a running deployment stops the play');
    assert.match(refused.stdout, /JPetStore \/ Deploy \(QA\)/, 'the play names the running process');
    assert.doesNotMatch(refused.stdout, /PLAY \[4\. Stop every server/, 'no server was stopped');
    assert.ok(tc.processes().length >= 1, 'nothing was cancelled without being asked');

    const r = await playbook(['-e', 'ucd_cancel_processes=true']);
    assert.equal(r.code, 0, `ansible-playbook exited ${r.code}:\n${r.stdout.slice(-8000)}\n${r.stderr.slice(-2000)}`);
    assert.deepEqual(tc.processes(), [], 'the Deploy was cancelled in UCD');
    const target = JSON.parse(fs.readFileSync(path.join(ws, 'ucd-cluster.json'), 'utf8')).targetVersion as string;
    for (const n of tc.nodes) assert.equal(await version(n.name), target, `${n.name} on ${target}`);
    const order = ['1. Back up the database', '2. No application', '4. Stop every server', '5. Prove every server stopped', '7-8. Upgrade the first node', '9-10. Upgrade the other nodes', '11. Every node on the target version'];
    const at = order.map((p) => r.stdout.indexOf(`PLAY [${p}`));
    assert.ok(at.every((i, k) => i >= 0 && (k === 0 || i > at[k - 1])), `the plays ran in the doc's order: ${JSON.stringify(at)}`);
    // serial: 1 — ucd2's installer ends before ucd3's begins.
    const installs = [...r.stdout.matchAll(/TASK \[Run the installer[^\n]*\n(?:[^\n]*\n)*?(?:changed|ok): \[(ucd\d)\]/g)].map((m) => m[1]);
    assert.deepEqual(installs, ['ucd1', 'ucd2', 'ucd3']);
    assert.ok((await tc.database!.schemaVersions()).some((v) => v.startsWith(target)), 'the first node upgraded the schema');
    assert.ok(!r.stdout.includes(tc.ucdAdmin.password), 'no secret in the play output');
  });
});
