// All probes of a node run as ONE POSIX sh script in one round trip. Each probe's output is framed
// by marker lines that carry a per-run nonce, so nothing a probe prints (a pid file's text, a
// process's command line) can forge or end another probe's section.
import { randomBytes } from 'node:crypto';

export const MARK = '@@ucd-probe';

/** One probe's fragment of the composed script. `body` must be POSIX sh with every value quoted. */
export interface ProbeFragment {
  readonly name: string;
  readonly body: string;
}

export interface ComposedScript {
  readonly script: string;
  readonly nonce: string;
  readonly names: readonly string[];
}

export function newNonce(): string {
  return randomBytes(6).toString('hex');
}

/**
 * The whole script is one function so sh parses it completely before running any of it (it arrives
 * on standard input with `sh -s`, and nothing may read the rest of the script as data).
 * Each fragment runs in a subshell with stdin from /dev/null; its exit status closes its section.
 */
export function composeScript(fragments: readonly ProbeFragment[], nonce: string = newNonce()): ComposedScript {
  if (!/^[0-9a-f]{6,32}$/.test(nonce)) throw new Error('nonce must be lowercase hex');
  const names = fragments.map((f) => f.name);
  for (const n of names) if (!/^[a-z][a-z0-9-]*$/.test(n)) throw new Error(`bad probe name ${n}`);
  if (new Set(names).size !== names.length) throw new Error('probe names must be unique');
  const m = `${MARK}:${nonce}`;
  const lines = [
    'ucd_probe_main() {',
    // Non-root logins often lack the sbin directories where ss lives on some distributions.
    'PATH="$PATH:/usr/sbin:/sbin"; export PATH',
    'LC_ALL=C; export LC_ALL',
  ];
  for (const f of fragments) {
    lines.push(`echo '${m} begin ${f.name}'`);
    lines.push(`( ${f.body.trim()}`);
    lines.push(') </dev/null 2>&1');
    // The printf adds a newline in case the body's output did not end with one; the parser drops it.
    lines.push(`ucd_st=$?; printf '\\n${m} end ${f.name} %s\\n' "$ucd_st"`);
  }
  lines.push(`echo '${m} done'`);
  lines.push('}');
  lines.push('ucd_probe_main');
  lines.push('exit 0');
  return { script: lines.join('\n') + '\n', nonce, names };
}

export interface Section {
  /** The probe's output (stdout and stderr merged), without the framing. */
  readonly body: string;
  /** Exit status of the probe's fragment. */
  readonly status: number;
}

export type SplitResult =
  | { readonly ok: true; readonly sections: ReadonlyMap<string, Section> }
  | { readonly ok: false; readonly reason: string; readonly sections: ReadonlyMap<string, Section> };

/** Cuts composed output back into sections. Incomplete output (no `done`, a section not closed) is an error, never a silent pass. */
export function splitSections(stdout: string, nonce: string, expected: readonly string[]): SplitResult {
  const m = `${MARK}:${nonce}`;
  const sections = new Map<string, Section>();
  const lines = stdout.split('\n');
  let open: { name: string; body: string[] } | undefined;
  let done = false;
  for (const raw of lines) {
    const line = raw.replace(/\r$/, '');
    if (line.startsWith(m + ' ')) {
      const parts = line.slice(m.length + 1).split(' ');
      if (parts[0] === 'begin' && parts.length === 2 && !open) {
        open = { name: parts[1] ?? '', body: [] };
        continue;
      }
      if (parts[0] === 'end' && parts.length === 3 && open && parts[1] === open.name) {
        // Drop the newline the framing added after the body.
        if (open.body.length > 0 && open.body[open.body.length - 1] === '') open.body.pop();
        sections.set(open.name, { body: open.body.join('\n'), status: Number(parts[2]) });
        open = undefined;
        continue;
      }
      if (parts[0] === 'done' && parts.length === 1 && !open) {
        done = true;
        continue;
      }
    }
    if (open) open.body.push(line);
  }
  if (open) return { ok: false, reason: `probe output ended inside the "${open.name}" section`, sections };
  const missing = expected.filter((n) => !sections.has(n));
  if (missing.length) return { ok: false, reason: `probe output has no "${missing.join('", "')}" section`, sections };
  if (!done) return { ok: false, reason: 'probe output ended before the script finished', sections };
  return { ok: true, sections };
}
