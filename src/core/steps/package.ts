// Step 3: put the installation package on every node and extract it, in a folder no one but the
// SSH user can change: `$HOME/.ucd-upgrade-stage/<cluster>-<version>`, created fresh (0700, not a
// link, owned by the SSH user, with a home and parents no one else can write), checked again at
// every use. What was staged is measured on the node (the archive's sha256, a manifest hash of
// the installer tree) and recorded in the journal; the installer step re-checks both right
// before it starts (verifyStagedInstaller), so it never runs a script someone swapped in.
// The package version is read from the archive name (ibm-ucd-<version>.zip) and, when present,
// from ibm-ucd-install/conf/installed.version — both *inferred* from how packages are named.
import type { Rights } from '../remote/privilege';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Cluster, ClusterNode } from '../cluster/types';
import { compareVersions } from '../cluster/version';
import type { JournalEvent } from '../journal/events';
import { finding, type ActionContext, type ActionLog, type Finding, type RunAndCheck } from '../runbook/actions';
import { sh, type ShellScript } from '../remote/quote';
import { RemoteError, type Transport } from '../remote/transport';
import type { StagedPackage } from '../status/facts';
import { loggedExec } from './loggedExec';
import { formatBytes, formatProgress, UploadMeter, type UploadProgress } from './uploadProgress';
import { uploadText } from '../runbook/progress';

export const INSTALLER_FOLDER = 'ibm-ucd-install';
/** Under the SSH user's home on each node. */
export const STAGE_ROOT = '.ucd-upgrade-stage';
/** The one file of the tree the runbook itself rewrites (silent mode): its content is not hashed. */
const INSTALL_PROPERTIES = `${INSTALLER_FOLDER}/install.properties`;
const ARCHIVE = /\.(zip|tar\.gz|tgz)$/i;
const SHA256 = /^[0-9a-f]{64}$/;

export interface PackageLayout {
  /** Folder on the node that holds the archive and receives the extraction. */
  readonly stage: string;
  /** The archive on the node, or undefined when the package is already extracted there. */
  readonly archive?: string;
  /** The extracted folder that holds install-server.sh. */
  readonly installerDir: string;
  /** The runbook's own folder under the SSH user's home (holds the stages and the manifests). */
  readonly base: string;
  /** The tree's manifest as last recorded, kept to say what changed. */
  readonly manifest: string;
  /** true: the step creates the stage and checks it is the SSH user's alone; false: the engineer's extracted folder. */
  readonly owned: boolean;
}

/** `<cluster>-<version>`, with anything but letters, digits, `.`, `_` and `-` replaced. */
export function stageName(cluster: Pick<Cluster, 'name' | 'targetVersion'>): string {
  return `${cluster.name.replace(/[^A-Za-z0-9._-]/g, '_').replace(/^\.+/, '_')}-${cluster.targetVersion}`;
}

/** Where the package lands on a node whose SSH user's home resolves to `home`. */
export function packageLayout(cluster: Cluster, home: string): PackageLayout {
  const base = `${home.replace(/\/+$/, '')}/${STAGE_ROOT}`;
  const name = stageName(cluster);
  const manifest = `${base}/${name}.manifest`;
  const owned = (stage: string, archive: string): PackageLayout => ({ stage, archive, installerDir: `${stage}/${INSTALLER_FOLDER}`, base, manifest, owned: true });
  const pkg = cluster.package;
  if (pkg.kind === 'local') return owned(`${base}/${name}`, `${base}/${name}/${path.basename(pkg.file)}`);
  if (ARCHIVE.test(pkg.path)) return owned(`${base}/${name}`, pkg.path);
  const dir = pkg.path.replace(/\/+$/, '');
  return { stage: dir, installerDir: dir.endsWith(`/${INSTALLER_FOLDER}`) ? dir : `${dir}/${INSTALLER_FOLDER}`, base, manifest, owned: false };
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
  const kv = parseKv(stdout);
  const kb = kv.get('avail_kb');
  return {
    installScript: kv.get('script') === 'yes',
    ...(kv.get('version') ? { version: kv.get('version') } : {}),
    ...(kb && /^\d+$/.test(kb) ? { availableKb: Number(kb) } : {}),
  };
}

