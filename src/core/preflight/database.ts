// The database as the backup will reach it (issue 12: "the database reachable from where the backup
// runs"): the backup command's own client and option file, asked one read-only query (SELECT 1 and
// the schema's size, for the dump's free space), where the command runs. Only the options that say
// how to connect are carried over from the command; a password on its command line is never copied.
import type { Cluster } from '../cluster/types';
import { shQuote } from '../remote/quote';

/** The dump tool → its client, which reads the same option files. */
const CLIENT_OF: Readonly<Record<string, string>> = { mysqldump: 'mysql', 'mariadb-dump': 'mariadb', mariadump: 'mariadb' };

/** Options that say where and as whom to connect; nothing else of the dump's is passed on. */
const CONNECT_LONG = /^--(defaults-file|defaults-extra-file|defaults-group-suffix|host|port|user|socket|protocol|ssl[a-z-]*|tls[a-z-]*|login-path)(=|$)/;
const CONNECT_SHORT = /^-(h|P|u|S)(.*)$/;
const WITH_VALUE_SHORT = new Set(['-h', '-P', '-u', '-S']);

export type DbClientPlan =
  | { readonly kind: 'plan'; readonly client: string; readonly args: readonly string[]; readonly database?: string }
  /** Not a MySQL/MariaDB dump this module can read: the check says so and what to do. */
  | { readonly kind: 'unsupported'; readonly why: string }
  | { readonly kind: 'password-on-command-line' };

/** Shell words of a simple command line (quotes honoured; stops at a redirection, pipe or list). */
export function shellWords(command: string): string[] {
  const words: string[] = [];
  let cur = '';
  let has = false;
  let i = 0;
  while (i < command.length) {
    const ch = command[i]!;
    if (ch === "'") {
      const end = command.indexOf("'", i + 1);
      if (end < 0) break;
      cur += command.slice(i + 1, end);
      has = true;
      i = end + 1;
    } else if (ch === '"') {
      let j = i + 1;
      while (j < command.length && command[j] !== '"') {
        if (command[j] === '\\' && j + 1 < command.length) j++;
        cur += command[j];
        j++;
      }
      has = true;
      i = j + 1;
    } else if (ch === '\\' && i + 1 < command.length) {
      cur += command[i + 1];
      has = true;
      i += 2;
    } else if (/\s/.test(ch)) {
      if (has) words.push(cur);
      cur = '';
      has = false;
      i++;
    } else if ('><|;&'.includes(ch)) {
      if (has) words.push(cur);
      words.push(ch);
      cur = '';
      has = false;
      i++;
    } else {
      cur += ch;
      has = true;
      i++;
    }
  }
  if (has) words.push(cur);
  return words;
}

export function planDbClient(cluster: Pick<Cluster, 'database'>): DbClientPlan {
  const { type, backup } = cluster.database;
  if (type !== 'mysql' && type !== 'mariadb') return { kind: 'unsupported', why: `database.type is ${type}; only MySQL/MariaDB is checked from here` };
  const words = shellWords(backup.command);
  const at = words.findIndex((w) => CLIENT_OF[w.split('/').pop() ?? ''] !== undefined);
  if (at < 0) return { kind: 'unsupported', why: 'the backup command runs neither mysqldump nor mariadb-dump' };
  const tool = words[at]!;
  const base = tool.split('/').pop()!;
  const client = `${tool.slice(0, tool.length - base.length)}${CLIENT_OF[base]}`;
  const args: string[] = [];
  let database: string | undefined;
  for (let i = at + 1; i < words.length; i++) {
    const w = words[i]!;
    if ('><|;&'.includes(w)) break;
    if (/^--password(=|$)/.test(w) || /^-p./.test(w)) return { kind: 'password-on-command-line' };
    if (CONNECT_LONG.test(w)) args.push(w);
    else if (WITH_VALUE_SHORT.has(w) && i + 1 < words.length) args.push(w, words[++i]!);
    else if (CONNECT_SHORT.test(w)) args.push(w);
    else if (!w.startsWith('-') && database === undefined) database = w;
  }
  return { kind: 'plan', client, args, ...(database ? { database } : {}) };
}

/** Read-only: one SELECT, through the backup's client, options first as the client requires. */
export const DB_QUERY = 'SELECT 1, COALESCE(SUM(data_length + index_length), 0) FROM information_schema.tables WHERE table_schema = DATABASE()';

/** The probe section run where the backup runs: the query, and the free space where the dump goes. */
export function databaseFragment(plan: Extract<DbClientPlan, { kind: 'plan' }>, artifact: string): { name: string; body: string } {
  // Options files must come first on a MySQL client's command line.
  const ordered = [...plan.args].sort((a, b) => Number(!/^--defaults-/.test(a)) - Number(!/^--defaults-/.test(b)));
  const argv = [plan.client, ...ordered, '--connect-timeout=10', '-N', '-B', '-e', DB_QUERY, ...(plan.database ? [plan.database] : [])].map(shQuote).join(' ');
  const dir = artifact.replace(/\/[^/]*$/, '') || '/';
  return {
    name: 'database',
    body: `out=$(${argv} 2>&1 </dev/null); st=$?
printf '%s\\n' "$out" | head -n 5 | sed 's/^/| /'
echo "db_exit=$st"
d=${shQuote(dir)}
while [ ! -d "$d" ] && [ "$d" != / ]; do d=$(dirname -- "$d"); done
echo "dump_dir=$d"
echo "dump_kb=$(df -Pk -- "$d" 2>/dev/null | awk 'NR==2 {print $4}')"`,
  };
}

export type DbRead =
  | { readonly kind: 'ok'; readonly schemaBytes?: number; readonly dumpDir: string; readonly dumpFreeKb?: number }
  | { readonly kind: 'failed'; readonly exit: string; readonly output: string; readonly dumpDir: string; readonly dumpFreeKb?: number };

export function parseDatabaseSection(body: string): DbRead {
  const lines = body.split('\n');
  const listed = lines.filter((l) => l.startsWith('| ')).map((l) => l.slice(2));
  const kv = (k: string) => lines.find((l) => l.startsWith(`${k}=`))?.slice(k.length + 1);
  const dumpDir = kv('dump_dir') ?? '?';
  const free = kv('dump_kb');
  const dumpFreeKb = free && /^\d+$/.test(free) ? Number(free) : undefined;
  const exit = kv('db_exit') ?? '?';
  const extra = dumpFreeKb !== undefined ? { dumpFreeKb } : {};
  const row = listed.find((l) => /^1\t\d+$/.test(l));
  if (exit !== '0' || !row) return { kind: 'failed', exit, output: listed.join('\n') || '(no output)', dumpDir, ...extra };
  return { kind: 'ok', schemaBytes: Number(row.split('\t')[1]), dumpDir, ...extra };
}
