// The Ansible export without Ansible: the YAML it writes, the order and guards of its plays, what
// it refuses, and the engine's verdicts it asks for.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadCluster } from '../../src/core/cluster/load';
import type { Cluster } from '../../src/core/cluster/types';
import { exportAnsible, ExportRefusal } from '../../src/core/export/ansible';
import { judgeProcesses } from '../../src/core/export/verdicts';
import { toYaml, Unsafe } from '../../src/core/export/yaml';
import { parseArgs } from '../../src/cli/args';

function cluster(overrides: Record<string, unknown> = {}): Cluster {
  const file = {
    name: 'prod', currentVersion: '7.0.5.0', targetVersion: '7.1.0.0', firstNode: 'ucd1',
    sharedAppdata: '/mnt/appdata', loadBalancerUrl: 'https://lb.example.com/',
    ucd: { url: 'https://lb.example.com/', credential: 'admin' },
    database: { type: 'mariadb', backup: { command: 'mysqldump ucd > /b/ucd-{timestamp}.sql', artifact: '/b/ucd-{timestamp}.sql' } },
    package: { localFile: '/pkgs/ibm-ucd-7.1.0.0.zip' },
    nodes: [
      { name: 'ucd1', host: '10.0.0.1', user: 'ucd', installDir: "/opt/it's/server" },
      { name: 'ucd2', host: '10.0.0.2', user: 'ucd', installDir: '/opt/ucd/server' },
      { name: 'ucd3', host: '10.0.0.3', user: 'ucd', installDir: '/opt/ucd/server', stopCommand: '/opt/ucd/server/bin/server stop {{ lookup("pipe", "id") }}' },
    ],
    ...overrides,
  };
  const r = loadCluster(JSON.stringify(file, null, 2));
  assert.ok(r.ok, JSON.stringify(!r.ok && r.problems));
  return r.cluster;
}

const OPTS = { clusterDir: '/work/change', node: '/usr/bin/node', cli: '/opt/runbook/dist/cli.js', knownHosts: ['/home/me/.ssh/known hosts'], ucdUser: 'admin', ucdPasswordEnv: 'UCD_PW', nonce: 'a1b2c3d4' };

test('toYaml: every string double-quoted, unsafe text tagged, nesting in block style', () => {
  assert.equal(
    toYaml([{ name: 'yes', mode: '0700', tasks: [{ shell: { cmd: new Unsafe('echo {{ x }}') } }], empty: [], n: 3, on: true }]),
    '---\n- name: "yes"\n  mode: "0700"\n  tasks:\n    - shell:\n        cmd: !unsafe "echo {{ x }}"\n  empty: []\n  "n": 3\n  "on": true\n',
  );
});

test('the playbook runs the doc\'s steps in order; stopping, the proof and the installers stop everything on one error', () => {
  const files = exportAnsible(cluster(), OPTS);
  assert.deepEqual(files.map((f) => f.path), ['inventory.yml', 'upgrade.yml', 'files/stopped-proof-ucd1.sh', 'files/stopped-proof-ucd2.sh', 'files/stopped-proof-ucd3.sh']);
  const book = files[1].text;
  const plays = [...book.matchAll(/^- name: "([^"]+)"/gm)].map((m) => m[1].split(' ')[0]);
  assert.deepEqual(plays, ['1.', '2.', '4.', '5.', '7-8.', '9-10.', '11.']);
  const play = (n: string) => book.slice(book.indexOf(`- name: "${n}`), book.indexOf('\n- name: ', book.indexOf(`- name: "${n}`) + 1) >>> 0);
  for (const n of ['4.', '5.', '7-8.', '9-10.']) assert.match(play(n), /^ {2}any_errors_fatal: true$/m, `play ${n} is fatal on any error`);
  assert.match(play('9-10.'), /^ {2}serial: 1$/m);
  // The proof is the engine's verdict, with this export's nonce, before every later installer.
  assert.match(play('5.'), /"verdict"\n\s+- "stopped"[\s\S]*"--nonce"\n\s+- "\{\{ ucd_probe_nonce \}\}"/);
  assert.ok(play('9-10.').indexOf('stopped-proof') < play('9-10.').indexOf('Run the installer'), 'each later node is proven stopped right before its installer');
  assert.match(files[2].text, /@@ucd-probe:a1b2c3d4/);
  assert.match(files[0].text, /ucd_probe_nonce: "a1b2c3d4"/);
});

