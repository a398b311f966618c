// Steps 8, 10 and 11: start upgraded servers with their service command and wait until each is
// really online at the target version (process of this install, HTTPS port listening, login page
// showing the version), and the final proof that every node and the load balancer agree.
import type { Rights } from '../remote/privilege';
import type { ClusterNode } from '../cluster/types';
import { probeNode, type NodeProbe } from '../probes/node';
import { finding, type ActionContext, type Finding, type RunAndCheck } from '../runbook/actions';
import { nodesOf } from '../runbook/state';
import { stepDef, type StepId } from '../runbook/steps';
import { inPlainWords } from '../remote/errorWords';
import { RemoteError, type Transport } from '../remote/transport';
import type { NodeFacts } from '../status/facts';
import { factsFromProbe } from '../status/fromProbe';
import { fetchLoginPage } from '../ucd/loginPage';
import { ASKED_AGAIN, WAITING_FOR_TRUST } from '../trust/waiting';
import type { TlsTrust } from '../ucd/rest/tls';
import { waitingText } from '../runbook/progress';
import { loggedExec } from './loggedExec';
import { maintenanceOff, type MaintenanceDeps } from './maintenance';
import { controlCommand, serviceControl, systemctlFailure } from './systemd';
import { maskedByRun, unmaskForStart } from './systemdMask';

export interface OnlineDeps {
  transportFor(node: ClusterNode, rights?: Rights): Promise<Transport>;
  readonly trust: TlsTrust;
  /** How long a start may take before the step fails; UCD can need minutes. Default 10 min. */
  readonly startTimeoutMs?: number;
  readonly pollMs?: number;
}

export type Online =
  | { readonly ok: true; readonly evidence: string[]; readonly facts: NodeFacts }
  /** `waitingFor`: what a start waits on now, in the words of its countdown ("the login page"). */
  | { readonly ok: false; readonly why: string; readonly hint: string; readonly facts: NodeFacts; readonly untrusted?: true; readonly waitingFor?: string };

export function nodeUrl(node: ClusterNode): string {
  const host = node.host.includes(':') ? `[${node.host}]` : node.host;
  return `https://${host}:${node.httpsPort}/`;
}

/** One look at a node: is its server online at `version`? (Also step 9's proof for the first node.) */
export async function onlineAt(ctx: Pick<ActionContext, 'cluster' | 'signal'>, deps: Pick<OnlineDeps, 'transportFor' | 'trust'>, node: ClusterNode, version: string): Promise<Online> {
  const { probe } = await probeNode(() => deps.transportFor(node, 'root'), node, { appdataDir: ctx.cluster.sharedAppdata, signal: ctx.signal });
  const facts = factsFromProbe(probe);
  if (probe.kind === 'failed') return { ok: false, why: probe.message, hint: probe.hint, facts, waitingFor: 'an answer' };
  if (probe.kind === 'unsupported') return { ok: false, why: `${node.name}: ${probe.reason}`, hint: 'Check the node by hand, then Confirm Manually.', facts };
  const server = probe.processes.kind === 'ok' ? probe.processes.servers[0] : undefined;
  if (!server) return { ok: false, why: 'no server process of this install', hint: 'Look at var/log/deployserver.out on the node.', facts, waitingFor: 'the server process' };
  const listening = facts.listening?.includes(node.httpsPort);
  if (!listening) return { ok: false, why: `server process ${server.pid} runs, :${node.httpsPort} not listening yet`, hint: 'The server may still be starting; look at var/log/deployserver.out.', facts, waitingFor: `port ${node.httpsPort}` };
  const page = await fetchLoginPage(nodeUrl(node), deps.trust, { signal: ctx.signal });
  // A certificate not accepted yet is no fault of the node: the step waits for trust, and the next Run asks again.
  if (!page.ok && page.kind === 'tls-declined') {
    return { ok: false, untrusted: true, why: `${WAITING_FOR_TRUST}: the certificate of ${node.name}:${node.httpsPort} was not accepted, so its login page was not read`, hint: `The server was started. Compare the fingerprint with ${node.name}'s certificate (openssl x509 -fingerprint -sha256 on the node). ${ASKED_AGAIN}`, facts };
  }
  if (!page.ok) return { ok: false, why: `login page: ${page.error}`, hint: page.hint, facts, waitingFor: 'the login page' };
  const withWeb: NodeFacts = { ...facts, ...(page.version ? { webVersion: page.version } : {}) };
  if (page.version !== version) {
    return { ok: false, why: `login page shows ${page.version ? `v. ${page.version}` : 'no version'} (HTTP ${page.status}), expected ${version}`, hint: 'The server may still be starting, or this node was not upgraded.', facts: withWeb, waitingFor: `the login page to show ${version}` };
  }
  return { ok: true, evidence: [`server process ${server.pid}`, `listening on :${node.httpsPort}`, `login page v. ${page.version}`], facts: withWeb };
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(new Error('cancelled'));
    const t = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => {
      clearTimeout(t);
      reject(new Error('cancelled'));
    }, { once: true });
  });
}

