// Cluster file → validated Cluster, or problems with exact ranges. Never throws on bad input:
// a broken file is a normal state the views must show, not a crash.
import { createScanner, parseTree, printParseErrorCode, findNodeAtLocation, SyntaxKind, type Node as JsonNode, type ParseError } from 'jsonc-parser';
import schemaJson from '../../../schemas/ucd-cluster.schema.json';
import { installDirProblem, readHost } from './identity';
import { checkAgainstSchema, describePath, type Schema } from './schemaCheck';
import { compareVersions } from './version';
import { BACKUP_TIMESTAMP, type Cluster, type ClusterLoadResult, type ClusterNode, type ClusterProblem, type NodeRights, type NodeService, type ServiceManager, type SourceRange } from './types';

export const CLUSTER_FILE_NAME = 'ucd-cluster.json';
export const clusterSchema = schemaJson as unknown as Schema;
/** Far deeper than any cluster file; the parser and the schema walk recurse once per level. */
export const MAX_NESTING = 64;

/** Turns offsets into line/character positions; built once per text. */
class Lines {
  private readonly starts: number[] = [0];
  constructor(text: string) {
    for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) === 10) this.starts.push(i + 1);
  }
  pos(offset: number): { line: number; character: number } {
    let lo = 0;
    let hi = this.starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.starts[mid] <= offset) lo = mid;
      else hi = mid - 1;
    }
    return { line: lo, character: offset - this.starts[lo] };
  }
  range(offset: number, length: number): SourceRange {
    const a = this.pos(offset);
    const b = this.pos(offset + Math.max(length, 1));
    return { startLine: a.line, startCharacter: a.character, endLine: b.line, endCharacter: b.character };
  }
}

export function loadCluster(text: string): ClusterLoadResult {
  const tooDeep = nestingBeyond(text, MAX_NESTING);
  if (tooDeep !== undefined) {
    const lines = new Lines(text);
    const where = lines.pos(tooDeep);
    return { ok: false, problems: [{ message: `The cluster file nests objects and lists more than ${MAX_NESTING} levels deep (line ${where.line + 1}, column ${where.character + 1}); a cluster file needs three (the file, nodes, a node). Nothing of it was read: fix the nesting there.`, range: lines.range(0, 1), severity: 'error', path: [] }] };
  }
  try {
    return loadChecked(text);
  } catch (e) {
    // The promise above is "never throws": whatever slipped through is still a problem to show.
    return { ok: false, problems: [{ message: `The cluster file could not be read: ${(e as Error).message}`, range: new Lines(text).range(0, 1), severity: 'error', path: [] }] };
  }
}

/** Offset of the first bracket beyond `max` levels, found with the (iterative) scanner. */
function nestingBeyond(text: string, max: number): number | undefined {
  const scanner = createScanner(text, false);
  let depth = 0;
  for (let kind = scanner.scan(); kind !== SyntaxKind.EOF; kind = scanner.scan()) {
    if (kind === SyntaxKind.OpenBraceToken || kind === SyntaxKind.OpenBracketToken) {
      if (++depth > max) return scanner.getTokenOffset();
    } else if (kind === SyntaxKind.CloseBraceToken || kind === SyntaxKind.CloseBracketToken) {
      depth = Math.max(0, depth - 1);
    }
  }
  return undefined;
}

