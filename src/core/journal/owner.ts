// Who may write a run journal. One process owns it; every other opener follows it read-only.
//
// The lock is a numbered file next to the journal, `<journal>.owner.<n>`, and the owner is the
// highest number present. Taking the lock is creating the next number with a link (atomic, fails if
// it exists), so of two racing openers exactly one wins; the loser sees the winner's record and
// follows. The owner renews a heartbeat in its own file (atomic replace) and checks, before every
// write, that its number is still the highest. A record is "gone" only when its process is dead on
// this host, or, from another host, when its heartbeat has not moved for `staleMs` as measured by
// this process's own clock (no trust in the other host's clock).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { randomUUID } from 'node:crypto';
import { createDurably, replaceDurably } from './durable';

export interface OwnerRecord {
  /** Random, one per acquisition. */
  readonly id: string;
  readonly pid: number;
  /** The process's start time on this host (Linux /proc), so a reused pid is not taken for the owner. */
  readonly pidStart?: string;
  readonly host: string;
  /** The pid namespace (Linux), so two containers with one host name do not judge each other's pids. */
  readonly pidNamespace?: string;
  readonly user: string;
  /** ISO time the lock was taken. */
  readonly since: string;
  /** ISO time of the last renewal, and a counter that moves with it. */
  readonly heartbeat: string;
  readonly beat: number;
}

export interface LockTiming {
  /** How often the owner renews its heartbeat. */
  readonly heartbeatMs: number;
  /** How long a heartbeat from another host may stand still before its owner counts as gone. */
  readonly staleMs: number;
}

export const DEFAULT_LOCK_TIMING: LockTiming = { heartbeatMs: 5_000, staleMs: 30_000 };

export function describeOwner(r: OwnerRecord): string {
  return `${r.user}@${r.host} (pid ${r.pid}, since ${r.since})`;
}

/** Ids of the locks this process holds: a record with our pid but another id is a previous process's. */
const heldHere = new Set<string>();

function procStart(pid: number): string | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

function pidNamespace(): string | undefined {
  try {
    return fs.readlinkSync('/proc/self/ns/pid');
  } catch {
    return undefined;
  }
}

