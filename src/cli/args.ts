// The command line's words. Secrets never come as values here: only the NAME of an environment
// variable or the number of a file descriptor that holds one.
import * as path from 'node:path';
import { CONFIRMATIONS, type Confirmation } from '../core/steps/table';
import { STEPS, isStepId, type StepId } from '../core/runbook/steps';

export const COMMANDS = ['plan', 'status', 'check', 'run', 'report'] as const;
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
  readonly knownHosts: readonly string[];
  readonly sshConfig?: string;
  /** host:port → SHA-256 fingerprint of a certificate already known to be the server's. */
  readonly tlsPins: ReadonlyMap<string, string>;
  readonly tlsCa?: string;
  readonly stoppedMaxAgeSeconds?: number;
  /** report: save it to this file (said on stderr) instead of printing it. */
  readonly out?: string;
}

export class UsageError extends Error {}

export const USAGE = `usage: ucd-upgrade <plan|status|check STEP|run STEP|report> [options]
  STEP is the step's number (1-${STEPS.length}) or id (${STEPS.map((s) => s.id).join(', ')})
  --dir DIR                   the folder holding ucd-cluster.json (default: the current folder)
  --node N                    only this node of the step
  --json                      one event per line on stdout
  --confirm WHAT              agree beforehand to: ${CONFIRMATIONS.join(', ')} (repeatable)
  --wait-processes            step 2: wait for running processes instead of cancelling them
  --ucd-user USER             the UCD user; its password from --ucd-password-env NAME or --ucd-password-fd N
  --ucd-token-env NAME        a UCD auth token from the environment variable NAME
  --known-hosts FILE          trusted SSH host keys (repeatable; default ~/.ssh/known_hosts); unknown keys are refused
  --ssh-config FILE           OpenSSH client config (default ~/.ssh/config)
  --tls-fingerprint HOST:PORT=SHA256   a known certificate of a UCD server or the load balancer (repeatable)
  --tls-ca FILE               extra CA certificates (PEM)
  --stopped-max-age SECONDS   how old step 5's proof may be when the installer starts (default 300)
  --verbose                   the steps' log on stderr
  --out FILE                  report: save the report to FILE (default: print it)
exit: 0 done, 1 failed, 2 blocked by a gate (or the run is owned elsewhere), 3 waiting for a person`;

const VALUED = new Set(['dir', 'node', 'confirm', 'ucd-user', 'ucd-password-env', 'ucd-password-fd', 'ucd-token-env', 'known-hosts', 'ssh-config', 'tls-fingerprint', 'tls-ca', 'stopped-max-age', 'out']);
const SWITCHES = new Set(['json', 'verbose', 'wait-processes']);
/** Flags someone might try to pass a secret with: refused with the safe way instead. */
const SECRET_VALUES = new Set(['ucd-password', 'password', 'ucd-token', 'token', 'passphrase']);

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
  if (needsStep && !stepText) throw new UsageError(`${command} needs a STEP.`);
  if ((!needsStep && stepText !== undefined) || extra.length) throw new UsageError(`Unexpected argument "${needsStep ? extra[0] : stepText}".`);
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
    knownHosts: flags.get('known-hosts') ?? [],
    ...(one('ssh-config') !== undefined ? { sshConfig: one('ssh-config') } : {}),
    tlsPins,
    ...(one('tls-ca') !== undefined ? { tlsCa: one('tls-ca') } : {}),
    ...(int('stopped-max-age') !== undefined ? { stoppedMaxAgeSeconds: int('stopped-max-age') } : {}),
    ...(one('out') !== undefined ? { out: path.resolve(cwd, one('out')!) } : {}),
  };
}
