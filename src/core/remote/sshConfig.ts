// Enough of ~/.ssh/config to honour the aliases engineers already use: Host patterns, HostName,
// User, Port, IdentityFile and ProxyJump, with OpenSSH's rule that the first value obtained for an
// option wins. Match and Include blocks are not evaluated; the result says so in `warnings`.
import { globMatch } from './knownHosts';

interface Directive {
  readonly keyword: string; // lower-cased
  readonly args: readonly string[];
  readonly line: number;
}

interface Block {
  /** undefined: the lines before the first Host/Match, which apply to every host. */
  readonly hostPatterns?: readonly string[];
  /** A Match block: not evaluated (except `Match all`). */
  readonly match?: readonly string[];
  readonly directives: Directive[];
  readonly line: number;
}

export interface SshConfigFile {
  readonly blocks: readonly Block[];
  readonly problems: readonly string[];
}

/** Splits one config line into words, honouring double quotes and `Keyword=value`. */
function words(line: string): string[] | string {
  const out: string[] = [];
  let i = 0;
  let cur = '';
  let inWord = false;
  let quoted = false;
  for (; i < line.length; i++) {
    const c = line[i] as string;
    if (quoted) {
      if (c === '"') quoted = false;
      else cur += c;
      continue;
    }
    if (c === '"') {
      quoted = true;
      inWord = true;
    } else if (c === '#' && !inWord && out.length > 0) {
      break;
    } else if (/\s/.test(c) || (c === '=' && out.length === 0)) {
      if (inWord) out.push(cur);
      cur = '';
      inWord = false;
    } else {
      cur += c;
      inWord = true;
    }
  }
  if (quoted) return 'unterminated quote';
  if (inWord) out.push(cur);
  return out;
}

export function parseSshConfig(text: string): SshConfigFile {
  const blocks: Block[] = [{ directives: [], line: 0 }];
  const problems: string[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const trimmed = raw.trim();
    if (trimmed === '' || trimmed.startsWith('#')) return;
    const w = words(trimmed);
    if (typeof w === 'string') return void problems.push(`line ${i + 1}: ${w}`);
    const [kw, ...rest] = w;
    if (!kw) return;
    // `Keyword = value` and `Keyword =value` are as valid as `Keyword=value`.
    const args = rest[0] === '=' ? rest.slice(1) : rest[0]?.startsWith('=') ? [rest[0].slice(1), ...rest.slice(1)] : rest;
    const keyword = kw.toLowerCase();
    if (keyword === 'host') blocks.push({ hostPatterns: args, directives: [], line: i + 1 });
    else if (keyword === 'match') blocks.push({ match: args, directives: [], line: i + 1 });
    else (blocks[blocks.length - 1] as Block).directives.push({ keyword, args, line: i + 1 });
  });
  return { blocks, problems };
}

/** Host line semantics: some pattern matches and no `!pattern` does. */
export function hostPatternsMatch(name: string, patterns: readonly string[]): boolean {
  let positive = false;
  for (const p of patterns) {
    if (p.startsWith('!')) {
      if (globMatch(name, p.slice(1))) return false;
    } else if (globMatch(name, p)) positive = true;
  }
  return positive;
}

export interface JumpSpec {
  readonly host: string;
  readonly user?: string;
  readonly port?: number;
}

export interface SshHostConfig {
  /** The name that was looked up (a Host alias, or a plain host). */
  readonly alias: string;
  /** Where to connect: HostName if the config gives one, else the alias itself. */
  readonly hostName: string;
  readonly user?: string;
  readonly port?: number;
  /** Expanded paths, in the order OpenSSH would try them. */
  readonly identityFiles: readonly string[];
  /** Hops, first to last; empty means a direct connection. */
  readonly proxyJump: readonly JumpSpec[];
  /** Things we saw and did not apply (Match, Include, bad values), to show in the log. */
  readonly warnings: readonly string[];
}

export interface SshConfigEnv {
  readonly home: string;
  readonly localUser: string;
}

