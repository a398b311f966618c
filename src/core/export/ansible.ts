// `ucd-upgrade export ansible`: the runbook as an Ansible inventory and playbook, for teams that run
// changes from AWX, Rundeck or a pipeline. The gates travel with it: every judgement the playbook
// makes is the engine's own, run on the controller (`ucd-upgrade verdict ...`) over what the node
// printed for the engine's own probe scripts, so the playbook cannot drift from the extension.
import * as path from 'node:path';
import { BACKUP_TIMESTAMP, type Cluster, type ClusterNode } from '../cluster/types';
import { buildNodeProbe } from '../probes/node';
import { newNonce } from '../probes/sections';
import { shQuote, trustedShell } from '../remote/quote';
import { backupProbeScript } from '../steps/backup-verify';
import { INSTALLER_FOLDER } from '../steps/package';
import { ACTIVITY_PATH, cancelPath } from '../ucd/rest/client';
import { escapePropertyValue, installerCommand } from '../ucd/installer';
import { LOGIN_VERSION_PATTERN } from '../ucd/loginPage';
import { toYaml, Unsafe, type Yaml } from './yaml';

export interface AnsibleExportOptions {
  /** Absolute path of the folder that holds ucd-cluster.json (the verdicts read it). */
  readonly clusterDir: string;
  /** How the controller runs the engine: the node binary and dist/cli.js, absolute. */
  readonly node: string;
  readonly cli: string;
  /** OpenSSH files for host keys and client config; unknown host keys are refused. */
  readonly knownHosts: readonly string[];
  readonly sshConfig?: string;
  /** The NAME of the controller's environment variable holding the UCD password (never the value). */
  readonly ucdUser?: string;
  readonly ucdPasswordEnv?: string;
  /** Seconds to wait for a node's login page at the target version (the slow first start). */
  readonly onlineWaitSeconds?: number;
  /** The probe scripts' section nonce; a fresh one per export unless a test fixes it. */
  readonly nonce?: string;
}

export interface ExportedFile {
  readonly path: string;
  readonly text: string;
  readonly mode: number;
}

export class ExportRefusal extends Error {}

/** The engine's stopped-proof script for one node, as the export writes it; its nonce goes to the verdict. */
export function exportedStoppedProof(cluster: Cluster, node: ClusterNode, nonce: string): string {
  const built = buildNodeProbe(node, { appdataDir: cluster.sharedAppdata, nonce });
  return `#!/bin/sh\n# The UCD HA Upgrade Runbook's stopped-proof for ${node.name}; judged by \`ucd-upgrade verdict stopped\`.\n${built.script}\n`;
}

const stageOf = (cluster: Cluster) => `~/.ucd-upgrade-stage/ansible-${cluster.name}-${cluster.targetVersion}`.replace(/[^A-Za-z0-9._~/-]/g, '_');

function installerDirOf(cluster: Cluster): string {
  if (cluster.package.kind === 'remote') {
    const p = cluster.package.path.replace(/\/+$/, '');
    return p.endsWith(`/${INSTALLER_FOLDER}`) ? p : `${p}/${INSTALLER_FOLDER}`;
  }
  return `${stageOf(cluster)}/${INSTALLER_FOLDER}`;
}

/** argv for the controller's `ucd-upgrade verdict KIND ...`, as an Ansible `argv` list. */
function verdictArgv(kind: string, ...rest: string[]): string[] {
  return ['{{ ucd_node_binary }}', '{{ ucd_cli }}', 'verdict', kind, '--dir', '{{ ucd_cluster_dir }}', ...rest];
}

/** Run the engine's judgement on the controller; fail with its own words when it says no. */
function judged(name: string, kind: string, stdin: string, args: string[], extra: Record<string, Yaml> = {}): Yaml[] {
  const reg = `ucd_verdict_${kind.replace(/-/g, '_')}`;
  return [
    {
      name: `${name} (the runbook's own judgement)`,
      'ansible.builtin.command': { argv: verdictArgv(kind, ...args), stdin },
      delegate_to: 'localhost',
      register: reg,
      changed_when: false,
      failed_when: false,
      ...extra,
    },
    {
      name: `${name}: refused?`,
      'ansible.builtin.fail': { msg: `{{ ${reg}.stdout | default('') }}{{ ${reg}.stderr | default('') }}` },
      when: `${reg}.rc != 0`,
    },
  ];
}