function targets(ctx: ActionContext, step: StepId): ClusterNode[] {
  const names = nodesOf(stepDef(step), ctx.cluster).filter((n) => ctx.target.node === undefined || n === ctx.target.node);
  return ctx.cluster.nodes.filter((n) => names.includes(n.name));
}

/** A fresh probe of the node's conf/installed.version: is this install on the target version? */
async function upgradedNow(ctx: ActionContext, deps: OnlineDeps, step: StepId, node: ClusterNode): Promise<{ ok: true; evidence: string; probe: NodeProbe } | { ok: false; why: string; hint: string; facts: NodeFacts }> {
  const { probe } = await probeNode(() => deps.transportFor(node, 'root'), node, { appdataDir: ctx.cluster.sharedAppdata, signal: ctx.signal, extraUnits: maskedByRun(ctx.session.journal.events, node.name) });
  const facts = factsFromProbe(probe);
  if (probe.kind === 'failed') return { ok: false, why: `${node.name}: cannot tell whether it is upgraded: ${probe.message}`, hint: probe.hint, facts };
  if (probe.kind === 'unsupported') return { ok: false, why: `${node.name}: cannot tell whether it is upgraded: ${probe.reason}`, hint: 'Check conf/installed.version on the node by hand.', facts };
  const target = ctx.cluster.targetVersion;
  if (facts.version !== target) {
    const install = step === 'startFirst' ? 'step 7' : 'step 9';
    return { ok: false, why: `${node.name}: conf/installed.version is ${facts.version ?? 'unreadable'}, not the target ${target}: not upgraded`, hint: `Run the installer on ${node.name} (${install}) first, then start it.`, facts };
  }
  return { ok: true, evidence: `conf/installed.version ${facts.version} (the target): upgraded, starting it`, probe };
}

async function startNode(ctx: ActionContext, deps: OnlineDeps, step: StepId, node: ClusterNode): Promise<Finding> {
  const target = { step, node: node.name };
  const tag = `[${node.name}]`;
  try {
    // Its own fresh proof, whatever the journal says: only an upgraded install may start (an old
    // server joining the upgraded database, or one mid-install, breaks it).
    const upgraded = await upgradedNow(ctx, deps, step, node);
    if (!upgraded.ok) {
      ctx.log.error(`${tag} not started: ${upgraded.why}`);
      return finding('failed', ['the server was NOT started', upgraded.why], upgraded.hint, upgraded.facts);
    }
    ctx.log.info(`${tag} ${upgraded.evidence}`);
    // What step 5 masked for the upgrade is unmasked first, whichever way the server starts.
    const unmasked = await unmaskForStart(ctx, node, upgraded.probe, (n) => deps.transportFor(n, 'root'), target);
    if (!unmasked.ok) {
      return finding('failed', ['the server was NOT started', ...unmasked.lines], `Unmask the unit on ${node.name} by hand (systemctl unmask --runtime), then Run again.`);
    }
    // Already up at the target (started by hand, or an earlier Run whose end this window missed):
    // that is what this step is for, so it passes; a second start would only fail on the running server.
    const already = await onlineAt(ctx, deps, node, ctx.cluster.targetVersion);
    if (already.ok) {
      ctx.log.info(`${tag} already online at ${ctx.cluster.targetVersion}: ${already.evidence.join(', ')}; not started again`);
      return finding('passed', [...already.evidence, 'already online at the target version: not started again', ...unmasked.lines], undefined, already.facts);
    }
    const control = serviceControl(node, upgraded.probe, 'start');
    if (control.kind === 'refused') {
      return finding('failed', ['the server was NOT started', ...unmasked.lines, control.why], control.hint);
    }
    // systemctl needs root; the service scripts run as the install's owner.
    const t = await deps.transportFor(node, control.kind === 'systemctl' ? 'root' : 'owner');
    // The cluster file's service command runs as the user wrote it: that is its purpose.
    ctx.log.info(`${tag} start (${control.why})`);
    ctx.progress?.(node.name, `starting the server on ${node.name} (${control.kind === 'systemctl' ? `systemctl start ${control.unit}` : 'start command'})`);
    const r = await loggedExec(t, controlCommand(control, 'start'), ctx.log, { timeoutMs: 5 * 60_000, signal: ctx.signal });
    const how = control.kind === 'systemctl' ? `systemctl start ${control.unit}` : 'start command';
    if (r.code !== 0) {
      const f = control.kind === 'systemctl' ? systemctlFailure(node.name, controlCommand(control, 'start'), r.code, `${r.stdout}\n${r.stderr}`) : undefined;
      return finding('failed', [...unmasked.lines, f?.message ?? `${how} exited ${r.code ?? r.signal}`], f?.hint ?? 'Read its output in the log and var/log/deployserver.out on the node.');
    }
    const limitMs = deps.startTimeoutMs ?? 10 * 60_000;
    const since = Date.now();
    const deadline = since + limitMs;
    let last = '';
    for (;;) {
      const o = await onlineAt(ctx, deps, node, ctx.cluster.targetVersion);
      if (!o.ok) ctx.progress?.(node.name, waitingText(o.waitingFor ?? 'the server to come online', node.name, Date.now() - since, limitMs));
      if (o.ok) {
        ctx.log.info(`${tag} online: ${o.evidence.join(', ')}`);
        return finding('passed', [...o.evidence, `started with ${how}`, ...unmasked.lines], undefined, o.facts);
      }
      if (o.untrusted) {
        ctx.log.warn(`${tag} ${o.why}`);
        return finding('failed', [`started with ${how}`, o.why], o.hint, o.facts);
      }
      if (o.why !== last) ctx.log.info(`${tag} waiting: ${o.why}`);
      last = o.why;
      if (Date.now() > deadline) {
        return finding('failed', [`not online after ${Math.round((deps.startTimeoutMs ?? 600_000) / 1000)} s: ${o.why}`], o.hint, o.facts);
      }
      await sleep(deps.pollMs ?? 3_000, ctx.signal);
    }
  } catch (e) {
    const hint = e instanceof RemoteError ? e.hint : ctx.signal.aborted ? 'Cancelled: Check the node to see where it got to.' : 'Read the log and run again.';
    return finding('failed', [inPlainWords((e as Error).message, node.name)], hint);
  }
}