test('cluster-file text reaches Ansible as !unsafe and quoted for the shell; no secret is in the files', () => {
  const [inventory, book] = exportAnsible(cluster(), OPTS).map((f) => f.text);
  // A stop command with template syntax is run as written, never templated.
  assert.match(inventory, /ucd_stop_command: !unsafe "\/opt\/ucd\/server\/bin\/server stop \{\{ lookup\(\\"pipe\\", \\"id\\"\) \}\}"/);
  // The engine quotes the install dir in the installer's input.
  assert.match(inventory, /ucd_installer_command: !unsafe "cd '\.' && printf '%s\\\\n' '\/opt\/it'\\\\''s\/server' '' '' \| \.\/install-server\.sh "/);
  assert.match(inventory, /ansible_ssh_common_args: !unsafe "-o StrictHostKeyChecking=yes -o 'UserKnownHostsFile=\/home\/me\/\.ssh\/known hosts'"/);
  assert.match(book, /url_password: "\{\{ lookup\('ansible\.builtin\.env', ucd_password_env\) \}\}"/);
  assert.match(inventory, /ucd_password_env: "UCD_PW"/);
  assert.match(book, /async: 7200/, 'the installer outlives the connection');
});

test('what the export refuses: Windows nodes, template syntax in the backup command', () => {
  assert.throws(() => exportAnsible(cluster({ nodes: [{ name: 'w1', host: 'w1', os: 'windows', installDir: 'C:\\ucd\\server', startCommand: 'net start ucd', stopCommand: 'net stop ucd' }], firstNode: 'w1' }), OPTS), (e: unknown) => e instanceof ExportRefusal && /Linux nodes only; w1 is Windows/.test(e.message));
  assert.throws(
    () => exportAnsible(cluster({ database: { type: 'mariadb', backup: { command: 'dump {{ x }} > /b/u-{timestamp}.sql', artifact: '/b/u-{timestamp}.sql' } } }), OPTS),
    (e: unknown) => e instanceof ExportRefusal && /database\.backup\.command contains/.test(e.message),
  );
});

test('verdict processes: the engine\'s reading of the Dashboard, with the ids to cancel', () => {
  assert.equal(judgeProcesses('[]').kind, 'ok');
  const j = judgeProcesses(JSON.stringify([
    { processRequestType: 'application', traceId: 't-1', application: { name: 'JPetStore' }, applicationProcess: { name: 'Deploy' }, environment: { name: 'PROD' } },
    { processRequestType: 'component', traceId: 't-2', parentRequestId: 'x' },
    { processRequestType: 'generic', workflowTraceId: 'w-3', process: { name: 'Nightly' } },
  ]));
  assert.equal(j.kind, 'blocked');
  assert.deepEqual(j.data, [{ name: 'JPetStore / Deploy (PROD)', kind: 'application', cancelId: 't-1' }, { name: 'Nightly', kind: 'generic', cancelId: 'w-3' }]);
  assert.equal(judgeProcesses('<html>').kind, 'failed');
});

test('the command line: export ansible [DIR] and verdict KIND', () => {
  assert.equal(parseArgs(['export', 'ansible', 'out'], '/w').exportDir, 'out');
  assert.equal(parseArgs(['verdict', 'stopped', '--node', 'ucd1', '--exit', '', '--nonce', 'ab'], '/w').exitCode, null);
  assert.throws(() => parseArgs(['export', 'terraform'], '/w'), /the only export is "ansible"/);
  assert.throws(() => parseArgs(['verdict', 'bogus'], '/w'), /verdict takes one of/);
});
