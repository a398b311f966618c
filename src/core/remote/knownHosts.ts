// OpenSSH known_hosts files: parse them and answer "which keys are known for host:port?".
// Supports plain names, comma lists, [host]:port, hashed |1|salt|hash entries, * ? wildcards,
// !negation and @revoked. @cert-authority lines are recognised and ignored (we do not verify
// host certificates), and the lookup says how many it ignored so the caller can tell the user.
import { createHash, createHmac } from 'node:crypto';

export interface KnownHostEntry {
  readonly marker: 'none' | 'revoked' | 'cert-authority';
  /** The host pattern field exactly as written (comma list or |1|salt|hash). */
  readonly hostField: string;
  readonly keyType: string;
  readonly keyBlob: Buffer;
  /** Where the line came from, for messages like "line 12 of ~/.ssh/known_hosts". */
  readonly source: string;
  readonly line: number;
}

export interface KnownHostsParse {
  readonly entries: readonly KnownHostEntry[];
  /** Lines that are not comments or blank and could not be read; reported, never fatal. */
  readonly badLines: readonly { readonly line: number; readonly reason: string }[];
}

export function parseKnownHosts(text: string, source: string): KnownHostsParse {
  const entries: KnownHostEntry[] = [];
  const badLines: { line: number; reason: string }[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const fields = line.split(/\s+/);
    let marker: KnownHostEntry['marker'] = 'none';
    if (fields[0]?.startsWith('@')) {
      const m = fields.shift();
      if (m === '@revoked') marker = 'revoked';
      else if (m === '@cert-authority') marker = 'cert-authority';
      else return void badLines.push({ line: i + 1, reason: `unknown marker ${m}` });
    }
    const [hostField, keyType, keyB64] = fields;
    if (!hostField || !keyType || !keyB64) return void badLines.push({ line: i + 1, reason: 'expected: hosts keytype key' });
    const keyBlob = Buffer.from(keyB64, 'base64');
    if (keyBlob.length === 0 || keyTypeOfBlob(keyBlob) !== keyType) {
      return void badLines.push({ line: i + 1, reason: 'key does not decode or does not match its type' });
    }
    entries.push({ marker, hostField, keyType, keyBlob, source, line: i + 1 });
  });
  return { entries, badLines };
}

/** The name OpenSSH writes and hashes for a host: `host` on port 22, `[host]:port` otherwise. */
export function knownHostsName(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

/** OpenSSH glob: `*` any run, `?` one character; hostnames compare case-insensitively. */
export function globMatch(text: string, pattern: string): boolean {
  const t = text.toLowerCase();
  const p = pattern.toLowerCase();
  // Iterative wildcard match with single backtrack point: linear enough for host names.
  let ti = 0;
  let pi = 0;
  let star = -1;
  let mark = 0;
  while (ti < t.length) {
    if (pi < p.length && (p[pi] === '?' || p[pi] === t[ti])) {
      ti++;
      pi++;
    } else if (pi < p.length && p[pi] === '*') {
      star = pi++;
      mark = ti;
    } else if (star !== -1) {
      pi = star + 1;
      ti = ++mark;
    } else return false;
  }
  while (p[pi] === '*') pi++;
  return pi === p.length;
}

/**
 * A comma list of patterns, OpenSSH rules: matches when some positive pattern matches and no
 * negated (`!`) pattern does.
 */
export function patternListMatches(name: string, list: string): boolean {
  let positive = false;
  for (const raw of list.split(',')) {
    if (raw === '') continue;
    const negated = raw.startsWith('!');
    const pattern = negated ? raw.slice(1) : raw;
    if (globMatch(name, pattern)) {
      if (negated) return false;
      positive = true;
    }
  }
  return positive;
}

function hashedMatches(name: string, hostField: string): boolean {
  // |1|base64(salt)|base64(HMAC-SHA1(key=salt, name))
  const parts = hostField.split('|');
  if (parts.length !== 4 || parts[1] !== '1') return false;
  const salt = Buffer.from(parts[2] ?? '', 'base64');
  const expected = parts[3] ?? '';
  const actual = createHmac('sha1', salt).update(name).digest('base64');
  return actual === expected;
}

export function entryMatchesHost(entry: Pick<KnownHostEntry, 'hostField'>, host: string, port: number): boolean {
  // ssh lower-cases the host before it hashes or matches it (ssh.c), and ssh-keygen -H hashed that.
  const name = knownHostsName(host.toLowerCase(), port);
  if (entry.hostField.startsWith('|')) return hashedMatches(name, entry.hostField);
  return patternListMatches(name, entry.hostField);
}

export interface KnownHostsLookup {
  /** Keys trusted for this host:port (not revoked, not CA). */
  readonly known: readonly KnownHostEntry[];
  /** Revoked keys whose host patterns cover this host. */
  readonly revoked: readonly KnownHostEntry[];
  /** @cert-authority lines that cover this host; we do not check certificates, so they are ignored. */
  readonly ignoredCertAuthorities: number;
}

export function lookupKnownHosts(entries: readonly KnownHostEntry[], host: string, port: number): KnownHostsLookup {
  const known: KnownHostEntry[] = [];
  const revoked: KnownHostEntry[] = [];
  let ignoredCertAuthorities = 0;
  for (const e of entries) {
    if (!entryMatchesHost(e, host, port)) continue;
    if (e.marker === 'revoked') revoked.push(e);
    else if (e.marker === 'cert-authority') ignoredCertAuthorities++;
    else known.push(e);
  }
  return { known, revoked, ignoredCertAuthorities };
}

/** `SHA256:<base64 without padding>`, as `ssh-keygen -lf` and `ssh` print it. */
export function fingerprintSha256(keyBlob: Buffer): string {
  return 'SHA256:' + createHash('sha256').update(keyBlob).digest('base64').replace(/=+$/, '');
}

/** The algorithm name that opens every SSH public key blob (a uint32 length, then the name). */
export function keyTypeOfBlob(keyBlob: Buffer): string | undefined {
  if (keyBlob.length < 4) return undefined;
  const len = keyBlob.readUInt32BE(0);
  if (len === 0 || len > 64 || 4 + len > keyBlob.length) return undefined;
  return keyBlob.subarray(4, 4 + len).toString('latin1');
}

/** A line for a known_hosts file, plain (not hashed) so the user can read what was trusted; lower case, as ssh writes it. */
export function formatKnownHostsLine(host: string, port: number, keyBlob: Buffer): string {
  const type = keyTypeOfBlob(keyBlob);
  if (!type) throw new Error('not an SSH public key');
  return `${knownHostsName(host.toLowerCase(), port)} ${type} ${keyBlob.toString('base64')}`;
}

/**
 * Host key algorithms to offer, known types first, so a server with several host keys presents
 * the one we already trust (what OpenSSH does) instead of one we would have to call "changed".
 */
export function hostKeyAlgorithmsFor(knownTypes: readonly string[]): string[] {
  const all = ['ssh-ed25519', 'ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp384', 'ecdsa-sha2-nistp521', 'rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'];
  const forType = (t: string): string[] => (t === 'ssh-rsa' ? ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'] : [t]);
  const first = knownTypes.flatMap(forType).filter((a) => all.includes(a));
  return [...new Set([...first, ...all])];
}
