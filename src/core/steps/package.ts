// Step 3: put the installation package on every node and extract it. Where it lands is a pure
// function of the cluster file, so the installer step finds it without any stored state.
// The package version is read from the archive name (ibm-ucd-<version>.zip) and, when present,
// from ibm-ucd-install/conf/installed.version — both *inferred* from how packages are named.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Cluster, ClusterNode } from '../cluster/types';
import { compareVersions } from '../cluster/version';
import type { ActionContext, StepHandlers } from '../runbook/actions';
import { sh } from '../remote/quote';
import { RemoteError, type Transport } from '../remote/transport';
import { loggedExec } from './loggedExec';

export const INSTALLER_FOLDER = 'ibm-ucd-install';
const ARCHIVE = /\.(zip|tar\.gz|tgz)$/i;

export interface PackageLayout {
  /** Folder on the node that holds the archive and receives the extraction. */
  readonly stage: string;
  /** The archive on the node, or undefined when the package is already extracted there. */
  readonly archive?: string;
  /** The extracted folder that holds install-server.sh. */
  readonly installerDir: string;
}

export function packageLayout(cluster: Cluster): PackageLayout {
  const pkg = cluster.package;
  if (pkg.kind === 'local') {
    const stage = `/tmp/ucd-upgrade-${cluster.targetVersion}`;
    return { stage, archive: `${stage}/${path.basename(pkg.file)}`, installerDir: `${stage}/${INSTALLER_FOLDER}` };
  }
  if (ARCHIVE.test(pkg.path)) {
    const stage = `${path.posix.dirname(pkg.path)}/ucd-upgrade-${cluster.targetVersion}`;
    return { stage, archive: pkg.path, installerDir: `${stage}/${INSTALLER_FOLDER}` };
  }
  const dir = pkg.path.replace(/\/+$/, '');
  return { stage: dir, installerDir: dir.endsWith(`/${INSTALLER_FOLDER}`) ? dir : `${dir}/${INSTALLER_FOLDER}` };
}

/** `ibm-ucd-7.1.2.0.zip` → 7.1.2.0 */
export function versionFromName(file: string): string | undefined {
  return /(\d+\.\d+\.\d+\.\d+(?:\.\d+)?)(?=\.(?:zip|tar\.gz|tgz)$|$)/i.exec(path.basename(file))?.[1];
}

export interface PackageProbe {
  readonly installScript: boolean;
  readonly version?: string;
  readonly availableKb?: number;
}

export function parsePackageProbe(stdout: string): PackageProbe {
  const kv = new Map(stdout.split('\n').filter((l) => l.includes('=')).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1).trim()] as const));
  const kb = kv.get('avail_kb');
  return {
    installScript: kv.get('script') === 'yes',
    ...(kv.get('version') ? { version: kv.get('version') } : {}),
    ...(kb && /^\d+$/.test(kb) ? { availableKb: Number(kb) } : {}),
  };
}

function probeScript(layout: PackageLayout) {
  return sh`d=${layout.installerDir}
if [ -f "$d/install-server.sh" ]; then echo script=yes; else echo script=no; fi
echo "version=$(sed -n 's/^installed\\.version=//p' "$d/conf/installed.version" 2>/dev/null | head -n 1)"`;
}

function diskScript(stage: string) {
  return sh`mkdir -p ${stage} || exit 10
echo "avail_kb=$(df -Pk ${stage} | awk 'NR==2 {print $4}')"`;
}

function extractScript(layout: PackageLayout, archive: string) {
  return sh`cd ${layout.stage} || exit 10
rm -rf ${layout.installerDir}
case ${archive} in
  *.zip|*.ZIP) if command -v unzip >/dev/null 2>&1; then unzip -q -o ${archive}; else python3 -m zipfile -e ${archive} . ; fi ;;
  *) tar -xzf ${archive} ;;
esac`;
}

type Uploader = Transport & { upload(local: string, remote: string, o?: { onProgress?: (sent: number, total: number) => void; signal?: AbortSignal }): Promise<unknown> };

function canUpload(t: Transport): t is Uploader {
  return typeof (t as Partial<Uploader>).upload === 'function';
}

export interface PackageDeps {
  transportFor(node: ClusterNode): Promise<Transport>;
}

class StepFailure extends Error {
  constructor(message: string, readonly hint: string) {
    super(message);
  }
}

