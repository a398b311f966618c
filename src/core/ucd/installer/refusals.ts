// The installer's refusals (texts.ts) as matchers, each with what it means for the runbook and
// what the engineer does next. Lines that only inform (the schema upgrade) are here too.
import { compileLoose, matchLoose, type LooseMatch, type LooseMatcher } from './match';
import { INFO_TEXTS, type InfoTextId, type RefusalTextId } from './texts';

export type ProductRefusalKind = RefusalTextId | 'buildFailed';

export interface RefusalContext {
  readonly node: { readonly name: string; readonly installDir: string };
}

export interface RefusalRule {
  readonly kind: RefusalTextId;
  /** The part of the product text that identifies it (a piece of REFUSAL_TEXTS[kind].text). */
  readonly key: string;
  readonly matcher: LooseMatcher;
  /**
   * Whether the installer is left waiting for input (it asked a question we will not answer, or
   * loops) rather than ending: the caller must hand the session over or end it. Never press
   * Enter for it: that would let an upgrade run while a server may still use the database.
   */
  readonly installerWaiting: boolean;
  describe(values: Readonly<Record<string, string>>, ctx: RefusalContext): { readonly message: string; readonly hint: string };
}

const rule = (
  kind: RefusalTextId,
  key: string,
  installerWaiting: boolean,
  describe: RefusalRule['describe'],
): RefusalRule => ({ kind, key, matcher: compileLoose(key), installerWaiting, describe });

export const REFUSALS: readonly RefusalRule[] = [
  rule('pidFile', 'Found pid file at {pidFile}. Ensure', false, (v, { node }) => ({
    message: `Installer on ${node.name} refused: found pid file ${v.pidFile}; a server may still be running there.`,
    hint: `Run step 5 (verify stopped) again for ${node.name}. If no server process runs, the pid file is stale (a killed server leaves it): remove ${v.pidFile}, then run the installer again.`,
  })),
  rule('connection', 'A connection can be made to configured server host and port.', true, (_v, { node }) => ({
    message: `Installer on ${node.name} refused: a server still answers on the configured web host and HTTPS port (maybe another node, through the load balancer).`,
    hint: 'Stop ALL servers on every node, run step 5 (verify stopped) again, then run the installer again. Do not press Enter at this prompt: end the installer.',
  })),
  rule('stillRunning', 'A previously installed version of {product} is running.', false, (_v, { node }) => ({
    message: `Installer on ${node.name} refused: a previously installed server is still running.`,
    hint: `Stop the server on ${node.name} with its service command, run step 5 (verify stopped) again, then run the installer again.`,
  })),
  rule('versionMismatch', 'Version mismatch between existing node ({existing})', false, (v, { node }) => ({
    message: `Installer on ${node.name} refused: version mismatch between the existing node (${v.existing}, from the shared appdata's conf/installed.version) and this package.`,
    hint: 'Upgrade the first node with this same package and start it before the other nodes; check that every node got the package of the target version.',
  })),
  rule('upgradeCanceled', 'The upgrade is canceled.', false, (_v, { node }) => ({
    message: `Installer on ${node.name} canceled the upgrade.`,
    hint: 'Read the lines just before this one in the output for the reason, fix it, then run the installer again.',
  })),
  rule('upgradeAborted', 'Upgrade aborted.', false, (_v, { node }) => ({
    message: `Installer on ${node.name}: upgrade aborted (the upgrade question was not answered with Y); nothing was upgraded.`,
    hint: 'Run the installer again and answer Y, once the installed version is the expected one.',
  })),
  rule('downgrade', 'WARNING: You appear to be downgrading from {from} to {to}.', true, (v, { node }) => ({
    message: `Installer on ${node.name}: the package (${v.to}) is older than the installed server (${v.from}); refusing to downgrade.`,
    hint: 'Use the package of the target version (check targetVersion and the package in ucd-cluster.json), end this installer and run the right one.',
  })),
  rule('installDirMissing', 'The specified directory does not exist. Do you want to create it?', true, (_v, { node }) => ({
    message: `Installer on ${node.name}: the install directory ${node.installDir} does not exist, so there is nothing to upgrade there.`,
    hint: `Fix installDir for ${node.name} in ucd-cluster.json (it must be the existing server install), end this installer and run it again.`,
  })),
  rule('javaHomeMissing', 'Could not find java home and one not specified.', true, (_v, { node }) => ({
    message: `Installer on ${node.name}: no JRE/JDK found (${node.installDir}/bin/set_env missing and JAVA_HOME not set); install-server.sh keeps asking.`,
    hint: `End the installer; check ${node.installDir}/bin/set_env on ${node.name} (is installDir right?) or set JAVA_HOME for the session, then run it again.`,
  })),
];

export interface InfoRule {
  readonly kind: InfoTextId;
  readonly matcher: LooseMatcher;
}

export const INFOS: readonly InfoRule[] = (Object.keys(INFO_TEXTS) as InfoTextId[]).map((kind) => ({
  kind,
  matcher: compileLoose(INFO_TEXTS[kind].text),
}));

export type LineRule = { readonly type: 'refusal'; readonly rule: RefusalRule } | { readonly type: 'info'; readonly rule: InfoRule };

/** The earliest refusal or informative message in `text` (cleaned, flattened output). */
export function firstLineRule(text: string): { readonly found: LineRule; readonly match: LooseMatch } | undefined {
  let best: { found: LineRule; match: LooseMatch } | undefined;
  const consider = (found: LineRule, m: LooseMatch | undefined) => {
    if (m && (!best || m.index < best.match.index)) best = { found, match: m };
  };
  for (const r of REFUSALS) consider({ type: 'refusal', rule: r }, matchLoose(r.matcher, text));
  for (const r of INFOS) consider({ type: 'info', rule: r }, matchLoose(r.matcher, text));
  return best;
}

/** Hint for an Ant failure the table does not know. */
export function buildFailedDescription(nodeName: string, detail: string): { message: string; hint: string } {
  return {
    message: `Installer on ${nodeName} failed (BUILD FAILED)${detail ? `: ${detail}` : ''}.`,
    hint: 'Read the installer output for the cause, fix it, and run the installer again; the server may need to be restored from the backup if files were already changed.',
  };
}
