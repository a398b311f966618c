// The upgrade prompts the installer asks (texts.ts), and the answer to each, computed from the
// cluster file. A prompt is only answered when it is the last thing printed: the installer is
// then waiting for exactly that answer.
import type { Cluster, ClusterNode } from '../../cluster/types';
import { sameRelease } from '../version';
import { compileLoose, matchLoose, type LooseMatch, type LooseMatcher } from './match';
import { PROMPT_TEXTS, type PromptTextId } from './texts';

export type KnownPromptId = PromptTextId;

/**
 * How to meet the NOTICE (back up, no processes running): acknowledge it when this run proved
 * both, otherwise ask a person, naming what is missing.
 */
export type NoticeDecision =
  | { readonly kind: 'answer'; readonly note: string }
  | { readonly kind: 'ask'; readonly question: string; readonly detail: string };

/** What the driver needs to know to answer; the whole Cluster/ClusterNode fit. */
export interface PromptContext {
  readonly cluster: Pick<Cluster, 'currentVersion' | 'targetVersion'>;
  readonly node: Pick<ClusterNode, 'name' | 'installDir' | 'os'>;
  /** Absent: nobody said the backup and processes were proven, so a person is asked. */
  readonly notice?: NoticeDecision;
}

/** Known prompts the runbook declines to answer; the installer is left waiting for a person. */
export type DeclineKind = 'unexpectedPreviousVersion' | 'noDefaultJavaHome' | 'unsafeAnswer' | 'noticeDeclined';

export type PromptDecision =
  | {
      readonly kind: 'answer';
      /** The line to type, without its line ending. Paths are not secret: it is logged. */
      readonly value: string;
      /** Why this answer, for the log and the journal. */
      readonly note: string;
    }
  | { readonly kind: 'decline'; readonly refusal: DeclineKind; readonly message: string; readonly hint: string }
  /** Only a person may give this answer: ask, then type `value` or end the installer. */
  | { readonly kind: 'confirm'; readonly value: string; readonly note: string; readonly question: string; readonly detail: string };

export interface KnownPrompt {
  readonly id: KnownPromptId;
  /** Who reads the answer: the shell's `read` (backslashes are escapes there) or the Java part. */
  readonly reader: 'shell' | 'java';
  readonly matcher: LooseMatcher;
  decide(values: Readonly<Record<string, string>>, ctx: PromptContext): PromptDecision;
}

/**
 * A path typed at a prompt must arrive as exactly one line, unchanged. A control character
 * (a newline above all) would end the line early and type the rest as answers to the NEXT
 * questions, e.g. "Y" to the upgrade; `read` and the Java part trim surrounding blanks.
 */
function pathAnswer(path: string, reader: 'shell' | 'java', ctx: PromptContext, what: string): PromptDecision {
  if (/[\x00-\x1f\x7f]/.test(path) || path !== path.trim() || path === '') {
    return {
      kind: 'decline',
      refusal: 'unsafeAnswer',
      message: `Node ${ctx.node.name}: installDir ${JSON.stringify(path)} cannot be typed at the installer's ${what} prompt (empty, control characters or surrounding blanks).`,
      hint: 'Fix installDir in ucd-cluster.json, or answer the prompt yourself in the terminal.',
    };
  }
  // The shell reads with plain `read` (no -r), which eats one backslash of each pair; on Windows
  // the .bat reads with `set /p`, which takes the line as is.
  const value = reader === 'shell' && ctx.node.os === 'linux' ? path.replace(/\\/g, '\\\\') : path;
  return { kind: 'answer', value, note: `${what}: ${path} (installDir of ${ctx.node.name})` };
}

