// ucd-upgrade: the runbook from a terminal or a pipeline. The same cluster file, the same journal
// (under the same owner lock) and the same core Runner as the editor; only the dialogs differ:
// every confirmation is a flag given beforehand, and nothing is ever asked.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CLUSTER_FILE_NAME, loadCluster } from '../core/cluster/load';
import type { Cluster } from '../core/cluster/types';
import { Journal, mask as maskSecrets, type JournalReadIssue } from '../core/journal/journal';
import type { JournalEvent, Target } from '../core/journal/events';
import { describeOwner } from '../core/journal/owner';
import { replaceDurably } from '../core/journal/durable';
import { renderReport } from '../core/journal/report';
import { RunLog } from '../core/journal/transcript';
import { SecretValues } from '../core/journal/secrets';
import { DEFAULT_GATE_OPTIONS, type GateOptions } from '../core/runbook/gates';
import { runPhase } from '../core/runbook/phase';
import { completionNotice } from '../core/runbook/notices';
import { ProgressPace } from '../core/runbook/progress';
import { describeTarget, runRefusals, Runner, targetNodes, type Result } from '../core/runbook/runner';
import { journalPath, RunSession } from '../core/runbook/session';
import { nodesOf, reduceJournal, targetKey } from '../core/runbook/state';
import { STEPS, stepDef } from '../core/runbook/steps';
import { deriveRunbook, type StepView } from '../core/runbook/view';
import { nodeDescription, stepDescription } from '../core/runbook/rowText';
import { HostKeyPolicy } from '../core/remote/hostKeys';
import { LocalTransport } from '../core/remote/local';
import { SshPool, targetFromNode } from '../core/remote/ssh';
import { buildStepTable } from '../core/steps/table';
import { sudoPasswordsFromEnv } from '../core/remote/sudoPasswords';
import { credentialsFor, UcdRestClient, type UcdCredentials } from '../core/ucd/rest/client';
import { MemoryPinStore, normalizeFingerprint, type TlsTrust } from '../core/ucd/rest/tls';
import { parseArgs, UsageError, USAGE, type CliArgs } from './args';
import { HeadlessDialogs } from './dialogs';
import { findingsOf, runPreflight, type PreflightResult } from '../core/preflight/run';
import { renderPreflightReport } from '../core/preflight/report';
import { fetchLoginPage } from '../core/ucd/loginPage';
import type { HostKeyQuestion } from '../core/remote/interaction';
import { exportAnsibleTo, judge } from './exportCommands';
import { collectTrust, describeItem, summarize } from '../core/trust';
import { formatKnownHostsLine } from '../core/remote/knownHosts';

export const EXIT = { done: 0, failed: 1, blocked: 2, waiting: 3 } as const;

const out = (line: string) => process.stdout.write(`${line}\n`);
const err = (line: string) => process.stderr.write(`${line}\n`);

function loadClusterFile(dir: string): Cluster {
  const file = path.join(dir, CLUSTER_FILE_NAME);
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new UsageError(`Cannot read ${file}: ${(e as Error).message}. Run in the folder that holds ${CLUSTER_FILE_NAME}, or give it with --dir.`);
  }
  const r = loadCluster(text);
  if (!r.ok) {
    throw new UsageError(`${file} has problems; nothing was done:\n${r.problems.map((p) => `  ${JSON.stringify(p)}`).join('\n')}`);
  }
  return r.cluster;
}

function gateOptions(args: CliArgs): GateOptions {
  return args.stoppedMaxAgeSeconds !== undefined ? { ...DEFAULT_GATE_OPTIONS, stoppedMaxAgeMs: args.stoppedMaxAgeSeconds * 1000 } : DEFAULT_GATE_OPTIONS;
}