/** Whether the record's pid means something here: the same host name and, where known, the same pid namespace. */
function sameProcessSpace(r: OwnerRecord): boolean {
  if (r.host !== os.hostname()) return false;
  const here = pidNamespace();
  return r.pidNamespace === undefined || here === undefined || r.pidNamespace === here;
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function userName(): string {
  try {
    return os.userInfo().username;
  } catch {
    return process.env.USER ?? process.env.USERNAME ?? 'unknown';
  }
}

/**
 * Judges owner records. Remembers, per record, when its heartbeat last moved by this process's
 * clock: a foreign heartbeat is judged by what this process saw, never by the other host's clock.
 */
export class OwnerLiveness {
  private readonly seen = new Map<string, { beat: string; at: number }>();

  constructor(
    private readonly staleMs: number,
    private readonly clock: () => number = () => performance.now(),
  ) {}

  /** Whether the record's owner is gone; `handOverFromThisProcess` treats this process's own earlier locks as released. */
  isGone(r: OwnerRecord | undefined, fileKey: string, content: string, handOverFromThisProcess = false): boolean {
    if (r && sameProcessSpace(r)) {
      if (r.pid === process.pid) return handOverFromThisProcess || !heldHere.has(r.id);
      if (!pidAlive(r.pid)) return true;
      const start = procStart(r.pid);
      return r.pidStart !== undefined && start !== undefined && start !== r.pidStart;
    }
    // Another host (or an unreadable record): gone once its heartbeat stood still for staleMs.
    const now = this.clock();
    const beat = r ? `${r.id}:${r.beat}` : content;
    const last = this.seen.get(fileKey);
    if (!last || last.beat !== beat) {
      this.seen.set(fileKey, { beat, at: now });
      return false;
    }
    return now - last.at >= this.staleMs;
  }
}

export type Claim =
  | { readonly kind: 'owner'; readonly lock: OwnerLock; readonly previous?: OwnerRecord }
  | { readonly kind: 'follower'; readonly owner: OwnerRecord };

const UNKNOWN_OWNER = (file: string): OwnerRecord => ({ id: '?', pid: 0, host: 'unknown host', user: `unknown (unreadable ${path.basename(file)})`, since: '?', heartbeat: '?', beat: 0 });

function parseRecord(text: string): OwnerRecord | undefined {
  try {
    const v = JSON.parse(text) as Partial<OwnerRecord>;
    if (typeof v.id === 'string' && typeof v.pid === 'number' && typeof v.host === 'string' && typeof v.user === 'string' && typeof v.since === 'string') {
      return { heartbeat: v.since, beat: 0, ...v } as OwnerRecord;
    }
  } catch {
    /* unreadable: judged by whether it changes */
  }
  return undefined;
}

export class OwnerLock {
  private released = false;

  private constructor(
    private readonly prefix: string,
    readonly gen: number,
    private rec: OwnerRecord,
  ) {}

  get record(): OwnerRecord {
    return this.rec;
  }

  get file(): string {
    return `${this.prefix}${this.gen}`;
  }

  /** Takes the journal's lock if nobody live holds it; otherwise names the owner to follow. */
  static claim(journalFile: string, liveness: OwnerLiveness, handOverFromThisProcess = false): Claim {
    const prefix = `${journalFile}.owner.`;
    fs.mkdirSync(path.dirname(journalFile), { recursive: true });
    for (let attempt = 0; attempt < 20; attempt++) {
      const gens = listGens(prefix);
      const top = gens.at(-1);
      let previous: OwnerRecord | undefined;
      if (top !== undefined) {
        let text: string;
        try {
          text = fs.readFileSync(`${prefix}${top}`, 'utf8');
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue; // released just now: look again
          throw e;
        }
        const rec = parseRecord(text);
        if (!liveness.isGone(rec, `${prefix}${top}`, text, handOverFromThisProcess)) return { kind: 'follower', owner: rec ?? UNKNOWN_OWNER(`${prefix}${top}`) };
        previous = rec ?? UNKNOWN_OWNER(`${prefix}${top}`);
      }
      const gen = (top ?? 0) + 1;
      const now = new Date().toISOString();
      const start = procStart(process.pid);
      const ns = pidNamespace();
      const rec: OwnerRecord = {
        id: randomUUID(), pid: process.pid, ...(start ? { pidStart: start } : {}), host: os.hostname(), ...(ns ? { pidNamespace: ns } : {}),
        user: userName(), since: now, heartbeat: now, beat: 0,
      };
      if (!createDurably(`${prefix}${gen}`, JSON.stringify(rec) + '\n')) continue; // another opener won this number
      const lock = new OwnerLock(prefix, gen, rec);
      heldHere.add(rec.id);
      // A slow opener may have linked a number below one taken meanwhile: the highest wins, others step back.
      if (!lock.held()) {
        lock.release();
        continue;
      }
      for (const g of listGens(prefix)) if (g < gen) fs.rmSync(`${prefix}${g}`, { force: true });
      return previous ? { kind: 'owner', lock, previous } : { kind: 'owner', lock };
    }
    throw new Error(`Could not take or follow the lock of ${journalFile}: it changed under every attempt. Close the other windows on this run and try again.`);
  }

  /** Whether this lock is still the journal's owner: not released, and its number the highest present. */
  held(): boolean {
    if (this.released) return false;
    if (listGens(this.prefix).at(-1) !== this.gen) return false;
    try {
      return parseRecord(fs.readFileSync(this.file, 'utf8'))?.id === this.rec.id;
    } catch {
      return false;
    }
  }

  /** Renews the heartbeat; false (and nothing written) when the lock was lost. */
  renew(): boolean {
    if (!this.held()) return false;
    const next: OwnerRecord = { ...this.rec, heartbeat: new Date().toISOString(), beat: this.rec.beat + 1 };
    replaceDurably(this.file, JSON.stringify(next) + '\n');
    this.rec = next;
    return true;
  }

  /** Removes the lock file if it is still ours; the next opener then owns the journal. */
  release(): void {
    if (this.released) return;
    this.released = true;
    heldHere.delete(this.rec.id);
    try {
      if (parseRecord(fs.readFileSync(this.file, 'utf8'))?.id === this.rec.id) fs.rmSync(this.file, { force: true });
    } catch {
      /* already gone */
    }
  }

  /** The live owner's record, if any lock file is present (for naming who holds it). */
  static current(journalFile: string): OwnerRecord | undefined {
    const prefix = `${journalFile}.owner.`;
    const top = listGens(prefix).at(-1);
    if (top === undefined) return undefined;
    try {
      return parseRecord(fs.readFileSync(`${prefix}${top}`, 'utf8'));
    } catch {
      return undefined;
    }
  }
}

function listGens(prefix: string): number[] {
  const dir = path.dirname(prefix);
  const base = path.basename(prefix);
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
  return names
    .filter((n) => n.startsWith(base) && /^\d+$/.test(n.slice(base.length)))
    .map((n) => Number(n.slice(base.length)))
    .sort((a, b) => a - b);
}