function proveStopped(who: string): Yaml[] {
  return [
    {
      name: `5. Prove ${who} stopped: the runbook's probe script`,
      'ansible.builtin.script': { cmd: 'files/stopped-proof-{{ inventory_hostname }}.sh', executable: '/bin/sh' },
      register: 'ucd_proof',
      changed_when: false,
      failed_when: false,
    },
    ...judged(`5. Prove ${who} stopped`, 'stopped', '{{ ucd_proof.stdout }}', ['--node', '{{ inventory_hostname }}', '--exit', '{{ ucd_proof.rc }}', '--nonce', '{{ ucd_probe_nonce }}']),
  ];
}

function installTasks(cluster: Cluster, waitSeconds: number): Yaml[] {
  const installerDir = installerDirOf(cluster);
  const stage: Yaml[] = cluster.package.kind === 'local'
    ? [
        { name: '3. Stage folder, private to the SSH user', 'ansible.builtin.file': { path: stageOf(cluster), state: 'directory', mode: '0700' } },
        { name: '3. Extract the package', 'ansible.builtin.unarchive': { src: new Unsafe(cluster.package.file), dest: stageOf(cluster), creates: `${installerDir}/install-server.sh` } },
      ]
    : [];
  const props = `${installerDir}/install.properties`;
  return [
    ...stage,
    // What silentInstallProperties sets; each line written by the engine per node (inventory).
    { name: 'Silent upgrade: nonInteractive in install.properties', 'ansible.builtin.lineinfile': { path: props, regexp: '^\\s*nonInteractive\\s*[=:]', line: 'nonInteractive=true' } },
    { name: 'Silent upgrade: install.server.dir in install.properties', 'ansible.builtin.lineinfile': { path: props, regexp: '^\\s*install\\.server\\.dir\\s*[=:]', line: '{{ ucd_install_server_dir_line }}' } },
    {
      name: 'Run the installer (silent), detached from this connection',
      // async: the installer runs under Ansible's own detached wrapper, so a dropped link does not end it.
      'ansible.builtin.shell': { cmd: '{{ ucd_installer_command }}', chdir: installerDir },
      async: 7200,
      poll: 15,
      register: 'ucd_installer',
      failed_when: false,
    },
    ...judged('The installer ended without a refusal', 'installer', "{{ ucd_installer.stdout | default('') }}", ['--node', '{{ inventory_hostname }}', '--exit', "{{ ucd_installer.rc | default('') }}"]),
    {
      name: 'installed.version on the node',
      'ansible.builtin.command': { argv: ['cat', '{{ ucd_install_dir }}/conf/installed.version'] },
      register: 'ucd_installed',
      changed_when: false,
    },
    {
      name: `The node is on ${cluster.targetVersion}`,
      'ansible.builtin.assert': {
        that: [`'installed.version=${cluster.targetVersion}' in ucd_installed.stdout_lines`],
        fail_msg: `{{ inventory_hostname }} is not on ${cluster.targetVersion} after the installer: {{ ucd_installed.stdout }}`,
      },
    },
    { name: 'Start the server with its service script', 'ansible.builtin.shell': { cmd: '{{ ucd_start_command }}' } },
    waitOnline(cluster, 'https://{{ ucd_web_host }}:{{ ucd_https_port }}/', '{{ inventory_hostname }}', waitSeconds),
  ];
}

function waitOnline(cluster: Cluster, url: string, who: string, waitSeconds: number): Record<string, Yaml> {
  const delay = 5;
  return {
    name: `Wait for the login page of ${who} at ${cluster.targetVersion}`,
    'ansible.builtin.uri': { url, return_content: true, validate_certs: true, ca_path: '{{ ucd_ca_file | default(omit) }}', status_code: [200] },
    delegate_to: 'localhost',
    register: 'ucd_login',
    failed_when: false,
    until: "ucd_login.status == 200 and (((ucd_login.content | default('') | regex_findall(ucd_login_version_pattern, ignorecase=True)) + ['']) | first) == ucd_target_version",
    retries: Math.max(1, Math.ceil(waitSeconds / delay)),
    delay,
  };
}

function onlineOrFail(who: string): Yaml {
  return {
    name: `${who} answers at the target version`,
    'ansible.builtin.fail': { msg: `${who} did not show the login page at {{ ucd_target_version }} in time: {{ ucd_login.msg | default(ucd_login.status) }}` },
    when: "not (ucd_login.status == 200 and (((ucd_login.content | default('') | regex_findall(ucd_login_version_pattern, ignorecase=True)) + ['']) | first) == ucd_target_version)",
  };
}