/** The run as it is on disk, read without the lock and without writing: plan, status, report. */
function readRun(cluster: Cluster, dir: string, opts: GateOptions): { events: readonly JournalEvent[]; views: StepView[]; issues: readonly JournalReadIssue[]; file: string } {
  const file = journalPath(cluster, dir);
  const journal = Journal.read(file);
  const state = reduceJournal(journal.events, cluster);
  return { events: journal.events, views: deriveRunbook(cluster, state, Date.now(), opts, runPhase(journal.events, cluster)), issues: journal.issues, file };
}

function plan(cluster: Cluster, args: CliArgs): number {
  const opts = gateOptions(args);
  const { events } = readRun(cluster, args.dir, opts);
  const state = reduceJournal(events, cluster);
  STEPS.forEach((def, i) => {
    const nodes = nodesOf(def, cluster);
    const gates = runRefusals(cluster, state, Date.now(), opts, { step: def.id });
    if (args.json) {
      out(JSON.stringify({ event: 'plan', number: i + 1, id: def.id, title: def.title, nodes, runs: def.action, checks: def.check, gates }));
      return;
    }
    out(`${i + 1}. ${def.title} [${def.id}] — ${nodes.length ? nodes.join(', ') : 'the cluster'}`);
    out(`   run:   ${def.action}`);
    out(`   check: ${def.check}`);
    out(`   gates: ${gates.length ? gates.join('; ') : 'none open now'}`);
  });
  return EXIT.done;
}

function status(cluster: Cluster, args: CliArgs): number {
  const { views } = readRun(cluster, args.dir, gateOptions(args));
  for (const v of views) {
    if (args.json) {
      out(JSON.stringify({ event: 'status', number: v.number, id: v.def.id, state: v.state, summary: v.summary, reasons: v.reasons, nodes: v.nodes.map((n) => ({ node: n.node, state: n.state, detail: n.detail })) }));
      continue;
    }
    // The tree's own words ("not needed: …", "passed 14 s — 3/3 nodes …"); --json keeps the state ids.
    out(`${v.number}. ${v.def.title}: ${stepDescription(v)}`);
    for (const n of v.nodes) out(`   ${n.node}: ${nodeDescription(n)}`);
  }
  return EXIT.done;
}

/** The same report as the editor's: printed, or saved with --out (written whole, then said where). */
function report(cluster: Cluster, args: CliArgs): number {
  const run = readRun(cluster, args.dir, gateOptions(args));
  const markdown = renderReport({
    cluster, events: run.events, views: run.views, readIssues: run.issues, generatedAt: new Date(),
    operator: { user: os.userInfo().username, machine: os.hostname() }, journalFile: path.basename(run.file),
    ...(args.out !== undefined ? { savedTo: args.out } : {}),
  });
  if (args.out === undefined) {
    out(markdown);
    return EXIT.done;
  }
  try {
    replaceDurably(args.out, `${markdown}\n`);
  } catch (e) {
    err(`failed: the report could not be saved to ${args.out}: ${(e as Error).message}; nothing was written. Choose another --out.`);
    return EXIT.failed;
  }
  err(`report saved to ${args.out}`);
  return EXIT.done;
}

function readFd(fd: number): string {
  const text = fs.readFileSync(fd, 'utf8');
  return text.replace(/\r?\n$/, '');
}

/** The UCD credential from the environment or a descriptor, masked in the journal from the moment it is read. */
function ucdCredentials(args: CliArgs, secrets: SecretValues): UcdCredentials | undefined {
  const fromEnv = (name: string): string => {
    const v = process.env[name];
    if (!v) throw new UsageError(`The environment variable ${name} (named by the command line) is not set or empty.`);
    return v;
  };
  let c: UcdCredentials | undefined;
  if (args.ucdTokenEnv) c = { kind: 'token', token: fromEnv(args.ucdTokenEnv) };
  else if (args.ucdUser !== undefined) {
    if (args.ucdPasswordEnv === undefined && args.ucdPasswordFd === undefined) throw new UsageError('--ucd-user needs its password from --ucd-password-env NAME or --ucd-password-fd N.');
    const password = args.ucdPasswordEnv !== undefined ? fromEnv(args.ucdPasswordEnv) : readFd(args.ucdPasswordFd!);
    c = { kind: 'basic', user: args.ucdUser, password };
  }
  if (c?.kind === 'basic') {
    secrets.add(c.password);
    secrets.add(Buffer.from(`${c.user}:${c.password}`).toString('base64'));
  }
  if (c?.kind === 'token') secrets.add(c.token);
  return c;
}

