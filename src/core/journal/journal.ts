// Append-only JSONL journal. Each append is written and fsynced before it returns, so the next
// step never starts ahead of its record. A torn last line (a crash mid-write) is reported and
// sealed off with a newline; no existing byte is ever rewritten or dropped.
import * as fs from 'node:fs';
import * as path from 'node:path';
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
    if (raw.trim() === '') return;
    const isLast = i === lines.length - 1;
    let parsed: unknown;
    try {
      parsed = JSON.parse(raw);
    } catch {
      issues.push({ line: i + 1, problem: isLast && !endsClean ? 'truncated' : 'unreadable', text: raw.slice(0, 200) });
      return;
    }
    const ev = asEvent(parsed);
    if (ev) events.push(ev);
    else issues.push({ line: i + 1, problem: 'unreadable', text: raw.slice(0, 200) });
  });
  return { events, issues };
}

/** Strings that must never reach the disk: replaced wherever they appear in a record. */
export type SecretMask = () => readonly string[];

export class Journal {
  private constructor(
    readonly file: string,
    private readonly secrets: SecretMask,
    readonly events: JournalEvent[],
    readonly issues: JournalReadIssue[],
  ) {}

  static open(file: string, secrets: SecretMask = () => []): Journal {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    let text = '';
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
    const { events, issues } = parseJournal(text);
    if (text.length && !text.endsWith('\n')) {
      // Seal the torn line so the next record starts on a line of its own.
      fs.appendFileSync(file, '\n');
    }
    return new Journal(file, secrets, events, issues);
  }

  append(event: JournalEvent): void {
    const line = mask(JSON.stringify(event), this.secrets()) + '\n';
    const fd = fs.openSync(this.file, 'a');
    try {
      fs.writeSync(fd, line);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    this.events.push(JSON.parse(line) as JournalEvent);
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