function parseKv(stdout: string): Map<string, string> {
  const kv = new Map<string, string>();
  for (const l of stdout.split('\n')) {
    const i = l.indexOf('=');
    if (i > 0 && !kv.has(l.slice(0, i))) kv.set(l.slice(0, i), l.slice(i + 1).trim());
  }
  return kv;
}

// --- what runs on the node -------------------------------------------------------------------

/**
 * Shell functions every script starts with. `refuse` prints the reason and exits 20: nothing
 * after it runs. own_dir is the rule for each folder the step creates; safe_chain the rule for
 * the home and every folder above it (replacing any of them would replace the stage).
 */
const GUARD = sh`refuse() { printf 'refused=%s\\n' "$*"; exit 20; }
uid=$(id -u) || refuse "cannot read the SSH user's uid"
owner_of() { stat -c %u -- "$1" 2>/dev/null; }
mode_of() { stat -c %a -- "$1" 2>/dev/null; }
own_dir() {
  if [ -L "$1" ]; then refuse "$1 is a symbolic link, not a folder of the SSH user"; fi
  [ -d "$1" ] || refuse "$1 is not a folder"
  o=$(owner_of "$1") || refuse "cannot read the owner of $1"
  [ "$o" = "$uid" ] || refuse "$1 belongs to $(stat -c %U -- "$1") (uid $o), not to the SSH user (uid $uid)"
  m=$(mode_of "$1")
  [ "$m" = 700 ] || refuse "$1 has mode $m, not 700: other users could change what is in it"
}
safe_chain() {
  p=$1
  while :; do
    o=$(owner_of "$p") && m=$(mode_of "$p") || refuse "cannot read the owner and mode of $p"
    if [ "$o" != 0 ] && [ "$o" != "$uid" ]; then refuse "$p belongs to uid $o: that user could replace the staging folder below it"; fi
    if [ $(( 0$m & 022 )) -ne 0 ]; then refuse "$p is writable by group or others (mode $m): they could replace the staging folder below it"; fi
    if [ "$p" = / ]; then break; fi
    p=$(dirname -- "$p")
  done
}
`;

/** The same rules for the runbook's other folders of the SSH user (the filesystem backup's). */
export const STAGE_GUARD = GUARD;

function locateScript(): ShellScript {
  return sh`${GUARD}[ -n "\${HOME:-}" ] || refuse "the SSH user has no HOME"
home=$(cd "$HOME" 2>/dev/null && pwd -P) || refuse "the SSH user's home $HOME is not a folder it can enter"
safe_chain "$home"
echo "home=$home"`;
}

function ensureBase(layout: PackageLayout): ShellScript {
  return sh`if [ ! -e ${layout.base} ] && [ ! -L ${layout.base} ]; then mkdir -m 700 -- ${layout.base} || refuse "cannot create "${layout.base}; fi
own_dir ${layout.base}
`;
}

function ownStage(layout: PackageLayout): ShellScript {
  return layout.owned ? sh`own_dir ${layout.stage}
` : sh``;
}

/** A fresh stage: an earlier one of ours is removed; anything else in its place is refused, untouched. */
function prepareScript(layout: PackageLayout): ShellScript {
  return sh`${GUARD}${ensureBase(layout)}s=${layout.stage}
if [ -e "$s" ] || [ -L "$s" ]; then
  own_dir "$s"
  rm -rf -- "$s" || refuse "cannot remove the earlier staging folder $s"
fi
mkdir -m 700 -- "$s" || refuse "cannot create $s"
own_dir "$s"
echo "avail_kb=$(df -Pk -- "$s" | awk 'NR==2 {print $4}')"`;
}