export const PROMPTS: readonly KnownPrompt[] = [
  {
    id: 'upgradeDirectory',
    reader: 'shell',
    matcher: compileLoose(PROMPT_TEXTS.upgradeDirectory.text, { atEnd: true }),
    decide: (_v, ctx) => pathAnswer(ctx.node.installDir, 'shell', ctx, 'directory of the server to upgrade'),
  },
  {
    id: 'javaHome',
    reader: 'shell',
    matcher: compileLoose(PROMPT_TEXTS.javaHome.text, { atEnd: true }),
    // Asked only when the install has no bin/set_env. The default shown is the JAVA_HOME of the
    // session running the installer, and a blank answer keeps it: the cluster file names no JRE,
    // and a guessed one is worse than the one the installer found. With no default, a blank
    // answer makes install-server.sh loop ("Could not find java home"), so a person must answer.
    decide: (v, ctx) =>
      v.javaHome
        ? { kind: 'answer', value: '', note: `JRE/JDK home: accepted the installer's default ${v.javaHome} (${ctx.node.name} has no bin/set_env)` }
        : {
            kind: 'decline',
            refusal: 'noDefaultJavaHome',
            message: `Node ${ctx.node.name}: the installer asks for the JRE/JDK home and offers no default (${ctx.node.installDir}/bin/set_env is missing and JAVA_HOME is not set).`,
            hint: 'Type the JRE/JDK home the server uses in the terminal, or set JAVA_HOME for the installer session and run it again.',
          },
  },
  {
    id: 'installDirectory',
    reader: 'java',
    matcher: compileLoose(PROMPT_TEXTS.installDirectory.text, { atEnd: true }),
    decide: (_v, ctx) => pathAnswer(ctx.node.installDir, 'java', ctx, 'install directory'),
  },
  {
    id: 'upgradeConfirm',
    reader: 'java',
    matcher: compileLoose(PROMPT_TEXTS.upgradeConfirm.text, { atEnd: true }),
    // Yes only for the version the cluster file says every node runs: a node on another version
    // is the mismatch the doc warns about, and upgrading it would hide that.
    decide: (v, ctx) => {
      const found = v.version.replace(/\s+/g, '');
      return sameRelease(found, ctx.cluster.currentVersion)
        ? { kind: 'answer', value: 'Y', note: `upgrade: Y (${ctx.node.name} has ${found}, the cluster's currentVersion ${ctx.cluster.currentVersion})` }
        : {
            kind: 'decline',
            refusal: 'unexpectedPreviousVersion',
            message: `Node ${ctx.node.name}: the installer found version ${found} in ${ctx.node.installDir}, but the cluster file says every node runs ${ctx.cluster.currentVersion}. Not answering the upgrade question.`,
            hint: `Check ${ctx.node.installDir}/conf/installed.version on ${ctx.node.name} and currentVersion in ucd-cluster.json; all nodes must be on the same version before the upgrade. Answer in the terminal only if you are sure, or end the installer (Ctrl-C).`,
          };
    },
  },
  {
    id: 'notice',
    reader: 'java',
    matcher: compileLoose(PROMPT_TEXTS.notice.text, { atEnd: true }),
    // Acknowledged only when this run proved the backup and that no process runs; else a person decides.
    decide: (_v, ctx) => {
      const n = ctx.notice ?? {
        kind: 'ask',
        question: `Installer on ${ctx.node.name}: the NOTICE asks for a backup and no running processes, and the runbook was not told they were proven.`,
        detail: 'Upgrade Anyway answers the NOTICE and the upgrade starts (the database schema changes; it cannot be rolled back). Stop Here ends the installer before the upgrade begins.',
      };
      return n.kind === 'answer'
        ? { kind: 'answer', value: '', note: n.note }
        : { kind: 'confirm', value: '', note: 'NOTICE acknowledged by the engineer ("Upgrade Anyway")', question: n.question, detail: n.detail };
    },
  },
];

/** The known prompt that ends `text` (cleaned, flattened output), if any. */
export function matchPrompt(text: string): { readonly prompt: KnownPrompt; readonly match: LooseMatch } | undefined {
  for (const prompt of PROMPTS) {
    const match = matchLoose(prompt.matcher, text);
    if (match) return { prompt, match };
  }
  return undefined;
}
