// What a running action is doing now, per node, in words a person reads at a glance: the upload's
// percent, rate and time left, the installer's phase from its output, a wait's countdown. Steps
// say it through ActionContext.progress; the editor shows it in its notification and the tree
// row, the command line prints it. Nothing here is recorded: the journal and the log keep the facts.
import type { Target } from '../journal/events';
import type { UploadProgress } from '../steps/uploadProgress';
import { formatProgress } from '../steps/uploadProgress';
import type { InstallerEvent } from '../ucd/installer/driver';
import type { KnownPromptId } from '../ucd/installer/prompts';
import { LAYING_FILES } from '../ucd/installer/texts';
import type { StepView } from './view';

/** How a step says where it is on a node; the runner binds it to the step. */
export type ProgressReporter = (node: string, text: string) => void;

/** "35 s", "4 min 5 s", "10 min": seconds under two minutes, whole minutes said without "0 s". */
export function span(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 120) return `${s} s`;
  return s % 60 === 0 ? `${s / 60} min` : `${Math.floor(s / 60)} min ${s % 60} s`;
}

/** "waiting for the login page on ucd1: 35 s of 10 min" */
export function waitingText(what: string, node: string, elapsedMs: number, limitMs: number): string {
  return `waiting for ${what} on ${node}: ${span(Math.min(elapsedMs, limitMs))} of ${span(limitMs)}`;
}

/** "uploading: 37% (12.0 MiB of 32.4 MiB) at 4.1 MiB/s, about 5 s left" */
export function uploadText(p: UploadProgress): string {
  return `${p.sentBytes >= p.totalBytes ? 'uploaded' : 'uploading'}: ${formatProgress(p)}`;
}

const PROMPT_WORDS: Record<KnownPromptId, string> = {
  upgradeDirectory: 'the server to upgrade',
  javaHome: 'the Java home',
  installDirectory: 'the install directory',
  upgradeConfirm: 'the upgrade question',
  notice: 'the NOTICE',
};


/**
 * The installer's phase as its output tells it, or undefined when an event says nothing new (an
 * ordinary line). The schema line is the one that matters most: stopping there is the worst case.
 */
export function installerPhaseText(e: InstallerEvent): string | undefined {
  switch (e.type) {
    case 'answer': return `installer: answered ${PROMPT_WORDS[e.prompt]}${e.value ? ` (${e.value})` : ''}`;
    case 'confirm': return `installer: waiting for your answer at ${PROMPT_WORDS[e.prompt]}`;
    case 'info': return e.kind === 'databaseUpgrades' ? 'installer: upgrading the database schema (stopping now would leave it half-upgraded)' : 'installer: no database upgrade on this node';
    case 'progress': return LAYING_FILES.test(e.line) ? 'installer: laying the new files' : undefined;
    case 'unknownPrompt': return 'installer: waiting at a question it does not know (handed to a terminal)';
    case 'refusal': return `installer: refused — ${e.message}`;
    case 'done': return e.success ? 'installer: finished (BUILD SUCCESSFUL)' : `installer: ended without success — ${e.message}`;
  }
}

const RANK: Record<InstallerEvent['type'], number> = { progress: 0, answer: 0, confirm: 0, unknownPrompt: 0, info: 1, refusal: 3, done: 3 };

/**
 * One installer's phase, never going back: the driver reports a chunk's lines before the notes it
 * finds in them, so "laying the new files" may come before the schema line of the same chunk.
 */
export class InstallerPhases {
  private rank = 0;

  /** The phase to show after `e`, or undefined when it says nothing new (or something older). */
  next(e: InstallerEvent): string | undefined {
    const text = installerPhaseText(e);
    if (text === undefined) return undefined;
    const rank = e.type === 'progress' ? 2 : RANK[e.type];
    // The schema line after the files of the same chunk: the schema part is over.
    if (e.type === 'info' && this.rank === 2) return e.kind === 'databaseUpgrades' ? 'installer: database schema upgraded by this node; laying the new files' : 'installer: no database upgrade on this node; laying the new files';
    if (rank < this.rank) return undefined;
    this.rank = rank;
    return text;
  }
}

interface Line {
  readonly step: Target['step'];
  readonly node: string;
  readonly text: string;
}

/**
 * The latest word of every running action, per step and node. The front end clears a target when
 * its action ends, so a finished action's last progress never stays on show.
 */
export class ProgressBoard {
  private readonly lines = new Map<string, Line>();
  private readonly listeners = new Set<() => void>();

  report(step: Target['step'], node: string, text: string): void {
    const key = `${step}@${node}`;
    if (this.lines.get(key)?.text === text) return;
    this.lines.set(key, { step, node, text });
    this.changed();
  }

  /** Forgets what `target` said: its step on its node, or on every node when none is named. */
  clear(target: Target): void {
    let any = false;
    for (const [k, l] of this.lines) {
      if (l.step === target.step && (target.node === undefined || l.node === target.node)) any = this.lines.delete(k) || any;
    }
    if (any) this.changed();
  }

  /** Nothing running says anything: the rows already show their results. */
  get empty(): boolean {
    return this.lines.size === 0;
  }

  text(step: Target['step'], node: string): string | undefined {
    return this.lines.get(`${step}@${node}`)?.text;
  }

  /** One line for a notification: "ucd1: uploading: 37% …; ucd2: uploaded: 100% …". */
  summary(target: Target): string {
    return [...this.lines.values()]
      .filter((l) => l.step === target.step && (target.node === undefined || l.node === target.node))
      .map((l) => `${l.node}: ${l.text}`)
      .join('; ');
  }

  onDidChange(listener: () => void): { dispose(): void } {
    this.listeners.add(listener);
    return { dispose: () => this.listeners.delete(listener) };
  }

  private changed(): void {
    for (const l of this.listeners) l();
  }
}

/**
 * A printer's pace: a node's line is worth printing when it says something new in kind (another
 * phase, not just another percent) or when `everyMs` has passed since its last one.
 */
export class ProgressPace {
  private readonly last = new Map<string, { text: string; at: number }>();

  constructor(private readonly everyMs = 5_000, private readonly now: () => number = Date.now) {}

  due(node: string, text: string): boolean {
    const t = this.now();
    const prev = this.last.get(node);
    const kind = (s: string) => s.replace(/[\d.,]+/g, '#');
    const due = !prev || (prev.text !== text && (kind(prev.text) !== kind(text) || t - prev.at >= this.everyMs));
    if (due) this.last.set(node, { text, at: t });
    return due;
  }
}

/**
 * The views with each running node's latest progress as its detail, so the tree row says
 * "running — uploading: 37% …" while it runs; a node that is not running keeps its own words.
 */
export function liveProgress(steps: readonly StepView[], board: ProgressBoard): StepView[] {
  return steps.map((s) => {
    if (!s.nodes.some((n) => n.state === 'running' && board.text(s.def.id, n.node) !== undefined)) return s;
    return { ...s, nodes: s.nodes.map((n) => {
      const text = n.state === 'running' ? board.text(s.def.id, n.node) : undefined;
      if (text === undefined) return n;
      // How a detached installer is followed (or that its link is lost) stays in front of its phase.
      return { ...n, detail: !n.detail || /^(running|checking)…$/.test(n.detail) ? text : `${n.detail} — ${text}` };
    }) };
  });
}