function hashScript(layout: PackageLayout, archive: string): ShellScript {
  // An archive the step uploaded must be a plain file of the SSH user in the stage; the
  // engineer's own archive (package.remotePath) may be anywhere, a link included.
  const uploaded = layout.owned && archive.startsWith(`${layout.stage}/`);
  return sh`${GUARD}own_dir ${layout.base}
${ownStage(layout)}a=${archive}
${uploaded ? sh`if [ -L "$a" ] || [ ! -f "$a" ]; then refuse "$a is not a plain file"; fi
[ "$(owner_of "$a")" = "$uid" ] || refuse "$a does not belong to the SSH user"
` : sh``}[ -r "$a" ] || refuse "$a is not there or not readable"
command -v sha256sum >/dev/null 2>&1 || refuse "sha256sum is not installed on the node (GNU coreutils)"
h=$(sha256sum < "$a") || refuse "cannot read $a"
echo "sha256=\${h%% *}"`;
}

function extractScript(layout: PackageLayout, archive: string): ShellScript {
  return sh`${GUARD}own_dir ${layout.base}
${ownStage(layout)}cd ${layout.stage} || exit 10
rm -rf ${layout.installerDir}
case ${archive} in
  *.zip|*.ZIP) if command -v unzip >/dev/null 2>&1; then unzip -q -o ${archive}; else python3 -m zipfile -e ${archive} . ; fi ;;
  *) tar -xzf ${archive} ;;
esac`;
}

/**
 * Measures the installer tree: a manifest of every entry (type, mode, owner, link target) and
 * every file's sha256, hashed. `record` keeps the manifest; `verify` compares it with the kept
 * one and prints the lines that differ. Then the probe: install-server.sh and the version.
 */
function inspectScript(layout: PackageLayout, mode: 'record' | 'verify'): ShellScript {
  const parent = path.posix.dirname(layout.installerDir);
  // Nothing staged yet is "no install-server.sh", not a refusal; anything else in the way is one.
  const absent = (p: string): ShellScript => sh`if [ ! -e ${p} ] && [ ! -L ${p} ]; then echo script=no; exit 0; fi
`;
  return sh`${GUARD}${mode === 'record' ? ensureBase(layout) : sh`${absent(layout.base)}own_dir ${layout.base}
`}${layout.owned ? absent(layout.stage) : sh``}${ownStage(layout)}d=${layout.installerDir}
if [ -L "$d" ]; then refuse "$d is a symbolic link, not the extracted folder"; fi
if [ ! -d "$d" ]; then echo script=no; exit 0; fi
${layout.owned ? sh`[ "$(owner_of "$d")" = "$uid" ] || refuse "$d does not belong to the SSH user"
` : sh``}command -v sha256sum >/dev/null 2>&1 || refuse "sha256sum is not installed on the node (GNU coreutils)"
find "$d" -maxdepth 0 -printf '' >/dev/null 2>&1 || refuse "find on the node has no -printf (GNU findutils is needed)"
cd ${parent} || refuse "cannot enter "${parent}
tmp=$(mktemp -- ${layout.base}/.manifest.XXXXXX) || refuse "cannot write in "${layout.base}
{ LC_ALL=C find ${INSTALLER_FOLDER} -printf '%y %m %U %G %p -> %l\\n' | LC_ALL=C sort
  LC_ALL=C find ${INSTALLER_FOLDER} -type f ! -path ${INSTALL_PROPERTIES} -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum
} > "$tmp"
h=$(sha256sum < "$tmp")
echo "tree=\${h%% *}"
echo "entries=$(LC_ALL=C find ${INSTALLER_FOLDER} | wc -l)"
mf=${layout.manifest}
${mode === 'record' ? sh`mv -f -- "$tmp" "$mf" || refuse "cannot keep the manifest in $mf"
` : sh`if [ -f "$mf" ] && ! cmp -s "$mf" "$tmp"; then
  k=$(sha256sum < "$mf"); echo "stored=\${k%% *}"
  diff -- "$mf" "$tmp" 2>/dev/null | grep '^[<>] ' | head -n 40 | sed 's/^/diff=/'
fi
rm -f -- "$tmp"
`}if [ -f "$d/install-server.sh" ]; then echo script=yes; else echo script=no; fi
echo "version=$(sed -n 's/^installed\\.version=//p' "$d/conf/installed.version" 2>/dev/null | head -n 1)"`;
}

