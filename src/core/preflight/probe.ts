// The pre-flight's one round trip per node: a read-only script (nothing is written, moved or
// started) in the framed sections of probes/sections.ts, and the pure parser of its output.
import type { ClusterNode } from '../cluster/types';
import { shQuote } from '../remote/quote';
import { composeScript, splitSections, type ComposedScript, type Section } from '../probes/sections';
import { parseVersion, versionFragment, type VersionFile } from '../probes/version';
import { parseDatabaseSection, type DbRead } from './database';

/** The installed.properties keys the pre-flight reads; only these lines leave the node (the file also holds database settings). */
export const HA_KEY = 'com.urbancode.ds.UDeployServer.multiserver';
export const APPDATA_KEY = 'server.appdata.dir';
export const JAVA_HOME_KEY = 'install.java.home';
const KEYS = [HA_KEY, APPDATA_KEY, JAVA_HOME_KEY];

export type PropsRead =
  | { readonly kind: 'found'; readonly values: Readonly<Record<string, string>> }
  | { readonly kind: 'missing' | 'unreadable' };

export type JavaRead =
  | { readonly kind: 'ok'; readonly javaHome: string; readonly versionText: string; readonly version?: string }
  | { readonly kind: 'no-set-env' }
  | { readonly kind: 'no-java-home' }
  /** JAVA_HOME is set but its java did not run (missing, not executable, or failed). */
  | { readonly kind: 'java-failed'; readonly javaHome: string; readonly output: string };

export interface NodeRead {
  readonly installVersion: VersionFile;
  readonly appdataVersion?: VersionFile;
  readonly props: PropsRead;
  readonly java: JavaRead;
  /** Free space, KiB, in the SSH user's home (where step 3 stages the package) and in the install's file system. */
  readonly homeFreeKb?: number;
  readonly installFreeKb?: number;
  /** Size, KiB, of the install tree and of the shared appdata's conf: what a filesystem archive of this node holds at most. */
  readonly installTreeKb?: number;
  /** Only on the node the backup runs on: its client's answer and the dump folder's free space. */
  readonly database?: DbRead;
  /** undefined: no patches folder. */
  readonly patches?: readonly string[];
  /** Files under opt/tomcat newer than conf/installed.version: changed after the install, so somebody's own. */
  readonly tomcatChanged: readonly string[];
  readonly keystores: readonly string[];
  /** The SSH user, and the owner of the install directory (the upgrade must run as the user who installed). */
  readonly sshUser?: string;
  readonly installOwner?: string;
}

export type NodeReadResult = { readonly ok: true; readonly read: NodeRead } | { readonly ok: false; readonly reason: string };

const LIST_MAX = 200;
const q = shQuote;
const trim = (dir: string) => dir.replace(/\/+$/, '') || '/';

export interface BuiltPreflightProbe extends ComposedScript {
  readonly command: string;
}

/** `extra`: sections only this node runs (the database check, on the node the backup runs on). */
export function buildPreflightProbe(node: Pick<ClusterNode, 'installDir'>, sharedAppdata: string, nonce?: string, extra: readonly { name: string; body: string }[] = []): BuiltPreflightProbe {
  const install = trim(node.installDir);
  const appdata = trim(sharedAppdata);
  const keyPattern = KEYS.map((k) => k.replace(/\./g, '\\.')).join('|');
  const fragments = [
    versionFragment(install, appdata),
    {
      name: 'props',
      body: `f=${q(`${install}/conf/server/installed.properties`)}
if [ -r "$f" ]; then echo found; grep -E ${q(`^[[:space:]]*(${keyPattern})[[:space:]]*[=:]`)} "$f" | sed 's/^/| /'; elif [ -e "$f" ]; then echo unreadable; else echo missing; fi`,
    },
    {
      // JAVA_HOME as bin/server gets it: set_env sourced (in a subshell, output discarded), as every start does.
      name: 'java',
      body: `se=${q(`${install}/bin/set_env`)}
if [ ! -r "$se" ]; then echo no-set-env; exit 0; fi
jh=$(JAVA_HOME=; . "$se" >/dev/null 2>&1 </dev/null; printf '%s' "$JAVA_HOME")
printf 'java_home=%s\\n' "$jh"
[ -n "$jh" ] || exit 0
out=$("$jh/bin/java" -version 2>&1 </dev/null); st=$?
printf '%s\\n' "$out" | head -n 5 | sed 's/^/| /'
echo "java_exit=$st"`,
    },
    {
      name: 'user',
      body: `echo "user=$(id -un)"
echo "owner=$(ls -ld -- ${q(install)} 2>/dev/null | awk '{print $3}')"`,
    },
    {
      name: 'space',
      body: `echo "home_kb=$(df -Pk -- "$HOME" 2>/dev/null | awk 'NR==2 {print $4}')"
echo "install_kb=$(df -Pk -- ${q(install)} 2>/dev/null | awk 'NR==2 {print $4}')"
echo "tree_kb=$(du -sk -- ${q(install)} ${q(`${appdata}/conf`)} 2>/dev/null | awk '{s += $1} END {print s}')"`,
    },
    {
      name: 'patches',
      body: `d=${q(`${appdata}/patches`)}
if [ -d "$d" ]; then echo dir; ls -A -- "$d" | head -n ${LIST_MAX} | sed 's/^/| /'; else echo none; fi`,
    },
    {
      name: 'tomcat',
      body: `d=${q(`${install}/opt/tomcat`)}
if [ -d "$d" ]; then find "$d" -type f -newer ${q(`${install}/conf/installed.version`)} 2>/dev/null | head -n ${LIST_MAX} | sed 's/^/| /'; fi`,
    },
    {
      name: 'keystores',
      body: `for d in ${q(`${install}/conf`)} ${q(`${appdata}/conf`)}; do
  [ -d "$d" ] && find "$d" -maxdepth 2 -type f \\( -name '*.keystore' -o -name '*.jks' -o -name '*.p12' -o -name '*.pfx' \\) 2>/dev/null
done | head -n ${LIST_MAX} | sed 's/^/| /'`,
    },
    ...extra,
  ];
  return { ...composeScript(fragments, nonce), command: '/bin/sh -s' };
}