async function checkNode(ctx: ActionContext, deps: OnlineDeps, node: ClusterNode, extra?: { lbOk: boolean; lbLine: string }): Promise<Finding> {
  const o = await onlineAt(ctx, deps, node, ctx.cluster.targetVersion);
  const installed = o.facts.version;
  if (!o.ok) {
    return finding('failed', [o.why, ...(installed ? [`installed.version ${installed}`] : [])], o.hint, o.facts);
  }
  if (installed !== ctx.cluster.targetVersion) {
    return finding('failed', [...o.evidence, `but conf/installed.version is ${installed ?? 'unreadable'}`], 'Run the installer on this node.', o.facts);
  }
  if (extra && !extra.lbOk) {
    return finding('failed', [...o.evidence, extra.lbLine], 'Check the load balancer configuration and its health checks.', { ...o.facts, loadBalancer: 'unknown' });
  }
  return finding('passed', [...o.evidence, `installed.version ${installed}`, ...(extra ? [extra.lbLine] : [])], undefined, extra ? { ...o.facts, loadBalancer: 'in-rotation' } : o.facts);
}

export function startHandlers(step: 'startFirst' | 'startOthers', deps: OnlineDeps): RunAndCheck {
  return {
    // Nodes start one after another: a cluster's servers joining at once all race for the database.
    run: async (ctx) => {
      for (const node of targets(ctx, step)) {
        if (ctx.signal.aborted) break;
        await ctx.act({ step, node: node.name }, 'run', () => startNode(ctx, deps, step, node));
      }
    },
    check: async (ctx) => {
      await ctx.eachNode(targets(ctx, step), step, 'check', (n) => checkNode(ctx, deps, n));
    },
  };
}

/** `maintenance`: UCD's maintenance mode goes off once a Run has shown every node on the target. */
export function verifyVersionsHandlers(deps: OnlineDeps, maintenance?: MaintenanceDeps): RunAndCheck {
  const all = async (ctx: ActionContext, kind: 'run' | 'check') => {
    const lb = await fetchLoginPage(ctx.cluster.loadBalancerUrl, deps.trust, { signal: ctx.signal });
    const lbOk = lb.ok && lb.version === ctx.cluster.targetVersion;
    const lbLine = lb.ok ? `load balancer answers v. ${lb.version ?? '?'} (HTTP ${lb.status})` : `load balancer: ${lb.error}`;
    ctx.log.info(`[lb] ${lbLine}`);
    await ctx.eachNode(targets(ctx, 'verifyVersions'), 'verifyVersions', kind, (n) => checkNode(ctx, deps, n, { lbOk, lbLine }));
    if (kind === 'run' && maintenance && ctx.session.phase().kind === 'complete') await maintenanceOff(ctx, maintenance);
  };
  return { run: (ctx) => all(ctx, 'run'), check: (ctx) => all(ctx, 'check') };
}
