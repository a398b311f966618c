// A LocalShell whose commands run in a private pid namespace (with its own /proc): a "machine"
// on which no process of this host runs, so a test can prove a node stopped while other UCD-shaped
// processes (another test, a test cluster) run on the host. Real isolation, as the cluster's
// nodes have; unprivileged through a user namespace, where the kernel allows one.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import type { ExecOptions, ExecResult, Transport } from '../../src/core/remote/transport';
import { shQuote } from '../../src/core/remote/quote';
import { LocalShell, type FakeServer } from './localShell';

const UNSHARE = 'unshare --user --map-root-user --pid --fork --mount-proc';

/** Why an isolated shell cannot run here, or undefined when it can. */
export function isolationUnavailable(): string | undefined {
  const r = spawnSync('/bin/sh', ['-c', `${UNSHARE} true`], { encoding: 'utf8', timeout: 10_000 });
  return r.status === 0 ? undefined : `this machine denies unprivileged pid namespaces (${(r.stderr || r.error?.message || '').trim()})`;
}

export class IsolatedShell implements Transport {
  readonly shell: LocalShell;
  constructor(readonly label = 'isolated') {
    this.shell = new LocalShell(label);
  }
  exec(command: string, options: ExecOptions = {}): Promise<ExecResult> {
    // Through sh -c, so a compound command (cd … && …) runs whole inside the namespace.
    return this.shell.exec(`exec ${UNSHARE} /bin/sh -c ${shQuote(command)}`, options);
  }
  async close(): Promise<void> {}
}

/**
 * A machine of its own that lives across commands: a private pid namespace (with its own /proc)
 * held by one process, which every command and stand-in server enters. Pids are the sandbox's
 * own, as a probe inside sees them.
 */
export class PidSandbox {
  private constructor(private readonly holder: ChildProcess, readonly initPid: number) {}

  static async start(): Promise<PidSandbox> {
    const holder = spawn('unshare', ['--user', '--map-root-user', '--pid', '--fork', '--mount-proc', '--kill-child', '/bin/sh', '-c', 'echo ready; exec sleep 1000000'], { stdio: ['ignore', 'pipe', 'pipe'] });
    await new Promise<void>((resolve, reject) => {
      let out = '';
      holder.stdout!.on('data', (c: Buffer) => {
        out += c.toString();
        if (out.includes('ready')) resolve();
      });
      holder.once('exit', (code) => reject(new Error(`the pid sandbox did not start (exit ${code})`)));
    });
    // unshare's only child is the namespace's PID 1.
    const children = fs.readFileSync(`/proc/${holder.pid}/task/${holder.pid}/children`, 'utf8').trim().split(/\s+/);
    const initPid = Number(children[0]);
    if (!(initPid > 0)) throw new Error(`the pid sandbox has no init process (${children.join(' ')})`);
    return new PidSandbox(holder, initPid);
  }

  private enter(): string[] {
    return ['-t', String(this.initPid), '-U', '-p', '-m', '--preserve-credentials', '--'];
  }

  /** A transport whose commands run inside the sandbox. */
  transport(label: string): Transport & { readonly shell: LocalShell } {
    const shell = new LocalShell(label);
    const prefix = `exec nsenter ${this.enter().join(' ')}`;
    return { label, shell, exec: (command: string, options: ExecOptions = {}) => shell.exec(`${prefix} ${command}`, options), close: async () => undefined };
  }

  /** The stand-in of startFakeServer (localShell.ts), inside the sandbox; `pid` is its pid there. */
  async startFakeServer(opts: { installDir: string; ports?: number[]; ignoreTerm?: boolean; mainClass?: string }): Promise<FakeServer> {
    const js = `
      const net = require('net');
      ${opts.ignoreTerm ? "process.on('SIGTERM', () => {});" : ''}
      Promise.all(${JSON.stringify(opts.ports ?? [])}.map((p) => new Promise((ok, fail) => { const s = net.createServer(); s.on('error', fail); s.listen(p, '127.0.0.1', () => ok(s.address().port)); })))
        .then((bound) => { process.stdout.write(JSON.stringify({ pid: process.pid, bound }) + '\\n'); setInterval(() => {}, 1 << 30); })
        .catch((e) => { process.stderr.write(String(e)); process.exit(3); });`;
    const child = spawn('nsenter', [...this.enter(), '/bin/bash', '-c', 'exec -a "$0" "$@"', '/usr/lib/jvm/java-17/bin/java', process.execPath, '-e', js, '--', '-Xmx1g', '-jar', `${opts.installDir}/bin/launcher.jar`, `${opts.installDir}/bin/classpath.conf`, opts.mainClass ?? 'com.urbancode.ds.UDeployServer'], { stdio: ['ignore', 'pipe', 'pipe'] });
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    const ready = await new Promise<{ pid: number; bound: number[] }>((resolve, reject) => {
      let out = '';
      let err = '';
      child.stderr!.on('data', (c) => (err += c));
      child.stdout!.on('data', (c) => {
        out += c;
        if (out.includes('\n')) resolve(JSON.parse(out.trim()) as { pid: number; bound: number[] });
      });
      child.once('exit', (code) => reject(new Error(`fake server exited ${code}: ${err}`)));
    });
    const sandbox = this;
    return {
      pid: ready.pid,
      ports: ready.bound,
      exited,
      async stop() {
        if (child.exitCode === null && child.signalCode === null) await sandbox.transport('stop').exec(`kill -9 ${ready.pid}`).catch(() => undefined);
        await exited;
      },
    };
  }

  /** Whether a pid of the sandbox still runs (a zombie does not count). */
  alive(pid: number): boolean {
    try {
      const stat = fs.readFileSync(`/proc/${this.initPid}/root/proc/${pid}/stat`, 'utf8');
      return !/\) [ZX] /.test(stat);
    } catch {
      return false;
    }
  }

  async stop(): Promise<void> {
    if (this.holder.exitCode !== null || this.holder.signalCode !== null) return;
    const gone = new Promise<void>((resolve) => this.holder.once('exit', () => resolve()));
    this.holder.kill('SIGKILL');
    await gone;
  }
}