function restCall(method: 'GET' | 'PUT', urlPath: string, register: string): Record<string, Yaml> {
  return {
    'ansible.builtin.uri': {
      url: `{{ ucd_url }}${urlPath}`,
      method,
      url_username: '{{ ucd_user }}',
      // Read from the controller's environment when the task runs: never in a file or an argument.
      url_password: "{{ lookup('ansible.builtin.env', ucd_password_env) }}",
      force_basic_auth: true,
      validate_certs: true,
      ca_path: '{{ ucd_ca_file | default(omit) }}',
      return_content: true,
      status_code: method === 'GET' ? [200] : [200, 204],
      ...(method === 'PUT' ? { body_format: 'json', body: {} } : {}),
    },
    register,
  };
}

/** Jinja reads `{{`, `{%` and `{#` in templated text: user text that has them cannot be exported safely. */
function refuseTemplateText(what: string, text: string): void {
  if (/\{[{%#]/.test(text)) throw new ExportRefusal(`${what} contains "{{", "{%" or "{#", which Ansible would read as a template: ${text}. Write it without them (a script file on the node, say) and export again.`);
}

function backupPlay(cluster: Cluster): Yaml {
  const b = cluster.database.backup;
  refuseTemplateText('database.backup.command', b.command);
  refuseTemplateText('database.backup.artifact', b.artifact);
  const stamped = b.artifact.includes(BACKUP_TIMESTAMP);
  // The stamp is digits, T and Z only, as the engine's (backupStamp): safe bare or in quotes.
  const put = (t: string) => t.split(BACKUP_TIMESTAMP).join('{{ ucd_stamp }}');
  const artifact = put(b.artifact);
  const where = b.runOn.kind === 'local' ? 'local' : b.runOn.node;
  const probe = backupProbeScript(artifact).text;
  refuseTemplateText('the backup probe', probe.split('{{ ucd_stamp }}').join(''));
  return {
    name: '1. Back up the database',
    hosts: b.runOn.kind === 'local' ? 'localhost' : b.runOn.node,
    gather_facts: false,
    ...(b.runOn.kind === 'local' ? { connection: 'local' } : {}),
    tasks: [
      { name: "The run's time stamp (UTC, as the runbook's)", 'ansible.builtin.set_fact': { ucd_stamp: "{{ lookup('ansible.builtin.pipe', 'date -u +%Y%m%dT%H%M%SZ') }}", ucd_backup_started: "{{ lookup('ansible.builtin.pipe', 'date +%s') }}" } },
      ...(stamped ? [] : [{
        name: 'An earlier backup is moved aside, never written over',
        'ansible.builtin.shell': { cmd: `p=${shQuote(b.artifact)}; n="$p.{{ ucd_stamp }}"; if [ -e "$p" ]; then if [ -e "$n" ]; then echo "$n exists" >&2; exit 1; fi; mv -n -- "$p" "$n" && echo moved; fi` },
        register: 'ucd_aside',
        changed_when: "'moved' in ucd_aside.stdout",
      }]),
      // The user's own backup command, as the runbook runs it (nothing of ours inside it).
      { name: 'Run the backup command', 'ansible.builtin.shell': { cmd: trustedShell(put(b.command)).text } },
      { name: 'Probe the backup file', 'ansible.builtin.shell': { cmd: probe }, register: 'ucd_backup_probe', changed_when: false },
      ...judged('The backup is real and new', 'backup', '{{ ucd_backup_probe.stdout }}', ['--artifact', artifact, '--where', where, '--not-before', '{{ ucd_backup_started }}']),
    ],
  };
}

function drainPlay(): Yaml {
  const cancelling = 'ucd_cancel_processes | default(false) | bool';
  return {
    name: '2. No application or generic processes running (through the UCD REST API)',
    hosts: 'localhost',
    connection: 'local',
    gather_facts: false,
    tasks: [
      // Ansible reads a JSON-looking string back into a list when it templates it, so the parsed
      // answer goes to the verdict re-encoded with to_json.
      { name: 'What the Dashboard shows as running', ...restCall('GET', ACTIVITY_PATH, 'ucd_activity') },
      {
        name: 'Which of them block the upgrade (the runbook\'s own reading)',
        'ansible.builtin.command': { argv: verdictArgv('processes', '--list'), stdin: '{{ ucd_activity.json | default(ucd_activity.content) | to_json }}' },
        delegate_to: 'localhost',
        register: 'ucd_blocking',
        changed_when: false,
        failed_when: 'ucd_blocking.rc not in [0, 2]',
      },
      {
        name: 'Running processes block the upgrade',
        'ansible.builtin.fail': { msg: "{{ ucd_blocking.stderr }} Cancel them in UCD, or run the play with -e ucd_cancel_processes=true (the runbook's \"Cancel Them in UCD\")." },
        when: `ucd_blocking.rc != 0 and not (${cancelling})`,
      },
      {
        name: 'Cancel each of them',
        ...restCall('PUT', cancelPath('ID').replace('ID', '{{ item | urlencode }}'), 'ucd_cancelled'),
        loop: "{{ ucd_blocking.stdout | from_json | map(attribute='cancelId') | list }}",
        when: `ucd_blocking.rc != 0 and (${cancelling})`,
      },
      {
        name: 'Wait until they are gone',
        ...restCall('GET', ACTIVITY_PATH, 'ucd_activity_after'),
        until: "(ucd_activity_after.json | default([]) | rejectattr('processRequestType', 'equalto', 'component') | list | length) == 0",
        retries: 60,
        delay: 5,
        failed_when: false,
        when: `ucd_blocking.rc != 0 and (${cancelling})`,
      },
      ...judged('Nothing blocks the upgrade', 'processes', '{{ (ucd_activity_after.json if ucd_activity_after.json is defined else ucd_activity.json | default(ucd_activity.content)) | to_json }}', []),
    ],
  };
}

/** The inventory, the playbook and the probe scripts, in the doc's order. */
export function exportAnsible(cluster: Cluster, opts: AnsibleExportOptions): ExportedFile[] {
  const windows = cluster.nodes.filter((n) => n.os !== 'linux').map((n) => n.name);
  if (windows.length) throw new ExportRefusal(`The Ansible export covers Linux nodes only; ${windows.join(', ')} ${windows.length > 1 ? 'are' : 'is'} Windows. Run those with the editor or the command line.`);
  for (const p of [opts.clusterDir, opts.cli, opts.node]) if (!path.isAbsolute(p)) throw new Error(`export paths must be absolute: ${p}`);
  const waitSeconds = opts.onlineWaitSeconds ?? 600;
  const nonce = opts.nonce ?? newNonce();
  const first = cluster.nodes.find((n) => n.name === cluster.firstNode)!;
  const others = cluster.nodes.filter((n) => n !== first);
  // Ansible splits these with shlex: each file one quoted word; host keys are never accepted.
  const sshArgs = [
    '-o StrictHostKeyChecking=yes',
    ...(opts.knownHosts.length ? [`-o ${shQuote(`UserKnownHostsFile=${opts.knownHosts.join(' ')}`)}`] : []),
    ...(opts.sshConfig ? [`-F ${shQuote(opts.sshConfig)}`] : []),
  ].join(' ');
  const hostVars = (n: ClusterNode): Record<string, Yaml> => ({
    ansible_host: new Unsafe(n.sshAlias ?? n.host),
    ...(n.sshAlias ? {} : { ansible_port: n.sshPort }),
    ...(n.user !== undefined ? { ansible_user: new Unsafe(n.user) } : {}),
    ...(n.identityFile !== undefined ? { ansible_ssh_private_key_file: new Unsafe(n.identityFile) } : {}),
    ucd_web_host: new Unsafe(n.host),
    ucd_install_dir: new Unsafe(n.installDir),
    ucd_https_port: n.httpsPort,
    ucd_start_command: new Unsafe(n.startCommand),
    ucd_stop_command: new Unsafe(n.stopCommand),
    // Quoted by the engine for this node; run in the package folder (chdir), like the runbook's.
    ucd_installer_command: new Unsafe(installerCommand({ node: n, packageDir: '.', fips: cluster.fips, mode: 'silent' }).script.text),
    ucd_install_server_dir_line: new Unsafe(`install.server.dir=${escapePropertyValue(n.installDir)}`),
  });
  const inventory: Yaml = {
    all: {
      vars: {
        ansible_ssh_common_args: new Unsafe(sshArgs),
        ucd_cluster: new Unsafe(cluster.name),
        ucd_target_version: cluster.targetVersion,
        ucd_url: new Unsafe(cluster.ucd.url.replace(/\/+$/, '')),
        ucd_user: new Unsafe(opts.ucdUser ?? ''),
        ucd_password_env: opts.ucdPasswordEnv ?? 'UCD_PASSWORD',
        ucd_load_balancer_url: new Unsafe(cluster.loadBalancerUrl),
        ucd_cluster_dir: new Unsafe(opts.clusterDir),
        ucd_node_binary: new Unsafe(opts.node),
        ucd_cli: new Unsafe(opts.cli),
        ucd_login_version_pattern: new Unsafe(LOGIN_VERSION_PATTERN),
        ucd_probe_nonce: nonce,
      },
      children: {
        ucd: {
          hosts: Object.fromEntries(cluster.nodes.map((n) => [n.name, hostVars(n)])),
          children: {
            ucd_first: { hosts: { [first.name]: null } },
            ...(others.length ? { ucd_others: { hosts: Object.fromEntries(others.map((n) => [n.name, null])) } } : {}),
          },
        },
      },
    },
  };
  const playbook: Yaml = [
    backupPlay(cluster),
    drainPlay(),
    {
      name: '4. Stop every server',
      hosts: 'ucd',
      gather_facts: false,
      any_errors_fatal: true,
      tasks: [{ name: 'Stop with the service script', 'ansible.builtin.shell': { cmd: '{{ ucd_stop_command }}' } }],
    },
    {
      name: '5. Prove every server stopped (a node left running stops the play here, before any installer)',
      hosts: 'ucd',
      gather_facts: false,
      any_errors_fatal: true,
      tasks: proveStopped('the server'),
    },
    {
      name: `7-8. Upgrade the first node, ${first.name} (it upgrades the database schema)`,
      hosts: 'ucd_first',
      gather_facts: false,
      any_errors_fatal: true,
      tasks: [...installTasks(cluster, waitSeconds), onlineOrFail('{{ inventory_hostname }}')],
    },
    ...(others.length ? [{
      name: '9-10. Upgrade the other nodes, one at a time',
      hosts: 'ucd_others',
      gather_facts: false,
      serial: 1,
      any_errors_fatal: true,
      tasks: [...proveStopped('the server, right before its installer,'), ...installTasks(cluster, waitSeconds), onlineOrFail('{{ inventory_hostname }}')],
    }] : []),
    {
      name: '11. Every node on the target version',
      hosts: 'ucd',
      gather_facts: false,
      tasks: [
        {
          name: 'installed.version on the node and in the shared appdata',
          'ansible.builtin.command': { argv: ['cat', '{{ ucd_install_dir }}/conf/installed.version', new Unsafe(`${cluster.sharedAppdata.replace(/\/+$/, '')}/conf/installed.version`)] },
          register: 'ucd_final',
          changed_when: false,
        },
        {
          name: `Both say ${cluster.targetVersion}`,
          'ansible.builtin.assert': {
            that: [`(ucd_final.stdout_lines | select('equalto', 'installed.version=${cluster.targetVersion}') | list | length) == 2`],
            fail_msg: `{{ inventory_hostname }}: {{ ucd_final.stdout_lines | select('match', 'installed.version=') | list }}, not ${cluster.targetVersion}`,
          },
        },
        { ...waitOnline(cluster, '{{ ucd_load_balancer_url }}', 'the load balancer', waitSeconds), run_once: true },
        { ...(onlineOrFail('the load balancer') as Record<string, Yaml>), run_once: true },
      ],
    },
  ];
  return [
    { path: 'inventory.yml', text: `# The ${cluster.name} cluster, exported from ucd-cluster.json by ucd-upgrade export ansible.\n${toYaml(inventory)}`, mode: 0o644 },
    {
      path: 'upgrade.yml',
      text: `# The HA upgrade of ${cluster.name}, ${cluster.currentVersion} to ${cluster.targetVersion}, in the product doc's order.\n`
        + `# ansible-playbook -i inventory.yml upgrade.yml [-e ucd_ca_file=CA.pem] [-e ucd_cancel_processes=true]\n`
        + `# The UCD password is read from $${opts.ucdPasswordEnv ?? 'UCD_PASSWORD'} on this machine when a task needs it.\n${toYaml(playbook)}`,
      mode: 0o644,
    },
    ...cluster.nodes.map((n) => ({ path: `files/stopped-proof-${n.name}.sh`, text: exportedStoppedProof(cluster, n, nonce), mode: 0o755 })),
  ];
}
