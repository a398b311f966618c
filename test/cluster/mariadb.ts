// A real MariaDB server (Debian's) for the test cluster: the shared database every simulated UCD
// node uses, holding the simulated schema table ds_db_version. Test-only credentials live in an
// option file, the way the cluster file tells users to keep theirs.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { skipOutsideCi } from '../support/tier';

const run = promisify(execFile);

export interface TestDatabase {
  readonly host: string;
  readonly port: number;
  readonly database: string;
  /** A client option file ([client] user/password/host/port) for mysqldump and mariadb. */
  readonly optionFile: string;
  /** Runs SQL as the UCD user; returns tab-separated rows without headers. */
  query(sql: string): Promise<string>;
  /** The schema version rows, oldest first, as `release_name ver`. */
  schemaVersions(): Promise<string[]>;
  stop(): Promise<void>;
}

export function databasePrerequisites(): string | undefined {
  for (const bin of ['/usr/sbin/mariadbd', '/usr/bin/mariadb-install-db', '/usr/bin/mariadb', '/usr/bin/mariadb-dump']) {
    if (!fs.existsSync(bin)) return skipOutsideCi(`${bin} is missing (Debian package mariadb-server / mariadb-client)`);
  }
  return undefined;
}

async function waitFor(check: () => Promise<boolean>, what: string, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/**
 * Starts mariadbd with its data under `dir`, listening on `bindAddress:port` (the host side of
 * the cluster's bridge, so every node reaches it) and on a socket for setup.
 */
export async function startDatabase(opts: { dir: string; bindAddress: string; port?: number; ucdVersion: string }): Promise<TestDatabase> {
  const port = opts.port ?? 3306;
  const dir = path.resolve(opts.dir);
  const data = path.join(dir, 'data');
  const socket = path.join(dir, 'mysqld.sock');
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(data, { recursive: true });
  await run('/usr/bin/mariadb-install-db', ['--no-defaults', `--datadir=${data}`, '--user=root', '--auth-root-authentication-method=socket', '--skip-test-db'], { timeout: 120_000 });
  const log = fs.openSync(path.join(dir, 'mariadbd.log'), 'a');
  const child: ChildProcess = spawn('/usr/sbin/mariadbd', [
    '--no-defaults', `--datadir=${data}`, `--socket=${socket}`, `--port=${port}`, `--bind-address=${opts.bindAddress}`,
    `--pid-file=${path.join(dir, 'mariadbd.pid')}`, '--user=root', '--skip-name-resolve', '--innodb-buffer-pool-size=32M',
    '--skip-log-bin', '--performance-schema=OFF',
  ], { stdio: ['ignore', log, log], detached: true });
  child.unref();
  const rootSql = (sql: string) => run('/usr/bin/mariadb', ['--no-defaults', `--socket=${socket}`, '-uroot', '-N', '-B', '-e', sql]);
  await waitFor(async () => rootSql('SELECT 1').then(() => true, () => false), 'mariadbd to accept connections');

  const password = 'ucd-test-only';
  await rootSql([
    'CREATE DATABASE ucd',
    `CREATE USER 'ucd'@'%' IDENTIFIED BY '${password}'`,
    `GRANT ALL ON ucd.* TO 'ucd'@'%'`,
    // mysqldump of a single database needs these; a real UCD backup user has them too.
    `GRANT PROCESS, RELOAD ON *.* TO 'ucd'@'%'`,
    'CREATE TABLE ucd.ds_db_version (release_name VARCHAR(255) NOT NULL, ver INT NOT NULL)',
    `INSERT INTO ucd.ds_db_version VALUES ('${opts.ucdVersion}', 1)`,
  ].join('; '));
  const optionFile = path.join(dir, 'client.cnf');
  fs.writeFileSync(optionFile, `[client]\nuser=ucd\npassword=${password}\nhost=${opts.bindAddress}\nport=${port}\n`, { mode: 0o644 });

  const query = async (sql: string): Promise<string> =>
    (await run('/usr/bin/mariadb', [`--defaults-extra-file=${optionFile}`, '-N', '-B', 'ucd', '-e', sql])).stdout;
  return {
    host: opts.bindAddress,
    port,
    database: 'ucd',
    optionFile,
    query,
    schemaVersions: async () => (await query('SELECT release_name, ver FROM ds_db_version ORDER BY ver')).trim().split('\n').filter(Boolean).map((l) => l.replace('\t', ' ')),
    stop: async () => {
      try {
        process.kill(child.pid as number, 'SIGTERM');
      } catch {
        return;
      }
      await waitFor(async () => {
        try {
          process.kill(child.pid as number, 0);
          return false;
        } catch {
          return true;
        }
      }, 'mariadbd to stop', 30_000).catch(() => process.kill(child.pid as number, 'SIGKILL'));
      fs.closeSync(log);
    },
  };
}