function listed(section: Section | undefined): string[] {
  return (section?.body ?? '').split('\n').filter((l) => l.startsWith('| ')).map((l) => l.slice(2));
}

function kv(section: Section | undefined, key: string): string | undefined {
  for (const line of (section?.body ?? '').split('\n')) if (line.startsWith(`${key}=`)) return line.slice(key.length + 1);
  return undefined;
}

function kb(text: string | undefined): number | undefined {
  return text && /^\d+$/.test(text.trim()) ? Number(text.trim()) : undefined;
}

/** The properties lines as the product reads them (last key wins; surrounding blanks dropped). */
export function parseProps(lines: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of lines) {
    const m = /^\s*([^=:\s]+)\s*[=:]\s*(.*?)\s*$/.exec(line);
    if (m?.[1] !== undefined) out[m[1]] = m[2] ?? '';
  }
  return out;
}

/** `openjdk version "17.0.9" 2023-10-17` / `java version "1.8.0_392"` → the quoted version. */
export function parseJavaVersionText(text: string): string | undefined {
  return /\bversion\s+"([^"]+)"/.exec(text)?.[1];
}

export function parsePreflightProbe(built: BuiltPreflightProbe, stdout: string): NodeReadResult {
  const split = splitSections(stdout, built.nonce, built.names);
  if (!split.ok) return { ok: false, reason: split.reason };
  const s = (n: string) => split.sections.get(n);
  const version = parseVersion(s('version') ?? { body: '', status: -1 }, true);
  if (version.kind === 'error') return { ok: false, reason: version.message };

  const propsBody = (s('props')?.body ?? '').split('\n');
  const props: PropsRead = propsBody[0] === 'found' ? { kind: 'found', values: parseProps(listed(s('props'))) } : { kind: propsBody[0] === 'unreadable' ? 'unreadable' : 'missing' };

  const javaSection = s('java');
  let java: JavaRead;
  if ((javaSection?.body ?? '').split('\n')[0] === 'no-set-env') java = { kind: 'no-set-env' };
  else {
    const javaHome = kv(javaSection, 'java_home') ?? '';
    const output = listed(javaSection).join('\n');
    const exit = kv(javaSection, 'java_exit');
    if (!javaHome) java = { kind: 'no-java-home' };
    else if (exit !== '0') java = { kind: 'java-failed', javaHome, output: output || `exit ${exit ?? '?'}` };
    else {
      const v = parseJavaVersionText(output);
      java = { kind: 'ok', javaHome, versionText: output.split('\n')[0] ?? '', ...(v ? { version: v } : {}) };
    }
  }

  const patchesBody = (s('patches')?.body ?? '').split('\n');
  const homeFreeKb = kb(kv(s('space'), 'home_kb'));
  const installFreeKb = kb(kv(s('space'), 'install_kb'));
  const installTreeKb = kb(kv(s('space'), 'tree_kb'));
  const db = s('database');
  const sshUser = kv(s('user'), 'user') || undefined;
  const installOwner = kv(s('user'), 'owner') || undefined;
  return {
    ok: true,
    read: {
      installVersion: version.install,
      ...(version.appdata ? { appdataVersion: version.appdata } : {}),
      props,
      java,
      ...(homeFreeKb !== undefined ? { homeFreeKb } : {}),
      ...(installFreeKb !== undefined ? { installFreeKb } : {}),
      ...(installTreeKb !== undefined ? { installTreeKb } : {}),
      ...(db ? { database: parseDatabaseSection(db.body) } : {}),
      ...(patchesBody[0] === 'dir' ? { patches: listed(s('patches')) } : {}),
      tomcatChanged: listed(s('tomcat')),
      keystores: listed(s('keystores')),
      ...(sshUser ? { sshUser } : {}),
      ...(installOwner ? { installOwner } : {}),
    },
  };
}
