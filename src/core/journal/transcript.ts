// The run's log on disk, next to its journal, so it outlives the window: one transcript of the
// whole run and one per node. Every line is masked with the journal's mask and appended and fsynced
// through the journal's own durable path; every line says its step ("[step 5] [ucd1] …", or
// "[run]" outside any step). The front end only shows the lines (the output channel, stderr).
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ActionLog } from '../runbook/actions';
import { MARK } from '../probes/sections';
import { STEPS } from '../runbook/steps';
import { appendDurably } from './durable';
import type { Target } from './events';
import { mask, type SecretMask } from './journal';
import { localTime } from './localTime';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

/** Where the lines are shown as they come (already masked, without a time stamp). */
export type LogSink = (level: LogLevel, line: string) => void;

/** `<journal>.logs/`: beside the journal, one folder per run. */
export function transcriptDir(journalFile: string): string {
  return journalFile.replace(/\.jsonl$/, '') + '.logs';
}

export function runTranscript(journalFile: string): string {
  return path.join(transcriptDir(journalFile), 'run.log');
}

/** Node names are the cluster file's: anything that is not a plain name is spelled safely. */
export function nodeTranscript(journalFile: string, node: string): string {
  return path.join(transcriptDir(journalFile), 'nodes', `${node.replace(/[^A-Za-z0-9._-]+/g, '_')}.log`);
}

/** "[step 5]" for a step's lines; the step's number as the tree shows it. */
export function stepTag(target: Target): string {
  return `[step ${STEPS.findIndex((s) => s.id === target.step) + 1}]`;
}

const NODE_PREFIX = /^(?:\[step \d+\] )?\[([^\]\s]+)\]/;
const STEP_PREFIX = /^\[step \d+\] /;

interface Attached {
  readonly journalFile: string;
  readonly nodes: ReadonlySet<string>;
}

/**
 * The one logger of a run, for the editor and the command line alike. Until a run is attached
 * (no cluster file yet) lines are only shown; once attached they are on disk before the call
 * returns. A transcript that cannot be written is said once and never stops a step.
 */
export class RunLog implements ActionLog {
  private run: Attached | undefined;
  private failed = new Set<string>();

  constructor(
    private readonly secrets: SecretMask,
    private readonly sink: LogSink = () => undefined,
    private readonly timeZone?: string,
    private readonly now: () => Date = () => new Date(),
  ) {}

  /** From now on lines go to this run's transcripts (another run's are left as they are). */
  attach(journalFile: string, nodes: readonly string[]): void {
    if (this.run?.journalFile !== journalFile) this.failed = new Set();
    this.run = { journalFile, nodes: new Set(nodes) };
  }

  get journalFile(): string | undefined {
    return this.run?.journalFile;
  }

  /** The node's transcript, created (with a first line saying so) if nothing was logged about it yet. */
  nodeFile(node: string): string | undefined {
    if (!this.run) return undefined;
    const file = nodeTranscript(this.run.journalFile, node);
    if (!fs.existsSync(file)) this.append(file, `${this.stamp()} [info] [run] [${node}] transcript of ${node} for ${path.basename(this.run.journalFile)}; nothing else logged about ${node} yet\n`);
    return file;
  }

  runFile(): string | undefined {
    return this.run ? runTranscript(this.run.journalFile) : undefined;
  }

  debug(message: string): void {
    this.write('debug', message);
  }

  info(message: string): void {
    this.write('info', message);
  }

  warn(message: string): void {
    this.write('warn', message);
  }

  error(message: string): void {
    this.write('error', message);
  }

  /** The log of one action: each line carries the action's step. */
  forStep(target: Target): ActionLog {
    const tag = stepTag(target);
    const scoped = (m: string) => (STEP_PREFIX.test(m) ? m : `${tag} ${m}`);
    return {
      info: (m) => this.write('info', scoped(m)),
      warn: (m) => this.write('warn', scoped(m)),
      error: (m) => this.write('error', scoped(m)),
    };
  }

  private write(asked: LogLevel, message: string): void {
    const text = mask(message, this.secrets());
    // The probe's framing is protocol, not news: kept in the run's record, out of a person's way.
    const level: LogLevel = asked === 'info' && text.includes(`${MARK}:`) ? 'debug' : asked;
    this.sink(level, text);
    const run = this.run;
    if (!run) return;
    const at = this.stamp();
    const rows = text.split(/\r?\n/);
    // A continuation line belongs to the first line's step (and node).
    const scope = STEP_PREFIX.exec(rows[0])?.[0] ?? '[run] ';
    const body = rows.map((l) => `${at} [${level}] ${STEP_PREFIX.test(l) ? '' : scope}${l}`).join('\n') + '\n';
    this.append(runTranscript(run.journalFile), body);
    const node = NODE_PREFIX.exec(rows[0])?.[1];
    if (node !== undefined && run.nodes.has(node) && level !== 'debug') this.append(nodeTranscript(run.journalFile, node), body);
  }

  private stamp(): string {
    return localTime(this.now(), this.timeZone, true);
  }

  private append(file: string, text: string): void {
    try {
      appendDurably(file, text);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
        try {
          fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
          appendDurably(file, text);
          return;
        } catch (again) {
          e = again;
        }
      }
      if (this.failed.has(file)) return;
      this.failed.add(file);
      this.sink('error', `the transcript ${file} cannot be written (${(e as Error).message}); the steps and the journal go on, the lines are still shown here`);
    }
  }
}