// --- reading what the node said -------------------------------------------------------------

class StepFailure extends Error {
  constructor(message: string, readonly hint: string) {
    super(message);
  }
}

/** The installer step's refusal: the staged tree is not the one step 3 recorded. */
export class StagedInstallerRefusal extends Error {
  constructor(message: string, readonly hint: string) {
    super(message);
    this.name = 'StagedInstallerRefusal';
  }
}

const REFUSED_HINT = 'Nothing was staged or run. Remove or fix what is named (as that user or root), then run step 3 again: the runbook stages only in a folder no one but the SSH user can change.';

function refusal(stdout: string): string | undefined {
  return /^refused=(.*)$/m.exec(stdout)?.[1];
}

interface Inspection {
  readonly probe: PackageProbe;
  readonly tree?: string;
  readonly entries?: number;
  /** verify mode, when the tree differs and the kept manifest is the recorded one: what changed. */
  readonly changes?: readonly string[];
  readonly storedTree?: string;
}

export function parseInspection(stdout: string): Inspection {
  const kv = parseKv(stdout);
  const tree = kv.get('tree');
  const entries = kv.get('entries');
  const diff = stdout.split('\n').filter((l) => l.startsWith('diff=')).map((l) => l.slice(5));
  return {
    probe: parsePackageProbe(stdout),
    ...(tree && SHA256.test(tree) ? { tree } : {}),
    ...(entries && /^\d+$/.test(entries) ? { entries: Number(entries) } : {}),
    ...(kv.get('stored') ? { storedTree: kv.get('stored') } : {}),
    ...(diff.length ? { changes: describeTreeChanges(diff) } : {}),
  };
}

/**
 * `diff` lines of two manifests (`< old`, `> new`) as "path: what", one per path:
 * added, removed, content changed, or type/mode/owner changed.
 */
export function describeTreeChanges(diffLines: readonly string[]): string[] {
  const seen = new Map<string, { old: Set<string>; new: Set<string> }>();
  for (const line of diffLines) {
    const side = line.startsWith('< ') ? 'old' : line.startsWith('> ') ? 'new' : undefined;
    if (!side) continue;
    const body = line.slice(2);
    const hash = /^[0-9a-f]{64} [ *](.+)$/.exec(body);
    const entry = /^(\S) (\d+) (\d+) (\d+) (.+?) -> (.*)$/.exec(body);
    const file = hash?.[1] ?? entry?.[5];
    if (!file) continue;
    const rec = seen.get(file) ?? { old: new Set<string>(), new: new Set<string>() };
    rec[side].add(hash ? 'content' : 'entry');
    seen.set(file, rec);
  }
  return [...seen].map(([file, r]) => {
    const what = r.old.has('entry') && !r.new.has('entry') && !r.new.has('content') ? 'removed'
      : r.new.has('entry') && !r.old.has('entry') && !r.old.has('content') ? 'added'
      : r.old.has('entry') || r.new.has('entry') ? 'type, mode, owner or link changed'
      : 'content changed';
    return `${file}: ${what}`;
  });
}

async function sha256File(file: string, signal?: AbortSignal): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of fs.createReadStream(file, signal ? { signal } : {})) h.update(chunk as Buffer);
  return h.digest('hex');
}