function homePath(p: string): string {
  return p.startsWith('~/') ? path.join(os.homedir(), p.slice(2)) : p;
}

function seconds(ms: number): string {
  return ms < 10_000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms / 1000)} s`;
}

/**
 * Journal events as they are appended: one JSON line each on stdout with --json (the very records
 * of the journal), and a line per node on stderr for a person watching.
 */
function follow(session: RunSession, args: CliArgs): { dispose(): void; flush(): void } {
  let seen = session.journal.events.length;
  const startedAt = new Map<string, number>();
  const flush = () => {
    const events = session.journal.events;
    for (; seen < events.length; seen++) {
      const e = events[seen];
      if (e.type !== 'started' && e.type !== 'finished' && e.type !== 'refused' && e.type !== 'interrupted' && e.type !== 'noted') continue;
      if (args.json) out(JSON.stringify(e));
      const who = `[${e.node ?? 'cluster'}]`;
      const step = `${STEPS.findIndex((s) => s.id === e.step) + 1}. ${stepDef(e.step).title}`;
      if (e.type === 'started') {
        startedAt.set(e.id, Date.parse(e.ts));
        err(`${who} ${step}: ${e.kind} started`);
      } else if (e.type === 'finished') {
        const t0 = startedAt.get(e.id);
        const took = t0 !== undefined ? ` in ${seconds(Date.parse(e.ts) - t0)}` : '';
        err(`${who} ${step}: ${e.kind} ${e.verdict}${took}${e.evidence.length ? ` — ${e.evidence.join('; ')}` : ''}${e.hint ? `\n${who}   next: ${e.hint}` : ''}`);
      } else if (e.type === 'refused') {
        err(`${who} ${step}: ${e.request} refused — ${e.reasons.join('; ')}`);
      } else if (e.type === 'interrupted') {
        err(`${who} ${step}: was running when its owner went away; marked interrupted`);
      }
    }
  };
  const sub = session.onDidChange(flush);
  return { dispose: () => sub.dispose(), flush };
}

/** The SSH pool (known host keys only), the TLS trust (given pins and CA only) and the UCD client. */
async function connections(cluster: Cluster, args: CliArgs, credentials: UcdCredentials | undefined, ca: string | undefined, unknownHostKey: (q: HostKeyQuestion) => void) {
  const pool = new SshPool({
    hostKeys: new HostKeyPolicy({
      knownHostsFiles: (args.knownHosts.length ? args.knownHosts : ['~/.ssh/known_hosts']).map(homePath),
      // Nothing is ever accepted here, so nothing is stored: an empty store.
      storeFile: os.devNull,
      prompt: async (q) => {
        unknownHostKey(q);
        return 'cancel';
      },
    }),
    secrets: { get: async () => undefined, store: async () => undefined, delete: async () => undefined, ask: async () => undefined },
    sshConfigFile: args.sshConfig !== undefined ? homePath(args.sshConfig) : path.join(os.homedir(), '.ssh', 'config'),
  });
  const pins = new MemoryPinStore();
  for (const [hostPort, fp] of args.tlsPins) await pins.set(hostPort, normalizeFingerprint(fp));
  const trust: TlsTrust = {
    pins,
    sessionPins: new Map(),
    ...(ca !== undefined ? { ca } : {}),
    prompt: async (c) => {
      err(`[tls] ${c.host}:${c.port} presented a certificate that is not trusted (${c.reason}), SHA-256 ${c.fingerprint256}; not connecting. If it is the server's, pass --tls-fingerprint ${c.host}:${c.port}=${c.fingerprint256}`);
      return 'cancel';
    },
  };
  let client: UcdRestClient | undefined;
  const rest = () => {
    if (!credentials) throw new Error(`no UCD credential was given: pass --ucd-user USER --ucd-password-env NAME (or --ucd-token-env NAME) for ${cluster.ucd.url}`);
    client ??= new UcdRestClient({ baseUrl: cluster.ucd.url, credentials: credentialsFor(cluster.ucd.url, credentials), pins: trust.pins, prompt: trust.prompt, ...(trust.ca ? { ca: trust.ca } : {}), credentialName: cluster.ucd.credential });
    return client;
  };
  return { pool, trust, rest };
}

