// Steps 7 and 9: run install-server.sh against the existing install. The installer touches the
// shared database, so it starts only after every server that must be down was proven stopped at
// that very moment (a fresh probe, recorded), never on an older check or a person's word.
// Guided mode drives the prompts over a pty and hands the live session to a terminal the moment
// something unknown appears; silent mode writes install.properties and closes standard input.
import type { ClusterNode } from '../cluster/types';
import { probeNode } from '../probes/node';
import type { ActionContext, StepHandlers } from '../runbook/actions';
import { warnings as gateWarnings } from '../runbook/gates';
import { sh } from '../remote/quote';
import type { PtySession } from '../remote/ssh';
import { RemoteError, type Transport } from '../remote/transport';
import type { NodeFacts } from '../status/facts';
import { factsFromProbe } from '../status/fromProbe';
import { InstallerDriver, type InstallerEvent } from '../ucd/installer/driver';
import { installerCommand, installPropertiesPath, InstallerInputError } from '../ucd/installer/command';
import { silentInstallProperties } from '../ucd/installer/properties';
import { summarizeEvents, type InstallerOutcome } from '../ucd/installer/summary';
import { recordedStaging, StagedInstallerRefusal, verifyStagedInstaller, type PackageLayout } from './package';
import { checkOneNode, type StoppedOptions } from './stopped';

type InstallStep = 'installFirst' | 'installOthers';

export interface InstallerDeps {
  transportFor(node: ClusterNode): Promise<Transport>;
  /** Gives the live installer session to the engineer (a terminal); resolves when they have it. */
  handOver(node: string, session: PtySession, backlog: string, why: string): Promise<void>;
  readonly stoppedOptions?: StoppedOptions;
  /** How long the installer may be silent at a question before it counts as unknown. */
  readonly quietMs?: number;
  /** The whole run, schema upgrade included; default two hours. */
  readonly timeoutMs?: number;
}

type PtyTransport = Transport & { execPty(command: string, o?: { signal?: AbortSignal }): Promise<PtySession> };

const BACKLOG_CHARS = 64 * 1024;

class StepFailure extends Error {
  constructor(message: string, readonly hint: string, readonly facts: NodeFacts = {}) {
    super(message);
  }
}

function nodesFor(ctx: ActionContext, step: InstallStep): ClusterNode[] {
  const first = ctx.cluster.firstNode;
  return ctx.cluster.nodes.filter((n) => (step === 'installFirst' ? n.name === first : n.name !== first) && (ctx.target.node === undefined || n.name === ctx.target.node));
}

/**
 * The doc's warning made executable: re-probe, now, every node that must be down — all of them
 * before the first node's upgrade, the other nodes before theirs (the first is back online then).
 */
async function proveStopped(ctx: ActionContext, step: InstallStep, deps: InstallerDeps, installing: string): Promise<string[]> {
  const mustBeDown = ctx.cluster.nodes.filter((n) => step === 'installFirst' || n.name !== ctx.cluster.firstNode);
  ctx.log.info(`[installer] re-proving ${mustBeDown.map((n) => n.name).join(', ')} stopped before the installer starts`);
  const evals = await Promise.all(mustBeDown.map((n) => checkOneNode(ctx, n, deps.transportFor, deps.stoppedOptions ?? {}, 'verifyStopped')));
  return evals
    .filter((e) => e.verdict !== 'passed')
    // While the other nodes upgrade, one that the node itself shows on the target version may be
    // back online, like the first node; the node being installed and old-version nodes may not.
    .filter((e) => step === 'installFirst' || e.node === installing || e.facts.version !== ctx.cluster.targetVersion)
    .map((e) => `${e.node} is not proven stopped: ${e.evidence.join('; ')}`);
}

function logEvent(ctx: ActionContext, node: string, e: InstallerEvent): void {
  const tag = `[${node}]`;
  switch (e.type) {
    case 'progress': ctx.log.info(`${tag} ${e.line}`); break;
    case 'answer': ctx.log.info(`${tag} answered ${e.prompt}: ${e.value === '' ? '(Enter)' : e.value} — ${e.note}`); break;
    case 'info': ctx.log.info(`${tag} ${e.line}`); break;
    case 'unknownPrompt': ctx.log.warn(`${tag} ${e.message}`); break;
    case 'refusal': ctx.log.error(`${tag} ${e.message} — ${e.hint}`); break;
    case 'done': (e.success ? ctx.log.info : ctx.log.error).call(ctx.log, `${tag} ${e.message}`); break;
  }
}