function loadChecked(text: string): ClusterLoadResult {
  const lines = new Lines(text);
  const problems: ClusterProblem[] = [];
  const error = (node: JsonNode, message: string, path: (string | number)[]): void => {
    // An object-valued problem points at its opening brace line, not the whole block.
    const length = node.type === 'object' || node.type === 'array' ? 1 : node.length;
    problems.push({ message, range: lines.range(node.offset, length), severity: 'error', path });
  };

  const syntax: ParseError[] = [];
  const root = parseTree(text, syntax, { allowTrailingComma: true, disallowComments: false });
  for (const e of syntax) {
    problems.push({ message: `JSON syntax: ${humanSyntax(printParseErrorCode(e.error))}`, range: lines.range(e.offset, e.length), severity: 'error', path: [] });
  }
  if (!root || root.type !== 'object') {
    if (!syntax.length) {
      problems.push({ message: 'The cluster file must contain one JSON object.', range: lines.range(0, 1), severity: 'error', path: [] });
    }
    return { ok: false, problems };
  }
  for (const issue of checkAgainstSchema(root, clusterSchema)) error(issue.node, issue.message, issue.path);
  if (problems.length) return { ok: false, problems };

  // The schema holds; now the rules a schema cannot say.
  const at = (...path: (string | number)[]): JsonNode => findNodeAtLocation(root, path) ?? root;
  const v = (...path: (string | number)[]): unknown => findNodeAtLocation(root, path)?.value;
  const nodeCount = at('nodes').children?.length ?? 0;

  const names = new Map<string, number>();
  const endpoints = new Map<string, number>();
  const aliases = new Map<string, number>();
  /** host key → port → which node and what uses it, for collisions on one machine. */
  const ports = new Map<string, Map<number, { node: number; what: string }>>();
  for (let i = 0; i < nodeCount; i++) {
    const name = v('nodes', i, 'name') as string;
    const prior = names.get(name);
    if (prior !== undefined) error(at('nodes', i, 'name'), `Duplicate node name "${name}" (also nodes[${prior}]).`, ['nodes', i, 'name']);
    else names.set(name, i);

    const host = v('nodes', i, 'host') as string;
    const reading = readHost(host);
    const port = (v('nodes', i, 'sshPort') as number | undefined) ?? 22;
    if (!reading.ok) {
      error(at('nodes', i, 'host'), `host "${host}" of node "${name}" ${reading.problem}.`, ['nodes', i, 'host']);
    } else {
      const endpoint = `${reading.key}:${port}`;
      const same = endpoints.get(endpoint);
      if (same !== undefined) {
        const as = reading.key === host ? '' : ` (${host} is ${reading.key})`;
        error(at('nodes', i, 'host'), `Node "${name}" has the same address and SSH port (${endpoint}) as nodes[${same}]${as}: two entries for one server.`, ['nodes', i, 'host']);
      } else endpoints.set(endpoint, i);
    }
    if (reading.ok && endpoints.get(`${reading.key}:${port}`) === i) {
      // Two servers on one machine cannot listen on one port: one would be taken for the other.
      const onHost = ports.get(reading.key) ?? new Map<number, { node: number; what: string }>();
      ports.set(reading.key, onHost);
      for (const what of ['httpsPort', 'jmsPort'] as const) {
        const p = (v('nodes', i, what) as number | undefined) ?? (what === 'httpsPort' ? 8443 : 7918);
        const taken = onHost.get(p);
        if (taken) {
          const other = taken.node === i ? `its own ${taken.what}` : `the ${taken.what} of nodes[${taken.node}] on the same host ${reading.key}`;
          const field = findNodeAtLocation(root, ['nodes', i, what]) ? at('nodes', i, what) : at('nodes', i, 'host');
          error(field, `${what} ${p} of node "${name}" is also ${other}: two servers cannot listen on one port of one machine; give each its own port, or fix the host.`, ['nodes', i, what]);
        } else onHost.set(p, { node: i, what });
      }
    }
    const alias = v('nodes', i, 'sshAlias') as string | undefined;
    if (alias !== undefined) {
      const prior = aliases.get(alias.toLowerCase());
      if (prior !== undefined) {
        error(at('nodes', i, 'sshAlias'), `Node "${name}" uses the sshAlias "${alias}" of nodes[${prior}]: one alias reaches one server, so two entries for it would leave a node out of the proof. Give each node its own alias.`, ['nodes', i, 'sshAlias']);
      } else aliases.set(alias.toLowerCase(), i);
    }

    const os = (v('nodes', i, 'os') as string | undefined) ?? 'linux';
    const dir = v('nodes', i, 'installDir') as string;
    if (!isAbsoluteFor(os, dir)) {
      error(at('nodes', i, 'installDir'), `installDir of "${name}" must be an absolute ${os === 'windows' ? 'Windows path (C:\\...)' : 'path (/...)'}; got "${dir}".`, ['nodes', i, 'installDir']);
    } else {
      const bad = installDirProblem(dir, os === 'windows' ? 'windows' : 'linux');
      if (bad) error(at('nodes', i, 'installDir'), `installDir "${dir}" of "${name}" ${bad}.`, ['nodes', i, 'installDir']);
    }
    const key = v('nodes', i, 'identityFile') as string | undefined;
    if (key !== undefined && !isAbsoluteLocal(key)) {
      error(at('nodes', i, 'identityFile'), `identityFile of "${name}" must be absolute or start with ~/ ; got "${key}".`, ['nodes', i, 'identityFile']);
    }
    const rights = rightsOf(v, i);
    if (rights.privilege.method === 'sudo' && os === 'windows') {
      error(privilegeAt(root, i), `Node "${name}" runs Windows: sudo is not available there; set its "privilege": { "method": "none" }.`, ['nodes', i, 'privilege']);
    } else if (rights.privilege.method === 'sudo' && rights.privilege.as === 'installOwner' && rights.installOwner === undefined) {
      error(privilegeAt(root, i), `Node "${name}" gains rights with sudo "as": "installOwner" but names no installOwner: give "installOwner" (the service user that owns ${dir}) for the node or the cluster.`, ['nodes', i, 'privilege']);
    }
    if (os === 'windows' && (v('nodes', i, 'serviceManager') === 'systemd' || v('nodes', i, 'systemdUnit') !== undefined)) {
      error(at('nodes', i), `Node "${name}" runs Windows: it has no systemd; leave out serviceManager "systemd" and systemdUnit there.`, ['nodes', i]);
    }
    if (os === 'windows') {
      for (const cmd of ['startCommand', 'stopCommand'] as const) {
        if (v('nodes', i, cmd) === undefined) {
          error(at('nodes', i), `Node "${name}" runs Windows: give its ${cmd} (the service command); there is no default.`, ['nodes', i]);
        }
      }
    }
  }

  const first = v('firstNode') as string;
  if (!names.has(first)) {
    error(at('firstNode'), `firstNode "${first}" is not one of the nodes (${[...names.keys()].join(', ')}).`, ['firstNode']);
  }
  const backupNode = v('database', 'backup', 'node') as string | undefined;
  if (backupNode !== undefined && !names.has(backupNode)) {
    error(at('database', 'backup', 'node'), `database.backup.node "${backupNode}" is not one of the nodes (${[...names.keys()].join(', ')}).`, ['database', 'backup', 'node']);
  }

  // Each run's file is named by the same stamp in both, or in neither: else the check reads another file.
  const backupCommand = v('database', 'backup', 'command') as string;
  const backupArtifact = v('database', 'backup', 'artifact') as string;
  if (backupArtifact.includes(BACKUP_TIMESTAMP) !== backupCommand.includes(BACKUP_TIMESTAMP)) {
    const [has, lacks] = backupArtifact.includes(BACKUP_TIMESTAMP) ? ['artifact', 'command'] : ['command', 'artifact'];
    error(at('database', 'backup', lacks), `database.backup.${has} uses ${BACKUP_TIMESTAMP} but the ${lacks} does not: each run's file must be named by the same time stamp in both, or in neither.`, ['database', 'backup', lacks]);
  }

  const current = v('currentVersion') as string;
  const target = v('targetVersion') as string;
  if (compareVersions(target, current) <= 0) {
    error(at('targetVersion'), `targetVersion ${target} must be newer than currentVersion ${current}.`, ['targetVersion']);
  }

  const pkgLocal = v('package', 'localFile') as string | undefined;
  const pkgRemote = v('package', 'remotePath') as string | undefined;
  if ((pkgLocal === undefined) === (pkgRemote === undefined)) {
    error(at('package'), 'package needs exactly one of "localFile" (uploaded to each node) or "remotePath" (already on every node).', ['package']);
  } else if (pkgLocal !== undefined && !isAbsoluteLocal(pkgLocal)) {
    error(at('package', 'localFile'), `package.localFile must be an absolute path; got "${pkgLocal}".`, ['package', 'localFile']);
  } else if (pkgRemote !== undefined && !/^(\/|[A-Za-z]:[\\/])/.test(pkgRemote)) {
    error(at('package', 'remotePath'), `package.remotePath must be an absolute path on the nodes; got "${pkgRemote}".`, ['package', 'remotePath']);
  }
  if (problems.length) return { ok: false, problems };

  const nodes: ClusterNode[] = [];
  for (let i = 0; i < nodeCount; i++) {
    const installDir = v('nodes', i, 'installDir') as string;
    const os = ((v('nodes', i, 'os') as string | undefined) ?? 'linux') as ClusterNode['os'];
    nodes.push({
      name: v('nodes', i, 'name') as string,
      host: v('nodes', i, 'host') as string,
      sshPort: (v('nodes', i, 'sshPort') as number | undefined) ?? 22,
      user: v('nodes', i, 'user') as string | undefined,
      sshAlias: v('nodes', i, 'sshAlias') as string | undefined,
      identityFile: v('nodes', i, 'identityFile') as string | undefined,
      os,
      installDir,
      httpsPort: (v('nodes', i, 'httpsPort') as number | undefined) ?? 8443,
      jmsPort: (v('nodes', i, 'jmsPort') as number | undefined) ?? 7918,
      startCommand: (v('nodes', i, 'startCommand') as string | undefined) ?? `${posixQuotePath(installDir)}/bin/server start`,
      stopCommand: (v('nodes', i, 'stopCommand') as string | undefined) ?? `${posixQuotePath(installDir)}/bin/server stop`,
      rights: rightsOf(v, i),
      service: serviceOf(os, v('serviceManager') as ServiceManager | undefined, v('nodes', i, 'serviceManager') as ServiceManager | undefined, v('nodes', i, 'systemdUnit') as string | undefined),
    });
  }
  const cluster: Cluster = {
    name: v('name') as string,
    currentVersion: current,
    targetVersion: target,
    nodes,
    firstNode: first,
    sharedAppdata: v('sharedAppdata') as string,
    loadBalancerUrl: v('loadBalancerUrl') as string,
    fips: (v('fips') as boolean | undefined) ?? false,
    installerMode: ((v('installerMode') as string | undefined) ?? 'guided') as Cluster['installerMode'],
    ucd: { url: v('ucd', 'url') as string, credential: v('ucd', 'credential') as string, maintenanceMode: (v('ucd', 'maintenanceMode') as boolean | undefined) ?? false },
    database: {
      type: v('database', 'type') as Cluster['database']['type'],
      backup: {
        command: v('database', 'backup', 'command') as string,
        artifact: v('database', 'backup', 'artifact') as string,
        runOn: backupNode === undefined ? { kind: 'local' } : { kind: 'node', node: backupNode },
      },
      ...(v('database', 'restore', 'command') !== undefined ? { restore: { command: v('database', 'restore', 'command') as string } } : {}),
    },
    package: pkgLocal !== undefined ? { kind: 'local', file: pkgLocal } : { kind: 'remote', path: pkgRemote as string },
  };
  return { ok: true, cluster, problems };
}