type Uploader = Transport & {
  upload(local: string, remote: string, o?: { onProgress?: (sent: number, total: number) => void; signal?: AbortSignal; mode?: number; stallTimeoutMs?: number }): Promise<unknown>;
};

function canUpload(t: Transport): t is Uploader {
  return typeof (t as Partial<Uploader>).upload === 'function';
}

export interface PackageDeps {
  transportFor(node: ClusterNode, rights?: Rights): Promise<Transport>;
  /** An upload that gets no byte acknowledged for this long fails; default 60 s. */
  readonly uploadStallTimeoutMs?: number;
  /** Each node's upload progress as it runs (it is also logged). */
  onUploadProgress?(node: string, progress: UploadProgress): void;
}

interface Io {
  readonly log: ActionLog;
  readonly signal: AbortSignal;
}

/** The SSH user's home as the node resolves it (no links), checked, and the layout under it. */
async function locate(t: Transport, cluster: Cluster, node: ClusterNode, io: Io): Promise<PackageLayout> {
  const r = await loggedExec(t, locateScript().text, io.log, { describe: `find the SSH user's home on ${node.name} and check no one else can write to it`, signal: io.signal, timeoutMs: 60_000 });
  const why = refusal(r.stdout);
  if (why) throw new StepFailure(`refused to stage on ${node.name}: ${why}`, REFUSED_HINT);
  const home = parseKv(r.stdout).get('home');
  if (r.code !== 0 || !home?.startsWith('/')) throw new StepFailure(`could not find the SSH user's home on ${node.name} (exit ${r.code}): ${r.stderr.trim() || 'no output'}`, 'Check that the SSH user has a home folder on the node.');
  return packageLayout(cluster, home);
}

