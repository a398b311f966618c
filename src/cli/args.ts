// The command line's words. Secrets never come as values here: only the NAME of an environment
// variable or the number of a file descriptor that holds one.
import * as path from 'node:path';
import { CONFIRMATIONS, type Confirmation } from '../core/steps/table';
import { STEPS, isStepId, type StepId } from '../core/runbook/steps';

export const COMMANDS = ['plan', 'status', 'check', 'run', 'report', 'preflight', 'trust', 'export', 'verdict'] as const;
/** What `export` writes and what `verdict` judges (for the exported playbook). */
export const EXPORTS = ['ansible'] as const;
export const VERDICTS = ['stopped', 'backup', 'processes', 'installer'] as const;
export type Verdict = (typeof VERDICTS)[number];
export type Command = (typeof COMMANDS)[number];

export interface CliArgs {
  readonly command: Command;
  readonly step?: StepId;
  readonly node?: string;
  readonly dir: string;
  readonly json: boolean;
  readonly verbose: boolean;
  readonly confirm: ReadonlySet<Confirmation>;
  /** Step 2: wait for running processes to end instead of cancelling them. */
  readonly waitProcesses: boolean;
  readonly ucdUser?: string;
  readonly ucdPasswordEnv?: string;
  readonly ucdPasswordFd?: number;
  readonly ucdTokenEnv?: string;
  /** The sudo password (for every node whose privilege asks for one and names no passwordEnv) from this descriptor. */
  readonly sudoPasswordFd?: number;
  readonly knownHosts: readonly string[];
  readonly sshConfig?: string;
  /** host:port → SHA-256 fingerprint of a certificate already known to be the server's. */
  readonly tlsPins: ReadonlyMap<string, string>;
  readonly tlsCa?: string;
  readonly stoppedMaxAgeSeconds?: number;
  /** export ansible [DIR]: where to write (default ansible/ beside the cluster file). */
  readonly exportDir?: string;
  readonly verdict?: Verdict;
  /** verdict: the judged command's exit code, the backup's artifact/where/start, list mode. */
  readonly exitCode?: number | null;
  readonly artifact?: string;
  readonly nonce?: string;
  readonly where?: string;
  readonly notBefore?: number;
  readonly list: boolean;
  readonly onlineWaitSeconds?: number;
  /** report: save it to this file (said on stderr) instead of printing it. */
  readonly out?: string;
}

export class UsageError extends Error {}

export const USAGE = `usage: ucd-upgrade <plan|status|check STEP|run STEP|report|preflight|trust|export ansible [DIR]> [options]
  STEP is the step's number (1-${STEPS.length}) or id (${STEPS.map((s) => s.id).join(', ')})
  --dir DIR                   the folder holding ucd-cluster.json (default: the current folder)
  --node N                    only this node of the step
  --json                      one event per line on stdout
  --confirm WHAT              agree beforehand to: ${CONFIRMATIONS.join(', ')} (repeatable)
  --wait-processes            step 2: wait for running processes instead of cancelling them
  --ucd-user USER             the UCD user; its password from --ucd-password-env NAME or --ucd-password-fd N
  --ucd-token-env NAME        a UCD auth token from the environment variable NAME
  --sudo-password-fd N        the sudo password from descriptor N (else from the variable privilege.passwordEnv names)
  --known-hosts FILE          trusted SSH host keys (repeatable; default ~/.ssh/known_hosts); unknown keys are refused
  --ssh-config FILE           OpenSSH client config (default ~/.ssh/config)
  --tls-fingerprint HOST:PORT=SHA256   a known certificate of a UCD server or the load balancer (repeatable)
  --tls-ca FILE               extra CA certificates (PEM)
  --stopped-max-age SECONDS   how old step 5's proof may be when the installer starts (default 300)
  --verbose                   the steps' log on stderr
  --out FILE                  report: save the report to FILE (default: print it)
  preflight                   the read-only pre-flight; its report beside the cluster file (exit 1 when it fails)
  trust                       every SSH host key and TLS certificate the run will meet, read-only; accepts nothing
                              (exit 3 when one is not known, 1 when one is changed, revoked or not reachable)
  export ansible [DIR]        write an Ansible inventory and playbook (default DIR: ansible/ beside the cluster file);
                              with --known-hosts, --ssh-config, --ucd-user, --ucd-password-env NAME, --online-wait SECONDS
  verdict ${VERDICTS.join('|')}   the runbook's judgement of a probe's output on stdin (used by the exported playbook)
exit: 0 done, 1 failed, 2 blocked by a gate (or the run is owned elsewhere), 3 waiting for a person`;

const VALUED = new Set(['nonce', 'exit', 'artifact', 'where', 'not-before', 'online-wait', 'dir', 'node', 'confirm', 'ucd-user', 'ucd-password-env', 'ucd-password-fd', 'ucd-token-env', 'sudo-password-fd', 'known-hosts', 'ssh-config', 'tls-fingerprint', 'tls-ca', 'stopped-max-age', 'out']);
const SWITCHES = new Set(['json', 'verbose', 'wait-processes', 'list']);
/** Flags someone might try to pass a secret with: refused with the safe way instead. */
const SECRET_VALUES = new Set(['ucd-password', 'password', 'ucd-token', 'token', 'passphrase', 'sudo-password']);

export function stepFrom(text: string): StepId {
  if (/^\d+$/.test(text)) {
    const def = STEPS[Number(text) - 1];
    if (def) return def.id;
  } else if (isStepId(text)) return text;
  throw new UsageError(`There is no step "${text}": give its number (1-${STEPS.length}) or id (${STEPS.map((s) => s.id).join(', ')}).`);
}

