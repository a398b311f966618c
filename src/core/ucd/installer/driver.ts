// Drives install-server.sh from its output stream: answers the known upgrade prompts, reports
// the product's refusals, and gives up the moment the installer waits at something it does not
// know. It only reads text and emits events; the caller owns the pty (writes the answers, hands
// the session to a terminal, ends the process) so this stays pure and testable.
import { cleanLine, looksLikePrompt } from './match';
import { matchPrompt, type DeclineKind, type KnownPromptId, type PromptContext } from './prompts';
import { buildFailedDescription, firstLineRule, type ProductRefusalKind } from './refusals';
import { ANT_TEXTS, type InfoTextId } from './texts';

export type RefusalKind = ProductRefusalKind | DeclineKind | 'repeatedPrompt';

export type InstallerEvent =
  /** A cleaned line of output (ANSI and Ant prefixes removed), for the UI. */
  | { readonly type: 'progress'; readonly line: string }
  /** Write `text` to the installer's input. `value` is a path or Y or empty: not secret, log it. */
  | {
      readonly type: 'answer';
      readonly prompt: KnownPromptId;
      readonly value: string;
      readonly text: string;
      readonly note: string;
      /** What the prompt showed, e.g. { version } of the upgrade question, { javaHome } default. */
      readonly shown: Readonly<Record<string, string>>;
    }
  /**
   * The installer went quiet at something that reads like a question and no known prompt fits.
   * Guided mode: hand the session to a terminal; the driver answers nothing more. Silent mode:
   * advisory only (standard input is already closed, so the installer cannot be waiting on us).
   */
  | {
      readonly type: 'unknownPrompt';
      readonly reason: 'unrecognised' | 'silentQuiet';
      readonly tail: string;
      readonly message: string;
    }
  /**
   * The upgrade will not go on as driven. `source` says who refused: the product's installer, or
   * the runbook declining a known prompt. With `installerWaiting` the installer still waits for
   * input: hand the session to a terminal or end it; never just press Enter.
   */
  | {
      readonly type: 'refusal';
      readonly kind: RefusalKind;
      readonly source: 'installer' | 'runbook';
      readonly line: string;
      readonly message: string;
      readonly hint: string;
      readonly installerWaiting: boolean;
    }
  /**
   * A known prompt only a person may answer (the NOTICE when this run did not prove the backup
   * and processes). The installer waits; call `resolveConfirm` with the person's answer.
   */
  | { readonly type: 'confirm'; readonly prompt: KnownPromptId; readonly question: string; readonly detail: string }
  /** databaseUpgrades: THIS node upgraded the schema; noDatabaseUpgrades: it was already current. */
  | { readonly type: 'info'; readonly kind: InfoTextId; readonly line: string }
  /** The process ended. `success` needs Ant's BUILD SUCCESSFUL: the script's exit code is always 0. */
  | { readonly type: 'done'; readonly success: boolean; readonly exitCode: number | null; readonly message: string };

/** Timers, injectable so tests control "quiet". */
export interface InstallerClock {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const systemClock: InstallerClock = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
};

export interface InstallerDriverOptions extends PromptContext {
  readonly mode: 'guided' | 'silent';
  /** How long the output must stay still before a question-like tail counts as a prompt. */
  readonly quietMs?: number;
  /** What ends a typed answer: a pty's Enter is CR (the tty turns it into NL); a pipe wants NL. */
  readonly lineEnding?: '\r' | '\n';
  /** A prompt asked again after this many answers means our answer was rejected: hand over. */
  readonly maxAnswersPerPrompt?: number;
  readonly clock?: InstallerClock;
  readonly onEvent?: (event: InstallerEvent) => void;
}

export type DriverState = 'driving' | 'confirming' | 'handedOver' | 'refused' | 'ended';

export const DEFAULT_QUIET_MS = 5000;
// Prompts and refusals are the last few lines (the NOTICE, wrapped at 40 columns, takes 9);
// older output has been reported as progress. Small, because every chunk rescans it.
const WINDOW_LINES = 16;

export class InstallerDriver {
  readonly events: InstallerEvent[] = [];
  private stateValue: DriverState = 'driving';
  private partialRaw = '';
  /** How much of partialRaw was already consumed by an answer or a match. */
  private partialSkip = 0;
  private window: string[] = [];
  private readonly answers = new Map<KnownPromptId, number>();
  private timer: unknown;
  private quietReported = false;
  private successSeen = false;
  private failedSeen = false;
  private failDetail = '';
  private installerRefused = false;
  private pendingConfirm: { prompt: KnownPromptId; value: string; note: string; shown: Readonly<Record<string, string>>; line: string } | undefined;
  private readonly quietMs: number;
  private readonly clock: InstallerClock;

  constructor(private readonly options: InstallerDriverOptions) {
    this.quietMs = options.quietMs ?? DEFAULT_QUIET_MS;
    this.clock = options.clock ?? systemClock;
  }