async function inspect(t: Transport, layout: PackageLayout, node: ClusterNode, mode: 'record' | 'verify', io: Io): Promise<Inspection> {
  const r = await loggedExec(t, inspectScript(layout, mode).text, io.log, { describe: `${mode === 'record' ? 'measure' : 'verify'} the installer tree ${layout.installerDir}`, signal: io.signal, timeoutMs: 30 * 60_000 });
  const why = refusal(r.stdout);
  if (why) throw new StepFailure(`refused on ${node.name}: ${why}`, REFUSED_HINT);
  if (r.code !== 0) throw new StepFailure(`could not measure ${layout.installerDir} on ${node.name} (exit ${r.code}): ${r.stderr.trim().split('\n').slice(-2).join(' | ')}`, 'Read the log, fix the cause and run step 3 again.');
  return parseInspection(r.stdout);
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

interface Prepared {
  readonly layout: PackageLayout;
  readonly archiveSha256?: string;
}

async function prepareNode(ctx: ActionContext, deps: PackageDeps, t: Transport, node: ClusterNode, localSha: () => Promise<string>): Promise<Prepared> {
  const { cluster, log, signal } = ctx;
  const layout = await locate(t, cluster, node, ctx);
  const local = cluster.package.kind === 'local' ? cluster.package.file : undefined;
  const size = local ? fs.statSync(local).size : undefined;

  if (layout.owned) {
    const r = await loggedExec(t, prepareScript(layout).text, log, { describe: `create a fresh staging folder ${layout.stage} (0700, the SSH user's) and read its free space`, signal, timeoutMs: 10 * 60_000 });
    const why = refusal(r.stdout);
    if (why) throw new StepFailure(`refused to stage on ${node.name}: ${why}`, REFUSED_HINT);
    if (r.code !== 0) throw new StepFailure(`could not create ${layout.stage} on ${node.name} (exit ${r.code}): ${r.stderr.trim() || 'no output'}`, 'Read the log, fix the cause and run step 3 again.');
    const disk = parsePackageProbe(r.stdout);
    if (size !== undefined && disk.availableKb !== undefined) {
      // The archive plus its extraction: about three times the archive is a safe margin.
      const needKb = Math.ceil((size * 3) / 1024);
      if (disk.availableKb < needKb) {
        throw new StepFailure(`only ${Math.round(disk.availableKb / 1024)} MiB free in ${layout.stage}, need about ${Math.round(needKb / 1024)} MiB`, `Free space in the SSH user's home on ${node.name}, then run step 3 again.`);
      }
    }
  }
  let archiveSha256: string | undefined;
  if (local && layout.archive) {
    if (!canUpload(t)) throw new StepFailure(`cannot upload to ${node.name}: its transport has no file transfer`, 'Copy the package there yourself and use package.remotePath.');
    const meter = new UploadMeter(size ?? 0);
    log.info(`[${t.label}] uploading ${local} (${formatBytes(size ?? 0)}) to ${layout.archive}`);
    await t.upload(local, layout.archive, {
      signal,
      mode: 0o600,
      ...(deps.uploadStallTimeoutMs !== undefined ? { stallTimeoutMs: deps.uploadStallTimeoutMs } : {}),
      onProgress: (sent) => {
        const { progress, report } = meter.update(sent);
        deps.onUploadProgress?.(node.name, progress);
        ctx.progress?.(node.name, uploadText(progress));
        if (report) log.info(`[${t.label}] upload ${formatProgress(progress)}`);
      },
    });
  }
  if (layout.archive) {
    ctx.progress?.(node.name, `sha256 of the archive on ${node.name}`);
    const r = await loggedExec(t, hashScript(layout, layout.archive).text, log, { describe: `sha256 of ${layout.archive}`, signal, timeoutMs: 30 * 60_000 });
    const why = refusal(r.stdout);
    if (why) throw new StepFailure(`refused on ${node.name}: ${why}`, REFUSED_HINT);
    const h = parseKv(r.stdout).get('sha256');
    if (r.code !== 0 || !h || !SHA256.test(h)) throw new StepFailure(`could not hash ${layout.archive} on ${node.name} (exit ${r.code}): ${r.stderr.trim() || 'no output'}`, 'Read the log and run step 3 again.');
    if (local) {
      const mine = await localSha();
      if (h !== mine) throw new StepFailure(`the archive on ${node.name} is not the local file: sha256 ${h} there, ${mine} here`, 'The upload was damaged or replaced; run step 3 again.');
      log.info(`[${t.label}] ${layout.archive}: sha256 ${h}, the same as ${local}`);
    } else log.info(`[${t.label}] ${layout.archive}: sha256 ${h}`);
    archiveSha256 = h;
    ctx.progress?.(node.name, `extracting the package on ${node.name}`);
    const x = await loggedExec(t, extractScript(layout, layout.archive).text, log, { describe: `extract ${layout.archive} in ${layout.stage}`, signal, timeoutMs: 30 * 60_000 });
    const refused = refusal(x.stdout);
    if (refused) throw new StepFailure(`refused on ${node.name}: ${refused}`, REFUSED_HINT);
    if (x.code !== 0) throw new StepFailure(`extracting ${layout.archive} failed (exit ${x.code}): ${x.stderr.trim().split('\n').slice(-2).join(' | ')}`, 'Check the archive and the free space, then run again.');
  }
  return { layout, ...(archiveSha256 ? { archiveSha256 } : {}) };
}

function evidenceOf(s: StagedPackage): string[] {
  return [
    `staged in ${s.stage}${s.owned ? ' (the SSH user\'s alone, 0700)' : ''}`,
    ...(s.archiveSha256 ? [`archive sha256 ${s.archiveSha256}`] : []),
    `installer tree sha256 ${s.treeSha256} (${s.entries} entries)`,
  ];
}

/** What the journal holds of step 3 on `node`: the latest record, unless a later action voids it. */
export function recordedStaging(events: readonly JournalEvent[], node: string): StagedPackage | undefined {
  let out: StagedPackage | undefined;
  for (const e of events) {
    if (e.type === 'run-opened' || e.step !== 'package' || (e.node !== undefined && e.node !== node)) continue;
    // A Check never voids the record (a failed one must not let the next Check measure anew).
    if (e.type === 'finished') out = asStaged(e.facts?.staged) ?? (e.kind === 'check' ? out : undefined);
    // A Run starts by replacing the stage; a reset, skip or confirmation is not a measurement.
    else if ((e.type === 'started' && e.kind === 'run') || e.type === 'reset' || e.type === 'skipped' || e.type === 'confirmed') out = undefined;
  }
  return out;
}

function asStaged(v: unknown): StagedPackage | undefined {
  if (typeof v !== 'object' || v === null) return undefined;
  const s = v as Record<string, unknown>;
  const ok = typeof s.stage === 'string' && typeof s.installerDir === 'string' && typeof s.owned === 'boolean' && typeof s.treeSha256 === 'string' && SHA256.test(s.treeSha256) && typeof s.entries === 'number'
    && (s.archiveSha256 === undefined || (typeof s.archiveSha256 === 'string' && SHA256.test(s.archiveSha256)));
  return ok ? (v as StagedPackage) : undefined;
}

/**
 * Right before the installer starts on `node`: the stage is still the SSH user's alone (0700, no
 * link, parents safe) and the installer tree is byte for byte, mode for mode, the one step 3
 * recorded. Returns the layout to run from; throws StagedInstallerRefusal naming what changed.
 */
export async function verifyStagedInstaller(t: Transport, cluster: Cluster, node: ClusterNode, recorded: StagedPackage | undefined, io: Io): Promise<PackageLayout> {
  const refuse = (what: string, hint: string): StagedInstallerRefusal => new StagedInstallerRefusal(`the installer was not started on ${node.name}: ${what}`, hint);
  if (!recorded) throw refuse('step 3 has no record of the installer tree staged there', `Run step 3 (or its Check) for ${node.name}: the installer runs only a tree the runbook measured.`);
  let layout: PackageLayout;
  let seen: Inspection;
  try {
    layout = await locate(t, cluster, node, io);
    if (layout.installerDir !== recorded.installerDir) throw refuse(`step 3 staged ${recorded.installerDir}, but the package now belongs in ${layout.installerDir}`, `Run step 3 again for ${node.name}.`);
    seen = await inspect(t, layout, node, 'verify', io);
  } catch (e) {
    if (e instanceof StepFailure) throw refuse(e.message, `Nothing was started. Run step 3 again for ${node.name} once the cause is fixed, and find out who changed the folder.`);
    throw e;
  }
  if (!seen.probe.installScript) throw refuse(`${layout.installerDir}/install-server.sh is gone`, `Run step 3 again for ${node.name}.`);
  if (seen.tree !== recorded.treeSha256) {
    const changed = seen.storedTree === recorded.treeSha256 && seen.changes?.length ? seen.changes : undefined;
    const what = changed ? `${changed.slice(0, 5).join('; ')}${changed.length > 5 ? `; and ${changed.length - 5} more` : ''}` : `tree sha256 ${seen.tree ?? 'unreadable'}, recorded ${recorded.treeSha256}`;
    throw refuse(`the installer tree in ${layout.installerDir} changed since step 3 measured it (${what})`, `Nothing was started. Find out who changed it, then run step 3 again for ${node.name} to stage a fresh copy.`);
  }
  io.log.info(`[${node.name}] installer tree ${layout.installerDir} is the one step 3 staged (sha256 ${recorded.treeSha256})`);
  return layout;
}

function nodesOf(ctx: ActionContext): ClusterNode[] {
  return ctx.cluster.nodes.filter((n) => ctx.target.node === undefined || n.name === ctx.target.node);
}

async function runNode(ctx: ActionContext, deps: PackageDeps, t: Transport, node: ClusterNode, localSha: () => Promise<string>): Promise<{ verdict: 'passed' | 'warning' | 'failed'; evidence: string[]; hint?: string; staged?: StagedPackage }> {
  const { layout, archiveSha256 } = await prepareNode(ctx, deps, t, node, localSha);
  const seen = await inspect(t, layout, node, 'record', ctx);
  const v = judge(ctx.cluster, layout, seen.probe);
  if (v.verdict === 'failed' || !seen.tree || seen.entries === undefined) return v;
  const staged: StagedPackage = { stage: layout.stage, installerDir: layout.installerDir, owned: layout.owned, ...(archiveSha256 ? { archiveSha256 } : {}), treeSha256: seen.tree, entries: seen.entries };
  return { ...v, evidence: [...v.evidence, ...evidenceOf(staged)], staged };
}

async function checkNode(ctx: ActionContext, t: Transport, node: ClusterNode): Promise<{ verdict: 'passed' | 'warning' | 'failed'; evidence: string[]; hint?: string; staged?: StagedPackage }> {
  const layout = await locate(t, ctx.cluster, node, ctx);
  const recorded = recordedStaging(ctx.session.journal.events, node.name);
  const same = recorded?.installerDir === layout.installerDir ? recorded : undefined;
  // The engineer's own extracted folder is measured by a Check; the step's stage only by its Run.
  const seen = await inspect(t, layout, node, same || layout.owned ? 'verify' : 'record', ctx);
  const v = judge(ctx.cluster, layout, seen.probe);
  if (v.verdict === 'failed' || !seen.tree || seen.entries === undefined) return v;
  if (!same && layout.owned) {
    return { verdict: 'failed', evidence: [...v.evidence, 'step 3 has not staged this tree in this run (no record of it)'], hint: `Run step 3 for ${node.name}: the installer runs only a tree the runbook staged and measured.` };
  }
  if (same && seen.tree !== same.treeSha256) {
    const changes = seen.storedTree === same.treeSha256 ? seen.changes ?? [] : [];
    return { verdict: 'failed', evidence: [`the installer tree in ${layout.installerDir} changed since step 3 measured it`, ...changes.slice(0, 10)], hint: `Find out who changed it, then run step 3 again for ${node.name}.` };
  }
  const staged: StagedPackage = same ?? { stage: layout.stage, installerDir: layout.installerDir, owned: layout.owned, treeSha256: seen.tree, entries: seen.entries };
  return { ...v, evidence: [...v.evidence, ...evidenceOf(staged)], staged };
}

async function perNode(ctx: ActionContext, deps: PackageDeps, kind: 'run' | 'check'): Promise<void> {
  // One hash of the local file, shared by every node's comparison.
  let local: Promise<string> | undefined;
  const localSha = (): Promise<string> => (local ??= sha256File((ctx.cluster.package as { file: string }).file, ctx.signal));
  await ctx.eachNode(nodesOf(ctx), 'package', kind, async (node): Promise<Finding> => {
    try {
      if (node.os === 'windows') throw new StepFailure('Windows nodes are not supported by this step yet', 'Extract the package by hand, then Confirm Manually with a note.');
      const t = await deps.transportFor(node, 'owner');
      const v = kind === 'run' ? await runNode(ctx, deps, t, node, localSha) : await checkNode(ctx, t, node);
      return finding(v.verdict, v.evidence, v.hint, v.staged ? { staged: v.staged } : undefined);
    } catch (e) {
      const hint = e instanceof StepFailure || e instanceof RemoteError ? e.hint : 'Read the log and run again.';
      ctx.log.error(`[${node.name}] package: ${(e as Error).message}`);
      return { verdict: 'failed', evidence: [(e as Error).message], hint };
    }
  });
}

export function packageHandlers(deps: PackageDeps): RunAndCheck {
  return { run: (ctx) => perNode(ctx, deps, 'run'), check: (ctx) => perNode(ctx, deps, 'check') };
}