async function runGuided(ctx: ActionContext, deps: InstallerDeps, node: ClusterNode, t: Transport, script: string): Promise<InstallerOutcome> {
  if (typeof (t as Partial<PtyTransport>).execPty !== 'function') {
    throw new StepFailure(`guided mode needs a terminal on ${node.name}, and its transport has none`, 'Set "installerMode": "silent" in the cluster file, or run the installer by hand and Confirm Manually.');
  }
  ctx.log.info(`[${node.name}] $ ${script}`);
  const pty = await (t as PtyTransport).execPty(script, { signal: ctx.signal });
  let backlog = '';
  let handedOver = false;
  const driver = new InstallerDriver({
    cluster: ctx.cluster,
    node,
    mode: 'guided',
    ...(deps.quietMs !== undefined ? { quietMs: deps.quietMs } : {}),
    onEvent: (e) => {
      logEvent(ctx, node.name, e);
      if (e.type === 'answer') pty.write(e.text);
      if (e.type === 'unknownPrompt' && !handedOver) {
        handedOver = true;
        void deps.handOver(node.name, pty, backlog, e.message);
      }
      // A refusal while the installer still waits: end it. Enter would mean "go on" to it.
      if (e.type === 'refusal' && e.installerWaiting && !handedOver) pty.close();
    },
  });
  pty.onData((chunk) => {
    backlog = (backlog + chunk).slice(-BACKLOG_CHARS);
    driver.feed(chunk);
  });
  const timer = setTimeout(() => {
    ctx.log.error(`[${node.name}] the installer ran longer than ${Math.round((deps.timeoutMs ?? 7_200_000) / 60_000)} min; hanging up`);
    pty.close();
  }, deps.timeoutMs ?? 2 * 3_600_000);
  try {
    const exit = await pty.exit;
    ctx.log.info(`[${node.name}] installer exit ${exit.code ?? exit.signal ?? '?'}`);
    driver.end(exit.code);
  } finally {
    clearTimeout(timer);
    driver.dispose();
  }
  return summarizeEvents(driver.events, ctx.cluster.targetVersion);
}

async function runSilent(ctx: ActionContext, deps: InstallerDeps, node: ClusterNode, t: Transport, script: string, packageDir: string): Promise<InstallerOutcome> {
  const props = installPropertiesPath(packageDir, 'linux');
  const current = await t.exec(sh`cat ${props} 2>/dev/null || true`.text, { timeoutMs: 60_000, signal: ctx.signal });
  const updated = silentInstallProperties(current.stdout, node.installDir);
  const written = await t.exec(sh`cat > ${props}`.text, { stdin: updated, timeoutMs: 60_000, signal: ctx.signal });
  if (written.code !== 0) throw new StepFailure(`could not write ${props}: ${written.stderr.trim()}`, 'Check that the SSH user may write to the extracted package folder.');
  ctx.log.info(`[${node.name}] ${props}: nonInteractive=true, install.server.dir=${node.installDir}`);
  const driver = new InstallerDriver({ cluster: ctx.cluster, node, mode: 'silent', lineEnding: '\n', onEvent: (e) => logEvent(ctx, node.name, e) });
  try {
    // The driver logs the output line by line (cleaned); here only the command and its end.
    ctx.log.info(`[${node.name}] $ ${script}`);
    const r = await t.exec(script, {
      stdin: '',
      timeoutMs: deps.timeoutMs ?? 2 * 3_600_000,
      signal: ctx.signal,
      onStdout: (c) => driver.feed(c),
      onStderr: (c) => driver.feed(c),
    });
    ctx.log.info(`[${node.name}] installer exit ${r.code ?? r.signal} after ${(r.durationMs / 1000).toFixed(1)} s`);
    driver.end(r.code);
  } finally {
    driver.dispose();
  }
  return summarizeEvents(driver.events, ctx.cluster.targetVersion);
}