export function parseArgs(argv: readonly string[], cwd: string): CliArgs {
  const positional: string[] = [];
  const flags = new Map<string, string[]>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) {
      positional.push(a);
      continue;
    }
    const eq = a.indexOf('=');
    const name = a.slice(2, eq > 0 ? eq : undefined);
    if (SECRET_VALUES.has(name)) {
      throw new UsageError(`--${name} is not accepted: a secret on the command line is visible to every user of this machine (ps, shell history). Put it in an environment variable and pass its name (--ucd-password-env NAME, --ucd-token-env NAME) or a file descriptor (--ucd-password-fd N).`);
    }
    if (SWITCHES.has(name) && eq < 0) {
      flags.set(name, ['true']);
      continue;
    }
    if (!VALUED.has(name)) throw new UsageError(`Unknown option ${a}.`);
    const value = eq > 0 ? a.slice(eq + 1) : argv[++i];
    if (value === undefined) throw new UsageError(`${a} needs a value.`);
    flags.set(name, [...(flags.get(name) ?? []), value]);
  }
  const one = (n: string) => flags.get(n)?.at(-1);
  const [cmd, stepText, ...extra] = positional;
  if (!cmd || !(COMMANDS as readonly string[]).includes(cmd)) throw new UsageError(cmd ? `Unknown command "${cmd}".` : 'No command given.');
  const command = cmd as Command;
  const needsStep = command === 'check' || command === 'run';
  let subject: { exportDir?: string; verdict?: Verdict } = {};
  if (command === 'export') {
    if (stepText !== 'ansible') throw new UsageError(`export ${stepText ?? ''}: the only export is "ansible" (export ansible [DIR]).`);
    if (extra.length > 1) throw new UsageError(`Unexpected argument "${extra[1]}".`);
    subject = extra[0] !== undefined ? { exportDir: extra[0] } : {};
  } else if (command === 'verdict') {
    if (!(VERDICTS as readonly string[]).includes(stepText ?? '') || extra.length) throw new UsageError(`verdict takes one of ${VERDICTS.join(', ')}.`);
    subject = { verdict: stepText as Verdict };
  } else {
    if (needsStep && !stepText) throw new UsageError(`${command} needs a STEP.`);
    if ((!needsStep && stepText !== undefined) || extra.length) throw new UsageError(`Unexpected argument "${needsStep ? extra[0] : stepText}".`);
  }
  const confirm = new Set<Confirmation>();
  for (const c of flags.get('confirm') ?? []) {
    if (!(CONFIRMATIONS as readonly string[]).includes(c)) throw new UsageError(`--confirm ${c}: nothing of that name is asked; the confirmations are ${CONFIRMATIONS.join(', ')}.`);
    confirm.add(c as Confirmation);
  }
  const tlsPins = new Map<string, string>();
  for (const p of flags.get('tls-fingerprint') ?? []) {
    const m = /^([^=\s]+):(\d+)=(.+)$/.exec(p);
    if (!m) throw new UsageError(`--tls-fingerprint ${p}: expected HOST:PORT=SHA256 (as openssl x509 -fingerprint -sha256 prints it).`);
    tlsPins.set(`${m[1].toLowerCase()}:${m[2]}`, m[3]);
  }
  const int = (n: string): number | undefined => {
    const v = one(n);
    if (v === undefined) return undefined;
    if (!/^\d+$/.test(v)) throw new UsageError(`--${n} must be a whole number; got "${v}".`);
    return Number(v);
  };
  const envName = (n: string): string | undefined => {
    const v = one(n);
    if (v !== undefined && !/^[A-Za-z_][A-Za-z0-9_]*$/.test(v)) throw new UsageError(`--${n} takes the NAME of an environment variable, not its value.`);
    return v;
  };
  return {
    command,
    ...(needsStep ? { step: stepFrom(stepText) } : {}),
    ...(one('node') !== undefined ? { node: one('node') } : {}),
    dir: one('dir') ?? cwd,
    json: flags.has('json'),
    verbose: flags.has('verbose'),
    confirm,
    waitProcesses: flags.has('wait-processes'),
    ...(one('ucd-user') !== undefined ? { ucdUser: one('ucd-user') } : {}),
    ...(envName('ucd-password-env') !== undefined ? { ucdPasswordEnv: envName('ucd-password-env') } : {}),
    ...(int('ucd-password-fd') !== undefined ? { ucdPasswordFd: int('ucd-password-fd') } : {}),
    ...(envName('ucd-token-env') !== undefined ? { ucdTokenEnv: envName('ucd-token-env') } : {}),
    ...(int('sudo-password-fd') !== undefined ? { sudoPasswordFd: int('sudo-password-fd') } : {}),
    knownHosts: flags.get('known-hosts') ?? [],
    ...(one('ssh-config') !== undefined ? { sshConfig: one('ssh-config') } : {}),
    tlsPins,
    ...(one('tls-ca') !== undefined ? { tlsCa: one('tls-ca') } : {}),
    ...(int('stopped-max-age') !== undefined ? { stoppedMaxAgeSeconds: int('stopped-max-age') } : {}),
    ...subject,
    // Ansible hands an async task's missing rc over as an empty string: no exit code.
    ...(one('exit') !== undefined ? { exitCode: one('exit') === '' ? null : int('exit') } : {}),
    ...(one('artifact') !== undefined ? { artifact: one('artifact') } : {}),
    ...(one('nonce') !== undefined ? { nonce: one('nonce') } : {}),
    ...(one('where') !== undefined ? { where: one('where') } : {}),
    ...(int('not-before') !== undefined ? { notBefore: int('not-before') } : {}),
    ...(int('online-wait') !== undefined ? { onlineWaitSeconds: int('online-wait') } : {}),
    list: flags.has('list'),
    ...(one('out') !== undefined ? { out: path.resolve(cwd, one('out')!) } : {}),
  };
}
