// Cluster file → validated Cluster, or problems with exact ranges. Never throws on bad input:
// a broken file is a normal state the views must show, not a crash.
import { parseTree, printParseErrorCode, findNodeAtLocation, type Node as JsonNode, type ParseError } from 'jsonc-parser';
import schemaJson from '../../../schemas/ucd-cluster.schema.json';
import { checkAgainstSchema, describePath, type Schema } from './schemaCheck';
import { compareVersions } from './version';
import type { Cluster, ClusterLoadResult, ClusterNode, ClusterProblem, SourceRange } from './types';

export const CLUSTER_FILE_NAME = 'ucd-cluster.json';
export const clusterSchema = schemaJson as unknown as Schema;

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
  for (let i = 0; i < nodeCount; i++) {
    const name = v('nodes', i, 'name') as string;
    const prior = names.get(name);
    if (prior !== undefined) error(at('nodes', i, 'name'), `Duplicate node name "${name}" (also nodes[${prior}]).`, ['nodes', i, 'name']);
    else names.set(name, i);

    const host = (v('nodes', i, 'host') as string).toLowerCase();
    const port = (v('nodes', i, 'sshPort') as number | undefined) ?? 22;
    const endpoint = `${host}:${port}`;
    const same = endpoints.get(endpoint);
    if (same !== undefined) {
      error(at('nodes', i, 'host'), `Node "${name}" has the same address and SSH port (${endpoint}) as nodes[${same}]: two entries for one server.`, ['nodes', i, 'host']);
    } else endpoints.set(endpoint, i);

    const os = (v('nodes', i, 'os') as string | undefined) ?? 'linux';
    const dir = v('nodes', i, 'installDir') as string;
    if (!isAbsoluteFor(os, dir)) {
      error(at('nodes', i, 'installDir'), `installDir of "${name}" must be an absolute ${os === 'windows' ? 'Windows path (C:\\...)' : 'path (/...)'}; got "${dir}".`, ['nodes', i, 'installDir']);
    }
    const key = v('nodes', i, 'identityFile') as string | undefined;
    if (key !== undefined && !isAbsoluteLocal(key)) {
      error(at('nodes', i, 'identityFile'), `identityFile of "${name}" must be absolute or start with ~/ ; got "${key}".`, ['nodes', i, 'identityFile']);
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
    ucd: { url: v('ucd', 'url') as string, credential: v('ucd', 'credential') as string },
    database: {
      type: v('database', 'type') as Cluster['database']['type'],
      backup: {
        command: v('database', 'backup', 'command') as string,
        artifact: v('database', 'backup', 'artifact') as string,
        runOn: backupNode === undefined ? { kind: 'local' } : { kind: 'node', node: backupNode },
      },
    },
    package: pkgLocal !== undefined ? { kind: 'local', file: pkgLocal } : { kind: 'remote', path: pkgRemote as string },
  };
  return { ok: true, cluster, problems };
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