/**
 * The trust pass headless: the same list the editor shows, printed; nothing is ever accepted. For
 * each unknown one it says how to trust it here (a known_hosts line, a --tls-fingerprint).
 */
async function trust(cluster: Cluster, args: CliArgs): Promise<number> {
  const ca = args.tlsCa !== undefined ? fs.readFileSync(args.tlsCa, 'utf8') : undefined;
  const { pool, trust: tls } = await connections(cluster, args, undefined, ca, () => undefined);
  const items = await collectTrust(cluster, { pool, tls });
  for (const i of items) {
    if (args.json) {
      // The raw key blob is what the fingerprint says; not for the log.
      out(JSON.stringify({ event: 'trust', ...i }, (k, v: unknown) => (k === 'blob' ? undefined : v)));
      continue;
    }
    out(describeItem(i));
    if (i.status !== 'unknown') continue;
    if (i.kind === 'ssh' && i.blob) out(`  to trust it, after comparing: add this line to ~/.ssh/known_hosts (or a --known-hosts file): ${formatKnownHostsLine(i.host, i.port, i.blob)}`);
    if (i.kind === 'tls' && i.certificate) out(`  to trust it, after comparing: --tls-fingerprint ${i.host.toLowerCase()}:${i.port}=${i.certificate.fingerprint256}`);
  }
  const sum = summarize(items);
  const line = `trust: ${items.length} endpoints: ${sum.known} known, ${sum.unknown} not known, ${sum.refused} changed or revoked, ${sum.unreachable} not reachable`;
  if (sum.refused || sum.unreachable) {
    err(`failed: ${line}`);
    return EXIT.failed;
  }
  if (sum.unknown) {
    err(`waiting for a person: ${line}; nothing was accepted (headless never accepts)`);
    return EXIT.waiting;
  }
  err(`done: ${line}`);
  return EXIT.done;
}

