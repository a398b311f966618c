// Cluster status webview: renders what the extension posts; every action is a message back.
// It never talks to a node itself (views send commands and render state). The last status is
// kept with setState, so a reload shows it at once; ages are counted from the clock.
import type { ClusterStatus, NodeRow, RowLook, RunFact, StatusWarning } from '../../src/core/status/clusterStatus';
import { ago, progressText } from '../../src/core/status/text';
import { button, el, registerElements, tag } from './elements';

interface VsCodeApi {
  postMessage(msg: unknown): void;
  getState(): unknown;
  setState(state: unknown): void;
}
declare function acquireVsCodeApi(): VsCodeApi;

export type HostMessage = { type: 'status'; status: ClusterStatus; running: readonly string[] };
export type ViewMessage = { type: 'ready' } | { type: 'checkNode' | 'openTerminal' | 'showLog'; node: string };

const vscode = acquireVsCodeApi();
registerElements();

const SEVERITY_WORD: Record<StatusWarning['severity'], string> = { critical: 'Danger', error: 'Error', warning: 'Warning', info: 'Note' };
const SERVER_WORD: Record<NodeRow['server'], string> = { stopped: 'stopped', running: 'running', 'stale-pid': 'stale pid file', unknown: 'unknown' };
const HEADS = ['Node', 'Reachable', 'Version', 'Server', 'Load balancer', 'Installer', 'Last check', 'Actions'] as const;

let last: HostMessage | undefined;

/** A time that says its age; the tick keeps the age current without touching the rest. */
function age(iso: string, prefix = ''): HTMLElement {
  return el('span', { class: 'age', 'data-at': iso, 'data-prefix': prefix, title: new Date(iso).toLocaleString() }, [`${prefix}${ago(iso, Date.now())}`]);
}

function sub(children: (Node | string)[], cls = ''): HTMLElement {
  return el('div', { class: `sub${cls ? ` ${cls}` : ''}` }, children);
}

function renderWarnings(ws: readonly StatusWarning[]): HTMLElement {
  if (!ws.length) return el('p', { id: 'warnings', class: 'no-warnings' }, ['No warnings.']);
  return el('ul', { id: 'warnings', 'aria-label': 'Warnings, most serious first' },
    ws.map((w) => el('li', { class: `warning ${w.severity}`, 'data-code': w.code, ...(w.node ? { 'data-node': w.node } : {}) },
      [el('strong', {}, [`${SEVERITY_WORD[w.severity]}: `]), w.message])));
}

function renderProgress(s: ClusterStatus): HTMLElement {
  const t = progressText(s.progress, Date.now());
  const item = (id: string, label: string, text: string) => el('div', { class: 'fact', 'data-fact': id }, [el('dt', {}, [label]), el('dd', {}, [text])]);
  return el('dl', { id: 'progress', 'aria-label': 'Progress of the run' }, [
    item('step', 'Where', t.step),
    item('elapsed', 'Elapsed', t.elapsed),
    item('outage', 'Outage', t.outage),
  ]);
}

function renderRunFacts(fs: readonly RunFact[]): HTMLElement {
  return el('dl', { id: 'run-facts', 'aria-label': 'What the run knows, with its age' },
    fs.map((f) => el('div', { class: 'fact', 'data-fact': f.id }, [el('dt', {}, [f.label]), el('dd', {}, [f.text, ...(f.at ? [' ', age(f.at, '— ')] : [])])])));
}

function lookText(l: RowLook | undefined): (Node | string)[] {
  if (!l) return [];
  switch (l.kind) {
    case 'probing': return [sub(['checking now…'], 'look look-probing')];
    case 'probed': return [];
    case 'failed': return [sub([`probe failed: ${l.message}`], 'look look-failed')];
    case 'left': return [sub([l.why], 'look look-left')];
  }
}

