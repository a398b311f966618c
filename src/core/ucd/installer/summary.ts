// What an installer run amounted to, from its events or from a whole transcript (a journal's
// record, a log file): the one result a runbook step records.
import { InstallerDriver, type InstallerEvent, type RefusalKind } from './driver';
import type { PromptContext } from './prompts';

export type InstallerOutcome =
  | {
      readonly kind: 'upgraded';
      /** The version the installer found (its upgrade question); null in silent mode, which does not ask. */
      readonly from: string | null;
      readonly to: string;
      /** This run printed "Found database upgrades": it upgraded the shared schema. */
      readonly schemaUpgraded: boolean;
      /** A person answered at least one prompt in the terminal. */
      readonly handedOver: boolean;
    }
  | { readonly kind: 'refused'; readonly refusal: RefusalKind; readonly message: string; readonly hint: string }
  | { readonly kind: 'aborted'; readonly message: string; readonly hint: string }
  | { readonly kind: 'handed-over'; readonly prompt: string; readonly message: string };

export function summarizeEvents(events: readonly InstallerEvent[], targetVersion: string): InstallerOutcome {
  const done = events.find((e) => e.type === 'done');
  const refusals = events.filter((e) => e.type === 'refusal');
  const product = refusals.find((e) => e.source === 'installer');
  const unknown = events.find((e) => e.type === 'unknownPrompt' && e.reason === 'unrecognised');
  if (done?.type === 'done' && done.success) {
    const upgradeAnswer = events.find((e) => e.type === 'answer' && e.prompt === 'upgradeConfirm');
    const shown = upgradeAnswer?.type === 'answer' ? upgradeAnswer.shown.version : undefined;
    const from = shown ? shown.replace(/\s+/g, '') : null;
    return {
      kind: 'upgraded',
      from,
      to: targetVersion,
      schemaUpgraded: events.some((e) => e.type === 'info' && e.kind === 'databaseUpgrades'),
      handedOver: unknown !== undefined || refusals.some((e) => e.installerWaiting),
    };
  }
  if (product?.type === 'refusal') {
    if (product.kind === 'upgradeAborted') return { kind: 'aborted', message: product.message, hint: product.hint };
    return { kind: 'refused', refusal: product.kind, message: product.message, hint: product.hint };
  }
  const declined = refusals[0];
  if (declined?.type === 'refusal') return { kind: 'refused', refusal: declined.kind, message: declined.message, hint: declined.hint };
  if (unknown?.type === 'unknownPrompt') return { kind: 'handed-over', prompt: unknown.tail, message: unknown.message };
  return {
    kind: 'aborted',
    message: done?.type === 'done' ? done.message : 'The installer has not finished (no end recorded).',
    hint: 'Read the installer output; check the node (installed.version, var/log) before running it again.',
  };
}

/**
 * Replays a transcript through the driver: line by line, quiet only at its end (a transcript has
 * no timing, so only a final unanswered question counts as handed over), then the exit code if
 * the run ended. A live run's events (summarizeEvents) know more: prefer them when available.
 */
export function summarizeTranscript(
  transcript: string,
  ctx: PromptContext & { readonly mode: 'guided' | 'silent' },
  exitCode?: number | null,
): InstallerOutcome {
  let pending: (() => void) | undefined;
  const driver = new InstallerDriver({
    // A transcript is what happened: a NOTICE followed by more output was answered then.
    notice: { kind: 'answer', note: 'NOTICE (from the transcript)' },
    ...ctx,
    quietMs: 1,
    clock: { setTimeout: (fn) => (pending = fn), clearTimeout: () => (pending = undefined) },
  });
  // Line by line, so each prompt is the end of the output when it is read, as it was live.
  for (const line of transcript.split(/(?<=\n)/)) driver.feed(line);
  pending?.();
  if (exitCode !== undefined) driver.end(exitCode);
  return summarizeEvents(driver.events, ctx.cluster.targetVersion);
}
