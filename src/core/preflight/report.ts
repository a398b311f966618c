// The pre-flight as Markdown, to attach to the change request.
import type { Check } from './checks';
import type { PreflightResult } from './run';

const MARK: Record<Check['status'], string> = { pass: 'PASS', fail: '**FAIL**', warn: 'WARN' };
const cell = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');

function rows(checks: readonly Check[], node?: string): string[] {
  return checks.map((c) => `| ${node ? `${cell(node)} | ` : ''}${MARK[c.status]} | ${cell(c.title)} | ${cell(c.evidence.join('; '))} | ${cell(c.hint ?? '')} |`);
}

export function renderPreflightReport(r: PreflightResult): string {
  const verdict = r.verdict === 'failed' ? '**FAILED**' : r.verdict === 'warning' ? 'passed with warnings' : 'passed';
  const out = [
    `# Pre-flight: ${r.cluster}, ${r.from} to ${r.to}`,
    '',
    `Run ${r.at}. Result: ${verdict}. Read-only: nothing was changed on any node.`,
    '',
    '## Cluster',
    '',
    '| Result | Check | Evidence | Next |',
    '|---|---|---|---|',
    ...rows(r.clusterChecks),
    '',
    '## Nodes',
    '',
    '| Node | Result | Check | Evidence | Next |',
    '|---|---|---|---|---|',
    ...r.nodes.flatMap((n) => rows(n.checks, n.node)),
    '',
    '## What the upgrade will change (keep a copy)',
    '',
  ];
  if (r.forgotten.length === 0) out.push('Nothing found: no patches in the appdata `patches` folder, no files under `opt/tomcat` changed after the install, no keystores.');
  else out.push(...r.forgotten.map((f) => `- ${f.node ? `${f.node}: ` : ''}\`${f.path}\` (${f.kind}): ${f.note}`));
  out.push('');
  return out.join('\n');
}
