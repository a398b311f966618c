// Drives test/fixtures/journal-peer.ts in a real child process: send commands, wait for messages.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import * as path from 'node:path';
import * as readline from 'node:readline';
import type { PeerCommand, PeerMessage } from '../fixtures/journal-peer';

const SCRIPT = path.resolve(__dirname, '../fixtures/journal-peer.js');

export class Peer {
  readonly messages: PeerMessage[] = [];
  private readonly waiters = new Set<() => void>();
  private readonly child: ChildProcessWithoutNullStreams;
  private stderr = '';
  exited = false;

  constructor(env: Record<string, string> = {}) {
    this.child = spawn(process.execPath, [SCRIPT], { env: { ...process.env, ...env }, stdio: 'pipe' });
    readline.createInterface({ input: this.child.stdout }).on('line', (l) => {
      this.messages.push(JSON.parse(l) as PeerMessage);
      for (const w of this.waiters) w();
    });
    this.child.stderr.on('data', (d: Buffer) => (this.stderr += d.toString()));
    this.child.on('exit', () => {
      this.exited = true;
      for (const w of this.waiters) w();
    });
  }

  get pid(): number {
    return this.child.pid!;
  }

  send(c: PeerCommand): number {
    const mark = this.messages.length;
    this.child.stdin.write(JSON.stringify(c) + '\n');
    return mark;
  }

  /** The first message from index `from` on that matches; one deadline, and the message says what did not come. */
  waitFor<T extends PeerMessage>(what: string, pred: (m: PeerMessage) => m is T, from?: number, ms?: number): Promise<T>;
  waitFor(what: string, pred: (m: PeerMessage) => boolean, from?: number, ms?: number): Promise<PeerMessage>;
  waitFor(what: string, pred: (m: PeerMessage) => boolean, from = 0, ms = 15_000): Promise<PeerMessage> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const hit = this.messages.slice(from).find(pred);
        if (hit) {
          done();
          resolve(hit);
        } else if (this.exited) {
          done();
          reject(new Error(`peer ${this.pid} exited before ${what}; stderr: ${this.stderr}; last: ${JSON.stringify(this.messages.at(-1))}`));
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`peer ${this.pid}: no ${what} within ${ms} ms; last message: ${JSON.stringify(this.messages.at(-1))}; stderr: ${this.stderr}`));
      }, ms);
      const done = () => {
        clearTimeout(timer);
        this.waiters.delete(check);
      };
      this.waiters.add(check);
      check();
    });
  }

  ready(): Promise<PeerMessage> {
    return this.waitFor('ready', (m) => m.ev === 'ready');
  }

  kill(signal: NodeJS.Signals): Promise<void> {
    return new Promise((resolve) => {
      if (this.exited) return resolve();
      this.child.once('exit', () => resolve());
      this.child.kill(signal);
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      if (this.exited) return resolve();
      this.child.once('exit', () => resolve());
      this.child.stdin.end();
    });
  }
}

export type StateMessage = Extract<PeerMessage, { ev: 'state' }>;
export const isState = (m: PeerMessage): m is StateMessage => m.ev === 'state';