  get state(): DriverState {
    return this.stateValue;
  }

  /** Output from the installer (stdout and stderr interleaved, as a pty gives them). */
  feed(chunk: string): void {
    if (this.stateValue === 'ended' || chunk === '') return;
    this.quietReported = false;
    this.partialRaw += chunk;
    const parts = this.partialRaw.split('\n');
    this.partialRaw = parts.pop() ?? '';
    parts.forEach((raw, i) => {
      const unread = i === 0 ? raw.slice(Math.min(this.partialSkip, raw.length)) : raw;
      this.completeLine(cleanLine(raw), cleanLine(unread));
    });
    if (parts.length > 0) this.partialSkip = 0;
    this.scan(true);
    this.armQuietTimer();
  }

  /** The installer exited (code null: killed by a signal). Emits `done`; later output is ignored. */
  end(exitCode: number | null): void {
    if (this.stateValue === 'ended') return;
    this.clock.clearTimeout(this.timer);
    if (this.partialRaw !== '') {
      const raw = this.partialRaw;
      const unread = raw.slice(Math.min(this.partialSkip, raw.length));
      this.partialRaw = '';
      this.partialSkip = 0;
      this.completeLine(cleanLine(raw), cleanLine(unread));
      // The process is gone: nothing can be typed any more, only recognised.
      this.scan(false);
    }
    if (this.failedSeen && !this.installerRefused) {
      const d = buildFailedDescription(this.options.node.name, this.failDetail);
      this.refuse('buildFailed', 'installer', ANT_TEXTS.buildFailed.text, d.message, d.hint, false);
      this.installerRefused = true;
    }
    const success = this.successSeen && !this.installerRefused;
    const node = this.options.node.name;
    const message = success
      ? `Installer on ${node} finished: ${ANT_TEXTS.buildSuccessful.text}.`
      : this.installerRefused
        ? `Installer on ${node} ended after refusing (exit code ${exitCode ?? 'none, killed'}).`
        : `Installer on ${node} ended (exit code ${exitCode ?? 'none, killed'}) without ${ANT_TEXTS.buildSuccessful.text}: the upgrade did not complete.`;
    this.stateValue = 'ended';
    this.emit({ type: 'done', success, exitCode, message });
  }

  /**
   * The person's answer to a `confirm` event: yes types the answer (an `answer` event); no is a
   * refusal while the installer waits, so the caller ends it. `why` replaces the default message.
   */
  resolveConfirm(yes: boolean, why?: { message: string; hint: string }): void {
    const p = this.pendingConfirm;
    if (!p || this.stateValue !== 'confirming') return;
    this.pendingConfirm = undefined;
    if (yes) {
      this.stateValue = 'driving';
      this.answers.set(p.prompt, (this.answers.get(p.prompt) ?? 0) + 1);
      this.emit({ type: 'answer', prompt: p.prompt, value: p.value, text: p.value + (this.options.lineEnding ?? '\r'), note: p.note, shown: p.shown });
      return;
    }
    const node = this.options.node.name;
    this.refuse(
      'noticeDeclined',
      'runbook',
      p.line,
      why?.message ?? `Installer on ${node}: stopped at the NOTICE ("Stop Here"); the upgrade did not begin and nothing was changed.`,
      why?.hint ?? 'Take the backup (step 1) and make sure no process runs (step 2), then run the installer again.',
      true,
    );
  }

  /** Stops the quiet timer without reporting an end (the caller gave up on the session). */
  dispose(): void {
    this.clock.clearTimeout(this.timer);
  }

  private emit(event: InstallerEvent): void {
    this.events.push(event);
    this.options.onEvent?.(event);
  }

  private completeLine(full: string, unread: string): void {
    if (full !== '') this.emit({ type: 'progress', line: full });
    if (unread === '') return;
    if (unread.startsWith(ANT_TEXTS.buildSuccessful.text)) this.successSeen = true;
    if (unread.startsWith(ANT_TEXTS.buildFailed.text)) this.failedSeen = true;
    // Ant names the build file and line before the message ("/x/install.with.groovy.xml:54: ...").
    else if (this.failedSeen && this.failDetail === '') this.failDetail = unread.replace(/^\S+\.xml:\d+:\s*/, '');
    this.window.push(unread);
    if (this.window.length > WINDOW_LINES) this.window.splice(0, this.window.length - WINDOW_LINES);
  }

  private partialText(): string {
    return cleanLine(this.partialRaw.slice(this.partialSkip));
  }