/** The node's rights: its own "privilege" and "installOwner" over the cluster's, field by field. */
function rightsOf(v: (...path: (string | number)[]) => unknown, i: number): NodeRights {
  const pick = <T>(field: string): T | undefined => (v('nodes', i, 'privilege', field) ?? v('privilege', field)) as T | undefined;
  const installOwner = (v('nodes', i, 'installOwner') ?? v('installOwner')) as string | undefined;
  const owner = installOwner !== undefined ? { installOwner } : {};
  if ((pick<string>('method') ?? 'none') === 'none') return { privilege: { method: 'none' }, ...owner };
  const passwordEnv = pick<string>('passwordEnv');
  return {
    privilege: { method: 'sudo', as: pick<'root' | 'installOwner'>('as') ?? 'root', password: pick<boolean>('password') ?? true, ...(passwordEnv !== undefined ? { passwordEnv } : {}) },
    ...owner,
  };
}

/** Where a node's privilege problem is shown: its own "privilege", else the cluster's, else the node. */
function privilegeAt(root: JsonNode, i: number): JsonNode {
  return findNodeAtLocation(root, ['nodes', i, 'privilege']) ?? findNodeAtLocation(root, ['privilege']) ?? findNodeAtLocation(root, ['nodes', i]) ?? root;
}