/** `[user@]host[:port]`, `[user@][v6addr]:port`, or `ssh://[user@]host[:port]`. */
export function parseJumpSpec(text: string): JumpSpec | undefined {
  let s = text.startsWith('ssh://') ? text.slice('ssh://'.length) : text;
  let user: string | undefined;
  const at = s.lastIndexOf('@');
  if (at >= 0) {
    user = s.slice(0, at);
    s = s.slice(at + 1);
  }
  let host = s;
  let port: number | undefined;
  const bracket = /^\[([^\]]+)\](?::(\d+))?$/.exec(s);
  if (bracket) {
    host = bracket[1] as string;
    if (bracket[2]) port = Number(bracket[2]);
  } else {
    const colon = s.lastIndexOf(':');
    if (colon >= 0 && s.indexOf(':') === colon) {
      host = s.slice(0, colon);
      const p = s.slice(colon + 1);
      if (!/^\d+$/.test(p)) return undefined;
      port = Number(p);
    }
  }
  if (host === '' || user === '' || (port !== undefined && (port < 1 || port > 65535))) return undefined;
  return { host, ...(user !== undefined ? { user } : {}), ...(port !== undefined ? { port } : {}) };
}

/** Expands `~` and the %-tokens OpenSSH allows in IdentityFile. Unknown tokens are left as they are. */
export function expandTokens(value: string, t: { home: string; host: string; alias: string; localUser: string; user: string; port: number }): string {
  let v = value.startsWith('~/') || value === '~' ? t.home + value.slice(1) : value;
  v = v.replace(/%([%dhnupr])/g, (_m, c: string) => {
    switch (c) {
      case '%':
        return '%';
      case 'd':
        return t.home;
      case 'h':
        return t.host;
      case 'n':
        return t.alias;
      case 'u':
        return t.localUser;
      case 'r':
        return t.user;
      default:
        return String(t.port);
    }
  });
  return v;
}

export function resolveSshHost(config: SshConfigFile, alias: string, env: SshConfigEnv): SshHostConfig {
  const first = new Map<string, readonly string[]>();
  const identity: string[] = [];
  const warnings: string[] = [...config.problems.map((p) => `~/.ssh/config ${p}`)];
  for (const block of config.blocks) {
    if (block.match) {
      if (!(block.match.length === 1 && block.match[0]?.toLowerCase() === 'all')) {
        warnings.push(`~/.ssh/config line ${block.line}: Match blocks are not evaluated; their options were not applied`);
        continue;
      }
    } else if (block.hostPatterns && !hostPatternsMatch(alias, block.hostPatterns)) continue;
    for (const d of block.directives) {
      if (d.keyword === 'include') {
        warnings.push(`~/.ssh/config line ${d.line}: Include is not followed`);
        continue;
      }
      if (d.keyword === 'identityfile') {
        if (d.args[0]) identity.push(d.args[0]);
        continue;
      }
      if (!first.has(d.keyword)) first.set(d.keyword, d.args);
    }
  }
  const one = (k: string): string | undefined => first.get(k)?.[0];

  const hostNameRaw = one('hostname');
  const hostName = hostNameRaw ? hostNameRaw.replace(/%h/g, alias).replace(/%%/g, '%') : alias;
  const user = one('user');
  let port: number | undefined;
  const portText = one('port');
  if (portText !== undefined) {
    if (/^\d+$/.test(portText) && Number(portText) >= 1 && Number(portText) <= 65535) port = Number(portText);
    else warnings.push(`~/.ssh/config: Port ${portText} for ${alias} is not a port number; ignored`);
  }
  const tokens = { home: env.home, host: hostName, alias, localUser: env.localUser, user: user ?? env.localUser, port: port ?? 22 };
  const identityFiles = identity.filter((f) => f.toLowerCase() !== 'none').map((f) => expandTokens(f, tokens));

  const proxyJump: JumpSpec[] = [];
  const jumpText = one('proxyjump');
  if (jumpText && jumpText.toLowerCase() !== 'none') {
    for (const hop of jumpText.split(',')) {
      const spec = parseJumpSpec(hop.trim());
      if (spec) proxyJump.push(spec);
      else warnings.push(`~/.ssh/config: ProxyJump hop "${hop}" for ${alias} is not [user@]host[:port]; ignored`);
    }
  }
  if (first.has('proxycommand')) warnings.push(`~/.ssh/config: ProxyCommand for ${alias} is not supported; use ProxyJump`);

  return {
    alias,
    hostName,
    ...(user !== undefined ? { user } : {}),
    ...(port !== undefined ? { port } : {}),
    identityFiles,
    proxyJump,
    warnings,
  };
}