/** Judges an extracted package: the script is there and it is the target version. */
function judge(cluster: Cluster, layout: PackageLayout, p: PackageProbe): { verdict: 'passed' | 'warning' | 'failed'; evidence: string[]; hint?: string } {
  if (!p.installScript) {
    return { verdict: 'failed', evidence: [`no install-server.sh in ${layout.installerDir}`], hint: 'Run step 3 to extract the package, or fix package in the cluster file.' };
  }
  const named = versionFromName(cluster.package.kind === 'local' ? cluster.package.file : cluster.package.path);
  const version = p.version ?? named;
  if (!version) {
    return { verdict: 'warning', evidence: [`${layout.installerDir}/install-server.sh present`, 'package version unknown (no version in its name or conf/installed.version)'], hint: 'Make sure this is the package for the target version before you run the installer.' };
  }
  if (compareVersions(version, cluster.targetVersion) !== 0) {
    return { verdict: 'failed', evidence: [`package is ${version}, target is ${cluster.targetVersion}`], hint: 'Use the package of the target version (or fix targetVersion in the cluster file).' };
  }
  return { verdict: 'passed', evidence: [`${layout.installerDir}/install-server.sh present, package ${version}`] };
}

async function prepareNode(ctx: ActionContext, t: Transport, node: ClusterNode): Promise<void> {
  const { cluster, log, signal } = ctx;
  const layout = packageLayout(cluster);
  const local = cluster.package.kind === 'local' ? cluster.package.file : undefined;
  const size = local ? fs.statSync(local).size : undefined;

  const disk = parsePackageProbe((await loggedExec(t, diskScript(layout.stage).text, log, { describe: `free space in ${layout.stage}`, signal, timeoutMs: 60_000 })).stdout);
  if (size !== undefined && disk.availableKb !== undefined) {
    // The archive plus its extraction: about three times the archive is a safe margin.
    const needKb = Math.ceil((size * 3) / 1024);
    if (disk.availableKb < needKb) {
      throw new StepFailure(`only ${Math.round(disk.availableKb / 1024)} MiB free in ${layout.stage}, need about ${Math.round(needKb / 1024)} MiB`, `Free space on ${node.name} or choose another package location.`);
    }
  }
  if (local && layout.archive) {
    if (!canUpload(t)) throw new StepFailure(`cannot upload to ${node.name}: its transport has no file transfer`, 'Copy the package there yourself and use package.remotePath.');
    let lastTenth = -1;
    log.info(`[${t.label}] uploading ${local} (${Math.round((size ?? 0) / 1048576)} MiB) to ${layout.archive}`);
    await t.upload(local, layout.archive, {
      signal,
      onProgress: (sent, total) => {
        const tenth = Math.floor((sent / Math.max(total, 1)) * 10);
        if (tenth !== lastTenth) {
          lastTenth = tenth;
          log.info(`[${t.label}] upload ${tenth * 10}%`);
        }
      },
    });
  }
  if (layout.archive) {
    const r = await loggedExec(t, extractScript(layout, layout.archive).text, log, { describe: `extract ${layout.archive} in ${layout.stage}`, signal, timeoutMs: 30 * 60_000 });
    if (r.code !== 0) throw new StepFailure(`extracting ${layout.archive} failed (exit ${r.code}): ${r.stderr.trim().split('\n').slice(-2).join(' | ')}`, 'Check the archive and the free space, then run again.');
  }
}

async function verifyNode(ctx: ActionContext, t: Transport): Promise<ReturnType<typeof judge>> {
  const layout = packageLayout(ctx.cluster);
  const r = await loggedExec(t, probeScript(layout).text, ctx.log, { describe: `look for ${layout.installerDir}/install-server.sh`, signal: ctx.signal, timeoutMs: 60_000 });
  return judge(ctx.cluster, layout, parsePackageProbe(r.stdout));
}

function nodesOf(ctx: ActionContext): ClusterNode[] {
  return ctx.cluster.nodes.filter((n) => ctx.target.node === undefined || n.name === ctx.target.node);
}

async function perNode(ctx: ActionContext, deps: PackageDeps, kind: 'run' | 'check'): Promise<void> {
  await Promise.all(nodesOf(ctx).map(async (node) => {
    const target = { step: 'package' as const, node: node.name };
    const id = ctx.session.begin(target, kind);
    try {
      if (node.os === 'windows') throw new StepFailure('Windows nodes are not supported by this step yet', 'Extract the package by hand, then Confirm Manually with a note.');
      const t = await deps.transportFor(node);
      if (kind === 'run') await prepareNode(ctx, t, node);
      const v = await verifyNode(ctx, t);
      ctx.session.finish(id, target, kind, v.verdict, v.evidence, v.hint);
    } catch (e) {
      const hint = e instanceof StepFailure || e instanceof RemoteError ? e.hint : 'Read the log and run again.';
      ctx.log.error(`[${node.name}] package: ${(e as Error).message}`);
      ctx.session.finish(id, target, kind, 'failed', [(e as Error).message], hint);
    }
  }));
}

export function packageHandlers(deps: PackageDeps): StepHandlers {
  return { run: (ctx) => perNode(ctx, deps, 'run'), check: (ctx) => perNode(ctx, deps, 'check') };
}
