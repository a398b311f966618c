// Probe: is anything listening on the node's HTTPS and JMS ports, and which process? Uses `ss`,
// falls back to `netstat`; with neither, says so as its own result (never a pass). For each
// listener on those ports it also reads the holder's command line, in the same round trip.
import { CMDLINE_FN, parseProcessLine, type ProcessInfo } from './cmdline';
import type { ProbeFragment, Section } from './sections';

export type PortTool = 'ss' | 'netstat';

export interface Owner {
  readonly pid: number;
  /** The short name the tool printed (ss: comm, netstat: program). */
  readonly name?: string;
  /** Full command line, when the probe could read it. */
  readonly process?: ProcessInfo;
}

export interface Listener {
  readonly port: number;
  readonly address: string;
  /** Empty when the tool could not show the process (another user's socket, without root). */
  readonly owners: readonly Owner[];
}

export type PortsResult =
  | { readonly kind: 'ok'; readonly tool: PortTool; readonly ports: readonly number[]; readonly listeners: readonly Listener[] }
  | { readonly kind: 'no-tool' }
  | { readonly kind: 'error'; readonly tool?: PortTool; readonly message: string };

export const NO_PORT_TOOL = 'command not found: neither ss nor netstat';

function checkPort(p: number): number {
  if (!Number.isInteger(p) || p < 1 || p > 65535) throw new Error(`not a TCP port: ${p}`);
  return p;
}

export function portsFragment(ports: readonly number[]): ProbeFragment {
  const list = ports.map(checkPort);
  // awk gets the ports as digits we validated; it keeps the listener lines on those ports so only
  // their holders' command lines are read.
  const cond = list.map((p) => `$i ~ /:${p}$/`).join(' || ');
  return {
    name: 'ports',
    body: `${CMDLINE_FN}
# ss first; netstat when ss is missing OR fails (e.g. netlink denied in a container).
ucd_tool=
if command -v ss >/dev/null 2>&1; then
  if ucd_out=$(ss -H -ltnp 2>/dev/null) || ucd_out=$(ss -ltnp 2>&1); then ucd_tool=ss
  else ucd_st=$?; ucd_err="ss (exit $ucd_st): $ucd_out"; fi
fi
if [ -z "$ucd_tool" ] && command -v netstat >/dev/null 2>&1; then
  if ucd_out=$(netstat -ltnp 2>&1); then ucd_tool=netstat
  else ucd_st=$?; ucd_err="\${ucd_err:+$ucd_err; }netstat (exit $ucd_st): $ucd_out"; fi
fi
if [ -z "$ucd_tool" ]; then
  if [ -z "\${ucd_err:-}" ]; then echo 'tool none'; exit 0; fi
  echo 'tool failed'; printf '%s\\n' "$ucd_err" | sed 's/^/| /'; exit 0
fi
echo "tool $ucd_tool"; ucd_st=0
printf '%s\\n' "$ucd_out" | sed 's/^/| /'
echo "status $ucd_st"
for ucd_p in $(printf '%s\\n' "$ucd_out" | awk '{ for (i = 3; i <= NF; i++) if (${cond}) { print; next } }' | tr ',' '\\n' | sed -n -e 's/^pid=\\([0-9][0-9]*\\).*/\\1/p' -e 's/.*LISTEN  *\\([0-9][0-9]*\\)\\/.*/\\1/p' | sort -u); do
  ucd_cmdline "$ucd_p" holder
done`,
  };
}

function splitHostPort(addr: string): { address: string; port: number } | undefined {
  const m = /^(.*):(\d+)$/.exec(addr);
  return m ? { address: m[1] ?? '', port: Number(m[2]) } : undefined;
}

/** Every listener in `ss -ltnp` output (with or without -H). Pure; tested on captured output. */
export function parseSs(text: string): Listener[] {
  const out: Listener[] = [];
  for (const line of text.split('\n')) {
    const tokens = line.trim().split(/\s+/);
    if (tokens.length < 4 || tokens[0] === 'State' || tokens[0] === 'Recv-Q') continue;
    const local = tokens.find((t) => t.includes(':') && !t.startsWith('users:'));
    const hp = local ? splitHostPort(local) : undefined;
    if (!hp) continue;
    const owners: Owner[] = [];
    for (const m of line.matchAll(/\("((?:[^"\\]|\\.)*)",pid=(\d+),fd=\d+\)/g)) {
      const pid = Number(m[2]);
      if (!owners.some((o) => o.pid === pid)) owners.push({ pid, name: m[1] ?? '' });
    }
    out.push({ ...hp, owners });
  }
  return out;
}

/** Every TCP listener in `netstat -ltnp` output. Pure; tested on captured output. */
export function parseNetstat(text: string): Listener[] {
  const out: Listener[] = [];
  for (const line of text.split('\n')) {
    const tokens = line.trim().split(/\s+/);
    if (!/^tcp6?$/.test(tokens[0] ?? '') || tokens[5] !== 'LISTEN') continue;
    const hp = splitHostPort(tokens[3] ?? '');
    if (!hp) continue;
    const prog = tokens.slice(6).join(' ');
    const m = /^(\d+)\/(.*)$/.exec(prog);
    out.push({ ...hp, owners: m ? [{ pid: Number(m[1]), name: (m[2] ?? '').trim() }] : [] });
  }
  return out;
}

export function parsePorts(section: Section, ports: readonly number[]): PortsResult {
  const lines = section.body.split('\n');
  const toolLine = lines.find((l) => l.startsWith('tool '));
  if (toolLine === 'tool none') return { kind: 'no-tool' };
  if (toolLine === 'tool failed') {
    const why = lines.filter((l) => l.startsWith('| ')).map((l) => l.slice(2)).join(' ').trim();
    return { kind: 'error', message: `ss and netstat could not list listening sockets: ${why}` };
  }
  if (toolLine !== 'tool ss' && toolLine !== 'tool netstat') {
    return { kind: 'error', message: `port probe said: ${section.body.trim() || `nothing (exit ${section.status})`}` };
  }
  const tool: PortTool = toolLine === 'tool ss' ? 'ss' : 'netstat';
  const raw = lines.filter((l) => l.startsWith('| ')).map((l) => l.slice(2)).join('\n');
  const status = Number(lines.find((l) => l.startsWith('status '))?.slice('status '.length));
  const all = tool === 'ss' ? parseSs(raw) : parseNetstat(raw);
  if (status !== 0 && all.length === 0) return { kind: 'error', tool, message: `${tool} failed (exit ${status}): ${raw.trim()}` };
  const holders = new Map<number, ProcessInfo>();
  for (const l of lines) {
    if (!l.startsWith('holder ')) continue;
    const p = parseProcessLine(l.slice('holder '.length));
    if (p) holders.set(p.pid, p);
  }
  const listeners = all
    .filter((l) => ports.includes(l.port))
    .map((l) => ({ ...l, owners: l.owners.map((o) => ({ ...o, ...(holders.has(o.pid) ? { process: holders.get(o.pid) } : {}) })) }));
  return { kind: 'ok', tool, ports: [...ports], listeners };
}
