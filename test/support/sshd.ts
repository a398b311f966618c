// A throwaway Debian OpenSSH server on 127.0.0.1:<free port>, for the transport's own tests:
// its own host key, config and authorized keys in a temp dir; nothing outside it is changed
// except (on request) one test user with a known password, for password/keyboard-interactive.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { skipOutsideCi } from './tier';

export const SSHD = '/usr/sbin/sshd';

/** Why these tests cannot run here, or undefined when they can; in CI (CI=true) a reason throws. */
export function sshdSkipReason(): string | undefined {
  if (process.getuid?.() !== 0) return skipOutsideCi('needs root to run sshd and switch to the test users');
  if (!fs.existsSync(SSHD)) return skipOutsideCi(`no ${SSHD} (apt-get install openssh-server)`);
  if (!fs.existsSync('/usr/bin/ssh-keygen')) return skipOutsideCi('no ssh-keygen (apt-get install openssh-client)');
  return undefined;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const a = srv.address() as net.AddressInfo;
      srv.close(() => resolve(a.port));
    });
  });
}

export function keygen(file: string, type: 'ed25519' | 'ecdsa' | 'rsa' = 'ed25519', passphrase = ''): { privateKey: string; publicKeyLine: string } {
  execFileSync('ssh-keygen', ['-q', '-t', type, '-N', passphrase, '-C', `test-${type}`, '-f', file], { stdio: 'ignore' });
  return { privateKey: file, publicKeyLine: fs.readFileSync(`${file}.pub`, 'utf8').trim() };
}

/** What `ssh-keygen -lf` prints as the fingerprint (second field), the ground truth to compare with. */
export function sshKeygenFingerprint(pubFile: string): string {
  return execFileSync('ssh-keygen', ['-lf', pubFile], { encoding: 'utf8' }).split(/\s+/)[1] as string;
}

export const PASSWORD_USER = 'ucdsshpw';

/** Creates (once) a local user with this password, for password and keyboard-interactive tests. */
export function ensurePasswordUser(password: string): string {
  try {
    execFileSync('id', [PASSWORD_USER], { stdio: 'ignore' });
  } catch {
    execFileSync('useradd', ['-m', '-s', '/bin/sh', PASSWORD_USER], { stdio: 'ignore' });
  }
  execFileSync('chpasswd', { input: `${PASSWORD_USER}:${password}\n` });
  return PASSWORD_USER;
}

export interface Sshd {
  readonly host: '127.0.0.1';
  readonly port: number;
  readonly dir: string;
  /** Private key the current user (root) may log in with. */
  readonly clientKey: string;
  readonly hostKeyPub: string;
  /** `[127.0.0.1]:port type base64`, ready for a known_hosts file. */
  readonly knownHostsLine: string;
  readonly user: string;
  /** sshd's log (-e), for diagnosing a failing test. */
  log(): string;
  /** Authorise another public key line for a user. */
  authorize(user: string, publicKeyLine: string): void;
  stop(): Promise<void>;
}

export interface SshdOptions {
  readonly hostKeyType?: 'ed25519' | 'ecdsa' | 'rsa';
  /** Use an existing host key (to restart "the same server", or fake a changed one). */
  readonly hostKeyFile?: string;
  readonly passwordAuth?: boolean;
  readonly keyboardInteractive?: boolean;
  readonly port?: number;
  /** sshd's MaxSessions (sessions per connection); default 10, OpenSSH's own default. */
  readonly maxSessions?: number;
  readonly extraConfig?: readonly string[];
}

export async function startSshd(opts: SshdOptions = {}): Promise<Sshd> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ucd-sshd-'));
  // Users other than root read their authorized_keys from here.
  fs.chmodSync(dir, 0o755);
  fs.mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
  const hostKey = path.join(dir, 'host_key');
  if (opts.hostKeyFile) {
    fs.copyFileSync(opts.hostKeyFile, hostKey);
    fs.copyFileSync(`${opts.hostKeyFile}.pub`, `${hostKey}.pub`);
    fs.chmodSync(hostKey, 0o600);
  } else keygen(hostKey, opts.hostKeyType ?? 'ed25519');
  const { privateKey: clientKey, publicKeyLine } = keygen(path.join(dir, 'client_key'));
  const akDir = path.join(dir, 'authorized_keys');
  fs.mkdirSync(akDir, { mode: 0o755 });
  const user = os.userInfo().username;
  const authorize = (u: string, line: string): void => {
    fs.appendFileSync(path.join(akDir, u), line + '\n', { mode: 0o644 });
  };
  authorize(user, publicKeyLine);

  const port = opts.port ?? (await freePort());
  const pam = opts.passwordAuth === true || opts.keyboardInteractive === true;
  const config = [
    `Port ${port}`,
    'ListenAddress 127.0.0.1',
    `HostKey ${hostKey}`,
    `PidFile ${path.join(dir, 'sshd.pid')}`,
    `AuthorizedKeysFile ${akDir}/%u`,
    'StrictModes no',
    `UsePAM ${pam ? 'yes' : 'no'}`,
    'PermitRootLogin yes',
    `PasswordAuthentication ${opts.passwordAuth ? 'yes' : 'no'}`,
    `KbdInteractiveAuthentication ${opts.keyboardInteractive ? 'yes' : 'no'}`,
    `MaxSessions ${opts.maxSessions ?? 10}`,
    'MaxStartups 100:30:200',
    'Subsystem sftp internal-sftp',
    'LogLevel VERBOSE',
    'PrintMotd no',
    ...(opts.extraConfig ?? []),
  ].join('\n');
  const configFile = path.join(dir, 'sshd_config');
  fs.writeFileSync(configFile, config + '\n');

  let logText = '';
  const child: ChildProcess = spawn(SSHD, ['-D', '-e', '-f', configFile], { stdio: ['ignore', 'ignore', 'pipe'] });
  child.stderr?.on('data', (b: Buffer) => (logText += b.toString()));
  await waitForListen(port, child, () => logText);

  const hostKeyPub = fs.readFileSync(`${hostKey}.pub`, 'utf8').trim();
  const [type, b64] = hostKeyPub.split(/\s+/);
  return {
    host: '127.0.0.1',
    port,
    dir,
    clientKey,
    hostKeyPub: `${hostKey}.pub`,
    knownHostsLine: `[127.0.0.1]:${port} ${type} ${b64}`,
    user,
    log: () => logText,
    authorize,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await exited;
      }
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function waitForListen(port: number, child: ChildProcess, log: () => string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`sshd exited with ${child.exitCode}: ${log()}`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  child.kill('SIGKILL');
  throw new Error(`sshd did not listen on ${port} within 10 s: ${log()}`);
}