/** A new file, never over an earlier one: two reports in the same second get -2, -3, ... */
function writeNew(base: string, ext: string, text: string): string {
  for (let n = 1; ; n++) {
    const file = `${base}${n > 1 ? `-${n}` : ''}${ext}`;
    try {
      fs.writeFileSync(file, text, { flag: 'wx' });
      return file;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
  }
}

/**
 * The read-only pre-flight, as the editor runs it: one round trip per node, UCD's server list, the
 * load balancer. Recorded in the journal when this process may write it; a report beside the file.
 */
async function preflight(cluster: Cluster, args: CliArgs): Promise<number> {
  const secrets = new SecretValues();
  const credentials = ucdCredentials(args, secrets);
  const ca = args.tlsCa !== undefined ? fs.readFileSync(args.tlsCa, 'utf8') : undefined;
  const dialogs = new HeadlessDialogs(args.confirm, args.waitProcesses, err);
  const { pool, trust, rest } = await connections(cluster, args, credentials, ca, (q) => dialogs.unknownHostKey(q));
  const hide = (text: string) => maskSecrets(text, secrets.mask());
  const packageBytes = cluster.package.kind === 'local' && fs.existsSync(cluster.package.file) ? fs.statSync(cluster.package.file).size : undefined;
  let result: PreflightResult;
  try {
    result = await runPreflight(cluster, {
      transportFor: async (n) => pool.transport(targetFromNode(n)),
      local: () => new LocalTransport(),
      servers: (signal) => rest().servers(signal),
      loginPage: (url, signal) => fetchLoginPage(url, trust, signal ? { signal } : {}),
      ...(packageBytes !== undefined ? { packageBytes } : {}),
      onExec: (node, _script, stdout, stderr, code) => args.verbose && err(`  [${node}] pre-flight probe exit ${code}\n${hide(stdout)}${stderr ? `\n${hide(stderr)}` : ''}`),
    });
  } finally {
    await pool.closeAll().catch(() => undefined);
  }
  const findings = findingsOf(result);
  const session = RunSession.open(cluster, args.dir, secrets.mask);
  let recorded: string;
  try {
    if (session.role.kind === 'follower') recorded = `not recorded: the run is owned by ${describeOwner(session.role.owner)}`;
    else {
      session.recordPreflight(result.verdict, findings);
      recorded = `recorded in ${path.relative(args.dir, session.journalFile)}`;
    }
  } finally {
    session.dispose();
  }
  const file = writeNew(path.join(args.dir, `${cluster.name}-preflight-${result.at.replace(/\.\d+Z$/, 'Z').replace(/[-:]/g, '')}`), '.md', hide(renderPreflightReport(result)));
  if (args.json) out(JSON.stringify({ event: 'preflight', ...result, report: file }));
  else for (const f of findings) out(f);
  const code = result.verdict === 'failed' ? EXIT.failed : EXIT.done;
  err(`pre-flight ${result.verdict}; ${recorded}; report ${file}${code ? '. Step 1 is blocked until a pre-flight passes or is skipped with a reason.' : ''}`);
  return code;
}

async function act(cluster: Cluster, args: CliArgs): Promise<number> {
  const target: Target = args.node !== undefined ? { step: args.step!, node: args.node } : { step: args.step! };
  const secrets = new SecretValues();
  const credentials = ucdCredentials(args, secrets);
  const ca = args.tlsCa !== undefined ? fs.readFileSync(args.tlsCa, 'utf8') : undefined;
  const session = RunSession.open(cluster, args.dir, secrets.mask);
  if (session.role.kind === 'follower') {
    err(`blocked: this run is owned by ${describeOwner(session.role.owner)}; nothing was done. Run it there, or close that window first (this command never takes a live run over).`);
    session.dispose();
    return EXIT.blocked;
  }
  if (session.role.previous) err(`took the run over from ${describeOwner(session.role.previous)}, which is gone`);
  for (const t of session.interruptedOnOpen) err(`${describeTarget(t)} was running when its owner went away: marked interrupted; check it again`);
  const events = follow(session, args);
  const dialogs = new HeadlessDialogs(args.confirm, args.waitProcesses, err);
  const { pool, trust, rest } = await connections(cluster, args, credentials, ca, (q) => dialogs.unknownHostKey(q));
  const local = new LocalTransport();
  // The sudo password from the variable each node's privilege.passwordEnv names, or --sudo-password-fd; masked from the moment it is read.
  const sudoPasswords = sudoPasswordsFromEnv(process.env, (v) => secrets.add(v), args.sudoPasswordFd !== undefined ? () => readFd(args.sudoPasswordFd!) : undefined);
  const handlers = buildStepTable({ dialogs, transportFor: async (n) => pool.transport(targetFromNode(n)), local: () => local, rest, trust, sudoPasswords });
  // The same transcripts as the editor's, beside the journal; stderr shows warnings (all with --verbose).
  const log = new RunLog(secrets.mask, (level, line) => {
    if (level === 'warn' || level === 'error' || (args.verbose && level === 'info')) err(`  ${line}`);
  });
  log.attach(session.journalFile, cluster.nodes.map((n) => n.name));
  // Where each node is, for a person watching: a new phase at once, the same one every few seconds.
  const pace = new ProgressPace();
  const progress = (t: Required<Target>, text: string) => {
    if (pace.due(t.node, text)) err(`  [${t.node}] ${text}`);
  };
  const runner = new Runner(session, { handlers, log, gates: () => gateOptions(args), progress });
  const from = session.journal.events.length;
  const abort = new AbortController();
  const onSignal = () => {
    err('interrupted: stopping what runs (the journal records it)');
    abort.abort();
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const t0 = Date.now();
  let result: Result;
  try {
    result = await runner.perform({ kind: args.command === 'run' ? 'run' : 'check', target }, abort.signal);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    events.flush();
    events.dispose();
    await pool.closeAll().catch(() => undefined);
    session.dispose();
  }
  const complete = completionNotice(session.journal.events, from, cluster);
  if (complete) err(complete.message);
  return verdict(session, target, result, dialogs, args, Date.now() - t0);
}

function verdict(session: RunSession, target: Target, result: Result, dialogs: HeadlessDialogs, args: CliArgs, ms: number): number {
  const what = `${args.command} ${describeTarget(target)}`;
  const done = (code: number, line: string) => {
    if (args.json) out(JSON.stringify({ event: 'exit', code, result }));
    err(line);
    return code;
  };
  switch (result.kind) {
    case 'refused':
      return done(EXIT.blocked, `blocked: ${what} — ${result.reasons.join('; ')}`);
    case 'busy':
      return done(EXIT.blocked, `blocked: ${result.running}`);
    case 'unavailable':
      return done(EXIT.failed, `failed: ${result.reason}`);
    case 'error':
      return done(EXIT.failed, `failed: ${what} — ${result.message}`);
    case 'done':
    case 'proven':
      break;
  }
  if (dialogs.waiting.length) {
    return done(EXIT.waiting, `waiting for a person: ${what} needs ${dialogs.waiting.map((w) => w.need).join(' and ')}; nothing of that was done. ${dialogs.waiting.map((w) => w.why).join(' ')}`);
  }
  const state = session.state();
  const keys = stepDef(target.step).scope === 'cluster' ? [targetKey(target.step)] : targetNodes(session.cluster, target).map((n) => targetKey(target.step, n));
  const bad = keys.filter((k) => {
    const s = state.get(k)?.status;
    return s === undefined || s === 'failed' || s === 'interrupted' || s === 'running';
  });
  if (bad.length) return done(EXIT.failed, `failed: ${what} after ${seconds(ms)} — not passed: ${bad.map((k) => `${k} (${state.get(k)?.status ?? 'no result'})`).join(', ')}`);
  return done(EXIT.done, `done: ${what} in ${seconds(ms)}`);
}

export async function main(argv: readonly string[]): Promise<number> {
  let args: CliArgs;
  try {
    args = parseArgs(argv, process.cwd());
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    err(`${e.message}\n${USAGE}`);
    return EXIT.failed;
  }
  try {
    const cluster = loadClusterFile(args.dir);
    switch (args.command) {
      case 'plan': return plan(cluster, args);
      case 'status': return status(cluster, args);
      case 'report': return report(cluster, args);
      case 'check':
      case 'run': return await act(cluster, args);
      case 'export': return exportAnsibleTo(cluster, args, homePath, out);
      case 'preflight': return await preflight(cluster, args);
      case 'trust': return await trust(cluster, args);
      case 'verdict': return judge(cluster, args, out, err);
    }
  } catch (e) {
    err(e instanceof UsageError ? e.message : `failed: ${(e as Error).message}`);
    return EXIT.failed;
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e: unknown) => {
      err(`failed: ${e instanceof Error ? e.stack ?? e.message : String(e)}`);
      process.exit(EXIT.failed);
    },
  );
}