async function installNode(ctx: ActionContext, deps: InstallerDeps, step: InstallStep, node: ClusterNode, id: string): Promise<void> {
  const target = { step, node: node.name };
  const t = await deps.transportFor(node);
  // The staged tree is the one step 3 measured, in a folder only the SSH user can change.
  let layout: PackageLayout;
  try {
    layout = await verifyStagedInstaller(t, ctx.cluster, node, recordedStaging(ctx.session.journal.events, node.name), ctx);
  } catch (e) {
    if (!(e instanceof StagedInstallerRefusal)) throw e;
    ctx.log.error(`[${node.name}] ${e.message}`);
    ctx.session.finish(id, target, 'run', 'failed', ['the installer was NOT started', e.message], e.hint);
    return;
  }
  const cmd = installerCommand({ node, packageDir: layout.installerDir, fips: ctx.cluster.fips, mode: ctx.cluster.installerMode });
  const outcome = ctx.cluster.installerMode === 'silent'
    ? await runSilent(ctx, deps, node, t, cmd.script.text, layout.installerDir)
    : await runGuided(ctx, deps, node, t, cmd.script.text);

  if (outcome.kind === 'refused' || outcome.kind === 'aborted') {
    ctx.session.finish(id, target, 'run', 'failed', [outcome.message], outcome.hint, { installer: 'refused' });
    return;
  }
  if (outcome.kind === 'handed-over') {
    ctx.session.finish(id, target, 'run', 'failed', [`handed over at an unknown prompt and did not finish: ${outcome.prompt}`], 'Look at the terminal and the node; Check this step once the installer is done.', { installer: 'handed-over' });
    return;
  }
  // The installer said it succeeded; believe the node, not the message.
  const { probe } = await probeNode(() => Promise.resolve(t), node, { appdataDir: ctx.cluster.sharedAppdata, signal: ctx.signal });
  const facts = factsFromProbe(probe);
  const appdata = probe.kind === 'probed' && probe.version.kind === 'ok' && probe.version.appdata?.kind === 'found' ? probe.version.appdata.version : undefined;
  if (facts.version !== ctx.cluster.targetVersion) {
    ctx.session.finish(id, target, 'run', 'failed', [`the installer reported success, but conf/installed.version is ${facts.version ?? 'unreadable'}`], 'Read the installer output in the log and var/log on the node.', { ...facts, installer: 'failed' });
    return;
  }
  const evidence = [
    `upgraded ${outcome.from ?? ctx.cluster.currentVersion} → ${facts.version}`,
    ...(appdata ? [`shared appdata installed.version ${appdata}`] : []),
    outcome.schemaUpgraded ? 'database schema upgraded by this node' : 'no database upgrade on this node',
    ...(outcome.handedOver ? ['finished by hand in the terminal'] : []),
  ];
  // The first node upgrades the schema; the others must find it done (the doc's step 11).
  const schemaAsExpected = step === 'installFirst' ? outcome.schemaUpgraded : !outcome.schemaUpgraded;
  const hint = schemaAsExpected ? undefined : step === 'installFirst'
    ? 'The first node did not report a database upgrade: check ds_db_version in the database before going on.'
    : 'A later node upgraded the database schema: the first node\'s upgrade may not have reached the database. Check ds_db_version.';
  ctx.session.finish(id, target, 'run', schemaAsExpected ? 'passed' : 'warning', evidence, hint, { ...facts, installer: 'upgraded' });
}

async function run(ctx: ActionContext, deps: InstallerDeps, step: InstallStep): Promise<void> {
  for (const node of nodesFor(ctx, step)) {
    if (ctx.signal.aborted) return;
    const target = { step, node: node.name };
    const id = ctx.session.begin(target, 'run');
    try {
      const notStopped = await proveStopped(ctx, step, deps, node.name);
      if (notStopped.length) {
        for (const n of notStopped) ctx.log.error(`[installer] ${n}`);
        ctx.session.finish(id, target, 'run', 'failed', ['the installer was NOT started', ...notStopped], 'Stop every server (steps 4 and 5) and run again: a server touching the database during the upgrade breaks it.');
        return;
      }
      if (step === 'installFirst') for (const w of gateWarnings('installFirst', ctx.session.state())) ctx.log.warn(`[installer] ${w.reason}`);
      await installNode(ctx, deps, step, node, id);
    } catch (e) {
      const hint = e instanceof StepFailure || e instanceof RemoteError || e instanceof InstallerInputError ? e.hint : 'Read the log; check the node (installed.version, var/log) before running again.';
      ctx.log.error(`[${node.name}] installer: ${(e as Error).message}`);
      ctx.session.finish(id, target, 'run', 'failed', [(e as Error).message], hint, e instanceof StepFailure ? e.facts : { installer: 'failed' });
      return;
    }
    // A failed node stops the sequence: the next one would meet the same problem, or a worse one.
    const o = ctx.session.state().get(`${step}@${node.name}`);
    if (o?.status === 'failed') return;
  }
}

/** Check: the node's conf/installed.version (and appdata's) show the target version. */
async function check(ctx: ActionContext, deps: InstallerDeps, step: InstallStep): Promise<void> {
  await Promise.all(nodesFor(ctx, step).map(async (node) => {
    const target = { step, node: node.name };
    const id = ctx.session.begin(target, 'check');
    const { probe } = await probeNode(() => deps.transportFor(node), node, { appdataDir: ctx.cluster.sharedAppdata, signal: ctx.signal });
    const facts = factsFromProbe(probe);
    if (probe.kind !== 'probed') {
      ctx.session.finish(id, target, 'check', 'failed', [probe.kind === 'failed' ? probe.message : probe.reason], probe.kind === 'failed' ? probe.hint : 'Check by hand.', facts);
      return;
    }
    const ok = facts.version === ctx.cluster.targetVersion;
    ctx.session.finish(id, target, 'check', ok ? 'passed' : 'failed', [`conf/installed.version ${facts.version ?? 'unreadable'}`], ok ? undefined : 'Run the installer on this node.', ok ? { ...facts, installer: 'upgraded' } : facts);
  }));
}

export function installerHandlers(step: InstallStep, deps: InstallerDeps): StepHandlers {
  return { run: (ctx) => run(ctx, deps, step), check: (ctx) => check(ctx, deps, step) };
}