function renderRow(r: NodeRow, running: ReadonlySet<string>, alerted: ReadonlySet<string>): HTMLElement {
  const cell = (head: (typeof HEADS)[number], cls: string, children: (Node | string)[]) => el('td', { class: cls, 'data-label': head }, children);
  const busy = running.has(r.node);
  const probing = r.look?.kind === 'probing';
  const reach = r.reachable === 'no' ? `no: ${r.reachableDetail ?? ''}` : r.reachable === 'unknown' && probing ? 'checking…' : r.reachable;
  return el('tr', { 'data-node': r.node, 'data-server': r.server, ...(r.look ? { 'data-look': r.look.kind } : {}) }, [
    el('th', { scope: 'row' }, [r.node, sub([r.host])]),
    cell('Reachable', `reachable reach-${r.reachable}`, [reach]),
    cell('Version', 'version', [el('span', { class: 'value' }, [r.version ?? '—']), ...(r.versionSeen ? [sub([`${r.versionSeen.by}, `, age(r.versionSeen.at)], 'seen')] : [])]),
    // A running server is news only while it must be down: the warnings say when that is.
    cell('Server', `server server-${r.server}${alerted.has(r.node) ? ' alert' : ''}`, [
      tag(r.server === 'unknown' && probing ? 'checking…' : SERVER_WORD[r.server]),
      sub([r.serverDetail]),
      ...(r.serverSeen ? [sub([`${r.serverSeen.by}, `, age(r.serverSeen.at)], 'seen')] : []),
      // The systemd units that can start or stop this server, e.g. "devops-deploy-server.service: inactive, masked-runtime, Restart=on-failure".
      ...(r.units ?? []).map((u) => el('div', { class: 'sub unit', 'data-unit': u.name }, [`systemd ${u.name}: ${u.active}, ${u.unitFile || 'unit file unknown'}, Restart=${u.restart || 'no'}`])),
    ]),
    cell('Load balancer', 'lb', [r.loadBalancer]),
    // A detached installer says how it is followed; "busy…" says less.
    cell('Installer', 'installer', [
      busy && !r.installerFollow ? 'busy…' : r.installer,
      ...(r.staged ? [sub([`package staged: ${r.staged.text}; ${r.staged.seen.by}, `, age(r.staged.seen.at)], 'staged')] : []),
    ]),
    cell('Last check', 'last-check', [r.lastCheck ? age(r.lastCheck) : 'never', ...lookText(r.look)]),
    cell('Actions', 'actions', [
      button('Check again', { 'aria-label': `Check ${r.node} again`, ...(busy ? { disabled: '' } : {}) }, () => vscode.postMessage({ type: 'checkNode', node: r.node } satisfies ViewMessage)),
      button('Terminal', { 'aria-label': `Open a terminal on ${r.node}` }, () => vscode.postMessage({ type: 'openTerminal', node: r.node } satisfies ViewMessage)),
      button('Log', { 'aria-label': `Show the log of ${r.node}` }, () => vscode.postMessage({ type: 'showLog', node: r.node } satisfies ViewMessage)),
    ]),
  ]);
}

function render(msg: HostMessage): void {
  const s = msg.status;
  const running = new Set(msg.running);
  const alerted = new Set(s.warnings.filter((w) => w.node && (w.code === 'still-running' || w.code === 'stale-pid')).map((w) => w.node as string));
  const table = el('table', { id: 'nodes' }, [
    el('caption', {}, [`${s.cluster}: ${s.from} → ${s.to}, ${s.rows.length} nodes`]),
    el('thead', {}, [el('tr', {}, HEADS.map((h) => el('th', { scope: 'col' }, [h])))]),
    el('tbody', {}, s.rows.map((r) => renderRow(r, running, alerted))),
  ]);
  const root = document.getElementById('root');
  if (!root) return;
  root.replaceChildren(
    el('h1', {}, ['Cluster status']),
    renderProgress(s),
    renderWarnings(s.warnings),
    table,
    el('h2', {}, ['The run so far']),
    renderRunFacts(s.runFacts ?? []),
  );
  last = msg;
  vscode.setState(msg);
}

/** Ages and the progress move with the clock; the rest (and the focus) stays as it is. */
function tick(): void {
  if (!last?.status.progress) return;
  document.getElementById('progress')?.replaceWith(renderProgress(last.status));
  for (const e of document.querySelectorAll<HTMLElement>('.age[data-at]')) e.textContent = `${e.dataset.prefix ?? ''}${ago(e.dataset.at ?? '', Date.now())}`;
}

window.addEventListener('message', (e: MessageEvent<HostMessage>) => {
  if (e.data?.type === 'status') render(e.data);
});
const saved = vscode.getState() as HostMessage | undefined;
// A state saved by an older page lacks the progress: the host's next status replaces it.
if (saved?.type === 'status' && saved.status.progress) render(saved);
setInterval(tick, 5_000);
vscode.postMessage({ type: 'ready' } satisfies ViewMessage);
