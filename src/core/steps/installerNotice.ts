// The installer's NOTICE asks for two things the runbook can prove: a backup of the database
// (step 1) and no running processes (step 2). It is acknowledged for the engineer only when this
// run's journal shows both proven; otherwise the engineer decides, told exactly what is missing.
import type { NoticeDecision } from '../ucd/installer/prompts';
import { targetKey, type Outcome, type RunState } from '../runbook/state';

/** Why step `what` does not count as proven, or undefined when it does. */
function unproven(o: Outcome | undefined, what: string): string | undefined {
  if (!o) return `${what}: no result in this run`;
  switch (o.status) {
    case 'passed': return undefined;
    case 'warning': return `${what}: not fully proven (${o.evidence.join('; ') || 'warning'})`;
    case 'failed': return `${what}: failed (${o.evidence.join('; ') || 'no evidence'})`;
    case 'running': return `${what}: still running`;
    case 'interrupted': return `${what}: interrupted, never finished`;
    case 'skipped': return `${what}: skipped ("${o.reason}"), not proven`;
    case 'confirmed': return `${what}: confirmed by hand ("${o.note}"), not proven`;
  }
}

export function noticeDecision(state: RunState, node: string): NoticeDecision {
  const backup = unproven(state.get(targetKey('backup')), 'step 1, database backup');
  const processes = unproven(state.get(targetKey('processes')), 'step 2, no running processes');
  const missing = [backup, processes].filter((m): m is string => m !== undefined);
  if (missing.length === 0) {
    return { kind: 'answer', note: 'NOTICE acknowledged: this run verified the backup (step 1) and that no process runs (step 2)' };
  }
  return {
    kind: 'ask',
    question: `Upgrade ${node} without ${missing.length === 2 ? 'a verified backup and a proof that no process runs' : backup ? 'a verified backup' : 'a proof that no process runs'}?`,
    detail: [
      `The installer's NOTICE: back up the database and filesystem, and no processes may run. Not proven in this run:`,
      ...missing.map((m) => `• ${m}`),
    ].join('\n'),
  };
}
