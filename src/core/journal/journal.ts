// Append-only JSONL journal. Each append is written and fsynced before it returns, so the next
// step never starts ahead of its record. A torn last line (a crash mid-write) is reported and
// sealed off with a newline; no existing byte is ever rewritten or dropped. Who may append is
// decided by the owner lock (owner.ts); this module only reads and writes.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { appendDurably } from './durable';
import { asEvent, type JournalEvent } from './events';

export interface JournalReadIssue {
  /** 1-based line number in the journal file. */
  readonly line: number;
  readonly problem: 'truncated' | 'unreadable';
  readonly text: string;
}

export interface JournalContents {
  readonly events: JournalEvent[];
  readonly issues: JournalReadIssue[];
}

export function parseJournal(text: string): JournalContents {
  const events: JournalEvent[] = [];
  const issues: JournalReadIssue[] = [];
  const lines = text.split('\n');
  const endsClean = text.length === 0 || text.endsWith('\n');
  lines.forEach((raw, i) => {
    const r = parseLine(raw, i + 1, i === lines.length - 1 && !endsClean);
    if (r?.event) events.push(r.event);
    else if (r?.issue) issues.push(r.issue);
  });
  return { events, issues };
}

function parseLine(raw: string, line: number, torn: boolean): { event?: JournalEvent; issue?: JournalReadIssue } | undefined {
  if (raw.trim() === '') return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    return { issue: { line, problem: torn ? 'truncated' : 'unreadable', text: raw.slice(0, 200) } };
  }
  const event = asEvent(parsed);
  return event ? { event } : { issue: { line, problem: 'unreadable', text: raw.slice(0, 200) } };
}

/** Strings that must never reach the disk: replaced wherever they appear in a record. */
export type SecretMask = () => readonly string[];

/**
 * The journal as this process has read it: every complete line up to `offset`. A follower calls
 * `refresh()` to fold what the owner appended since; a partial last line is left for later (the
 * owner may be writing it). Only the owner seals a torn line, once its writer is known to be gone.
 */
export class Journal {
  readonly events: JournalEvent[] = [];
  readonly issues: JournalReadIssue[] = [];
  private offset = 0;
  private lines = 0;

  private constructor(
    readonly file: string,
    private readonly secrets: SecretMask,
  ) {}

  /** Reads without writing anything (a follower's view). */
  static read(file: string, secrets: SecretMask = () => []): Journal {
    const j = new Journal(file, secrets);
    j.refresh();
    return j;
  }

  /** Reads and seals a torn last line: for the owner. */
  static open(file: string, secrets: SecretMask = () => []): Journal {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    const j = Journal.read(file, secrets);
    j.seal();
    return j;
  }

  /** Folds the complete lines appended since the last read; returns how many events were added. */
  refresh(): number {
    const { complete, size } = this.readFrom(this.offset);
    if (size < this.offset) {
      // The file was replaced or cut: rebuild from what is there now, so the views match the disk.
      this.events.length = 0;
      this.issues.length = 0;
      this.offset = 0;
      this.lines = 0;
      return this.refresh();
    }
    if (complete.length === 0) return 0;
    const before = this.events.length;
    this.fold(complete.toString('utf8'));
    this.offset += complete.length;
    return this.events.length - before;
  }

  /** Reports a torn last line (a writer that crashed mid-line) and ends it, so the next record starts clean. */
  seal(): void {
    this.refresh();
    const { rest } = this.readFrom(this.offset);
    if (rest.length === 0) return;
    this.issues.push({ line: this.lines + 1, problem: 'truncated', text: rest.toString('utf8').slice(0, 200) });
    appendDurably(this.file, '\n');
    this.offset += rest.length + 1;
    this.lines += 1;
  }

  append(event: JournalEvent): void {
    appendDurably(this.file, mask(JSON.stringify(event), this.secrets()) + '\n');
    this.refresh();
  }

  private readFrom(offset: number): { complete: Buffer; rest: Buffer; size: number } {
    let fd: number;
    try {
      fd = fs.openSync(this.file, 'r');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { complete: Buffer.alloc(0), rest: Buffer.alloc(0), size: 0 };
      throw e;
    }
    try {
      const size = fs.fstatSync(fd).size;
      if (size <= offset) return { complete: Buffer.alloc(0), rest: Buffer.alloc(0), size };
      const buf = Buffer.alloc(size - offset);
      let got = 0;
      while (got < buf.length) {
        const n = fs.readSync(fd, buf, got, buf.length - got, offset + got);
        if (n === 0) break;
        got += n;
      }
      const data = buf.subarray(0, got);
      const nl = data.lastIndexOf(0x0a);
      return { complete: data.subarray(0, nl + 1), rest: data.subarray(nl + 1), size };
    } finally {
      fs.closeSync(fd);
    }
  }

  private fold(text: string): void {
    const lines = text.split('\n');
    lines.pop(); // text ends with a newline
    lines.forEach((raw, i) => {
      const r = parseLine(raw, this.lines + i + 1, false);
      if (r?.event) this.events.push(r.event);
      else if (r?.issue) this.issues.push(r.issue);
    });
    this.lines += lines.length;
  }
}

export function mask(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const s of secrets) {
    if (s.length < 3) continue; // masking "a" would shred the record and hide nothing
    const encoded = JSON.stringify(s).slice(1, -1);
    out = out.split(encoded).join('***');
    if (encoded !== s) out = out.split(s).join('***');
  }
  return out;
}

/** One journal per cluster and upgrade: a new target version starts a new run. */
export function journalFileName(cluster: string, from: string, to: string): string {
  const safe = (s: string) => s.replace(/[^A-Za-z0-9._-]+/g, '_');
  return `${safe(cluster)}-${safe(from)}-to-${safe(to)}.jsonl`;
}
