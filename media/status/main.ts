// Cluster status webview: renders what the extension posts; every action is a message back.
// It never talks to a node itself (views send commands and render state).
import type { ClusterStatus, NodeRow, StatusWarning } from '../../src/core/status/clusterStatus';
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

function renderWarnings(ws: readonly StatusWarning[]): HTMLElement {
  if (!ws.length) return el('p', { id: 'warnings', class: 'no-warnings' }, ['No warnings.']);
  return el('ul', { id: 'warnings', 'aria-label': 'Warnings, most serious first' },
    ws.map((w) => el('li', { class: `warning ${w.severity}`, 'data-code': w.code, ...(w.node ? { 'data-node': w.node } : {}) },
      [el('strong', {}, [`${SEVERITY_WORD[w.severity]}: `]), w.message])));
}

function time(iso: string | undefined): string {
  return iso ? new Date(iso).toLocaleTimeString() : 'never';
}

function renderRow(r: NodeRow, running: ReadonlySet<string>, alerted: ReadonlySet<string>): HTMLElement {
  const cell = (text: string | Node, cls = '') => el('td', cls ? { class: cls } : {}, [text]);
  const busy = running.has(r.node);
  return el('tr', { 'data-node': r.node }, [
    el('th', { scope: 'row' }, [r.node, el('div', { class: 'sub' }, [r.host])]),
    cell(r.reachable === 'no' ? `no: ${r.reachableDetail ?? ''}` : r.reachable, `reach-${r.reachable}`),
    cell(r.version ?? '—'),
    // A running server is news only while it must be down: the warnings say when that is.
    el('td', { class: `server server-${r.server}${alerted.has(r.node) ? ' alert' : ''}` }, [
      tag(SERVER_WORD[r.server]),
      el('div', { class: 'sub' }, [r.serverDetail]),
      // The systemd units that can start or stop this server, e.g. "devops-deploy-server.service: inactive, masked-runtime, Restart=on-failure".
      ...(r.units ?? []).map((u) => el('div', { class: 'sub unit', 'data-unit': u.name }, [`systemd ${u.name}: ${u.active}, ${u.unitFile || 'unit file unknown'}, Restart=${u.restart || 'no'}`])),
    ]),
    cell(r.loadBalancer),
    // A detached installer says how it is followed; "busy…" says less.
    cell(busy && !r.installerFollow ? 'busy…' : r.installer),
    cell(time(r.lastCheck)),
    el('td', { class: 'actions' }, [
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
  const heads = ['Node', 'Reachable', 'Version', 'Server', 'Load balancer', 'Installer', 'Last check', 'Actions'];
  const table = el('table', { id: 'nodes' }, [
    el('caption', {}, [`${s.cluster}: ${s.from} → ${s.to}, ${s.rows.length} nodes`]),
    el('thead', {}, [el('tr', {}, heads.map((h) => el('th', { scope: 'col' }, [h])))]),
    el('tbody', {}, s.rows.map((r) => renderRow(r, running, alerted))),
  ]);
  const root = document.getElementById('root');
  if (!root) return;
  root.replaceChildren(el('h1', {}, ['Cluster status']), renderWarnings(s.warnings), table);
  vscode.setState(msg);
}

window.addEventListener('message', (e: MessageEvent<HostMessage>) => {
  if (e.data?.type === 'status') render(e.data);
});
const saved = vscode.getState() as HostMessage | undefined;
if (saved?.type === 'status') render(saved);
vscode.postMessage({ type: 'ready' } satisfies ViewMessage);