/** The node's own serviceManager wins over the cluster's; Windows nodes have no systemd. */
function serviceOf(os: string, cluster: ServiceManager | undefined, node: ServiceManager | undefined, unit: string | undefined): NodeService {
  if (os === 'windows') return { manager: 'scripts' };
  return { manager: node ?? cluster ?? 'auto', ...(unit !== undefined ? { unit } : {}) };
}

function isAbsoluteFor(os: string, p: string): boolean {
  return os === 'windows' ? /^([A-Za-z]:[\\/]|\\\\)/.test(p) : p.startsWith('/');
}

function isAbsoluteLocal(p: string): boolean {
  return /^(\/|~\/|[A-Za-z]:[\\/]|\\\\)/.test(p);
}

/** The default service commands are shell text; the install dir inside them is data. */
function posixQuotePath(p: string): string {
  return /^[A-Za-z0-9_/.-]+$/.test(p) ? p : `'${p.replace(/'/g, `'\\''`)}'`;
}

function humanSyntax(code: string): string {
  const map: Record<string, string> = {
    InvalidSymbol: 'unexpected character',
    InvalidNumberFormat: 'invalid number',
    PropertyNameExpected: 'a property name (in double quotes) is expected here',
    ValueExpected: 'a value is expected here',
    ColonExpected: 'a colon is expected here',
    CommaExpected: 'a comma is expected here',
    CloseBraceExpected: 'a closing } is missing',
    CloseBracketExpected: 'a closing ] is missing',
    EndOfFileExpected: 'unexpected text after the end of the object',
    UnexpectedEndOfComment: 'a comment is not closed',
    UnexpectedEndOfString: 'a string is not closed',
    UnexpectedEndOfNumber: 'a number is cut off',
    InvalidUnicode: 'invalid unicode escape',
    InvalidEscapeCharacter: 'invalid escape character',
    InvalidCharacter: 'invalid character in a string',
  };
  return map[code] ?? code;
}

export { describePath };