  /** Refusals and notes first (anywhere in the window), then a known prompt at the very end. */
  private scan(mayAnswer: boolean): void {
    for (;;) {
      const partial = this.partialText();
      const pieces = partial === '' ? this.window : [...this.window, partial];
      const flat = pieces.join(' ');
      const hit = firstLineRule(flat);
      if (!hit) break;
      this.consumeThrough(pieces, hit.match.end);
      if (hit.found.type === 'info') {
        this.emit({ type: 'info', kind: hit.found.rule.kind, line: hit.match.text });
      } else if (!this.installerRefused) {
        const r = hit.found.rule;
        const d = r.describe(hit.match.values, this.options);
        this.installerRefused = true;
        this.refuse(r.kind, 'installer', hit.match.text, d.message, d.hint, r.installerWaiting);
      }
    }
    // Once Ant reports its result the Java part is over: anything that looks like a question now
    // is not one the installer waits on.
    const antDone = this.successSeen || this.failedSeen;
    if (!mayAnswer || antDone || this.stateValue !== 'driving' || this.options.mode !== 'guided') return;
    const partial = this.partialText();
    const flat = (partial === '' ? this.window : [...this.window, partial]).join(' ');
    const found = matchPrompt(flat);
    if (!found) return;
    const { prompt, match } = found;
    this.window = [];
    this.partialSkip = this.partialRaw.length;
    const count = this.answers.get(prompt.id) ?? 0;
    if (count >= (this.options.maxAnswersPerPrompt ?? 2)) {
      this.refuse(
        'repeatedPrompt',
        'runbook',
        match.text,
        `Installer on ${this.options.node.name} asked "${match.text.slice(0, 80)}" again after ${count} answers: it rejects the answer.`,
        'Read the message above the prompt in the terminal and answer it yourself, or end the installer and fix the cluster file.',
        true,
      );
      return;
    }
    const decision = prompt.decide(match.values, this.options);
    if (decision.kind === 'decline') {
      this.refuse(decision.refusal, 'runbook', match.text, decision.message, decision.hint, true);
      return;
    }
    if (decision.kind === 'confirm') {
      this.stateValue = 'confirming';
      this.pendingConfirm = { prompt: prompt.id, value: decision.value, note: decision.note, shown: match.values, line: match.text };
      this.emit({ type: 'confirm', prompt: prompt.id, question: decision.question, detail: decision.detail });
      return;
    }
    this.answers.set(prompt.id, count + 1);
    const text = decision.value + (this.options.lineEnding ?? '\r');
    this.emit({ type: 'answer', prompt: prompt.id, value: decision.value, text, note: decision.note, shown: match.values });
  }

  /** Drops the window up to the piece holding flat offset `end` (pieces joined by one space). */
  private consumeThrough(pieces: readonly string[], end: number): void {
    let offset = 0;
    for (let i = 0; i < pieces.length; i++) {
      offset += pieces[i].length + (i > 0 ? 1 : 0);
      if (offset >= end) {
        if (i >= this.window.length) {
          this.window = [];
          this.partialSkip = this.partialRaw.length;
        } else {
          this.window = this.window.slice(i + 1);
        }
        return;
      }
    }
    this.window = [];
    this.partialSkip = this.partialRaw.length;
  }

  private refuse(kind: RefusalKind, source: 'installer' | 'runbook', line: string, message: string, hint: string, installerWaiting: boolean): void {
    if (this.stateValue === 'driving' || this.stateValue === 'confirming' || this.stateValue === 'handedOver') this.stateValue = 'refused';
    this.emit({ type: 'refusal', kind, source, line, message, hint, installerWaiting });
  }

  private armQuietTimer(): void {
    this.clock.clearTimeout(this.timer);
    this.timer = this.clock.setTimeout(() => this.onQuiet(), this.quietMs);
  }

  private onQuiet(): void {
    if (this.stateValue !== 'driving' || this.quietReported || this.successSeen || this.failedSeen) return;
    const partial = this.partialText();
    const tail = partial !== '' ? partial : (this.window[this.window.length - 1] ?? '');
    if (!looksLikePrompt(tail)) return;
    this.quietReported = true;
    const node = this.options.node.name;
    if (this.options.mode === 'silent') {
      // nonInteractive mode prints each Java-part prompt and takes its default without waiting;
      // the shell's own prompts do wait (the 7.0.4.2 hang) and are reported.
      const flat = (partial === '' ? this.window : [...this.window, partial]).join(' ');
      if (matchPrompt(flat)?.prompt.reader === 'java') return;
      this.emit({
        type: 'unknownPrompt',
        reason: 'silentQuiet',
        tail,
        message: `Silent installer on ${node} has printed nothing for ${Math.round(this.quietMs / 1000)} s after a question: "${tail}". Its input is closed, so it is either working or stuck.`,
      });
      return;
    }
    this.stateValue = 'handedOver';
    this.emit({
      type: 'unknownPrompt',
      reason: 'unrecognised',
      tail,
      message: `Installer on ${node} asks something the runbook does not know: "${tail}". Answer it in the terminal.`,
    });
  }
}
