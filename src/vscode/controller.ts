// Wires the cluster file, the run session (journal) and the views together, and handles the
// tree's commands. No procedure logic lives here: it asks the core and renders the answer.
import * as os from 'node:os';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { Cluster } from '../core/cluster/types';
import { CLUSTER_TEMPLATE } from '../core/cluster/template';
import type { Decision, RequestKind, Target } from '../core/journal/events';
import { renderReport } from '../core/journal/report';
import type { RunLog } from '../core/journal/transcript';
import type { HandlerTable } from '../core/runbook/actions';
import { describeOwner } from '../core/journal/owner';
import { inPlainWords } from '../core/remote/errorWords';
import { terminalExitMessage, terminalSshArgs } from '../core/remote/terminalSsh';
import { WindowClosing } from '../core/runbook/cutOff';
import type { GateOptions } from '../core/runbook/gates';
import { completionNotice, failureNotice, refusalNotice, REQUEST_VERB } from '../core/runbook/notices';
import { liveProgress, ProgressBoard } from '../core/runbook/progress';
import { describeTarget, Runner, type Result, type RunnerOptions } from '../core/runbook/runner';
import { journalPath, RunSession, type SessionRole } from '../core/runbook/session';
import { targetKey } from '../core/runbook/state';
import type { ProbeFn } from '../core/status/look';
import { ClusterFile, type ClusterFileState } from './clusterFile';
import { confirmDestructive } from './dialogs';
import { showStepExplanation } from './explainStep';
import { showTranscript } from './log';
import { showNotice } from './notifications';
import { updateRollbackContext } from './rollback';
import type { InstallerGuard } from '../core/steps/installerGuard';
import { RunbookTree, type RunbookItem } from './runbookTree';
import { secretsInUse } from './secretsInUse';
import { StatusPanel } from './statusPanel';

type Log = vscode.LogOutputChannel;

export class Controller implements vscode.Disposable {
  private readonly tree = new RunbookTree();
  private readonly view: vscode.TreeView<RunbookItem>;
  private readonly disposables: vscode.Disposable[] = [];
  private session: RunSession | undefined;
  private sessionKey = '';
  private sessionSub: { dispose(): void } | undefined;
  /** The role last announced in the log, to tell a takeover from a repaint. */
  private sessionRole: SessionRole['kind'] | undefined;
  private runner: Runner | undefined;
  private readonly running = new Set<AbortController>();
  private readonly statusPanel: StatusPanel;
  /** Where each running action is on each node: the notifications' messages and the tree rows' descriptions. */
  private readonly progress = new ProgressBoard();
  private renderTimer: NodeJS.Timeout | undefined;

  constructor(
    extensionUri: vscode.Uri,
    private readonly clusterFile: ClusterFile,
    private readonly log: Log,
    private readonly handlers: HandlerTable,
    /** The run's logger: `log` writes through it; Show Log opens its transcripts. */
    private readonly runLog: RunLog,
    private readonly rollback?: RunnerOptions['rollback'],
    /** Answers the installer notification's Cancel: the core asks first (installerGuard.ts). */
    private readonly guard?: InstallerGuard,
    /** The status view's read-only look at a node when it opens, and where its last looks are kept. */
    status?: { readonly probe: ProbeFn; readonly memory: vscode.Memento },
    /** The known_hosts files the extension verifies host keys against: the node terminal's ssh trusts the same. */
    private readonly knownHostsFiles: () => readonly string[] = () => [],
  ) {
    this.statusPanel = new StatusPanel(extensionUri, {
      checkNode: (node) => {
        const item = this.nodeItem(node);
        if (item) void this.act({ kind: 'node', ...item }, 'check');
      },
      openTerminal: (node) => void vscode.commands.executeCommand('ucdUpgrade.openTerminal', node),
      showLog: (node) => void this.showNodeLog(node),
      ...(status ?? {}),
    });
    this.disposables.push(this.statusPanel);
    this.view = vscode.window.createTreeView('ucdUpgrade.runbook', { treeDataProvider: this.tree, showCollapseAll: true });
    this.disposables.push(
      this.view,
      clusterFile.onDidChange((s) => this.onClusterFile(s)),
      vscode.workspace.onDidGrantWorkspaceTrust(() => this.render()),
      vscode.workspace.onDidChangeConfiguration((e) => {
        if (e.affectsConfiguration('ucdUpgrade')) this.render();
      }),
    );
    // Freshness is a function of time: a passed stopped-check turns stale without any event.
    const tick = setInterval(() => this.render(), 30_000);
    this.disposables.push({ dispose: () => clearInterval(tick) });
    // Progress comes many times a second (an upload's every chunk): the tree is redrawn at most once
    // a second for it, and not at all once nothing runs (the journal's own change redrew the rows
    // with their results; one more redraw would only move the buttons under the mouse).
    const sub = this.progress.onDidChange(() => {
      if (this.progress.empty) return;
      this.renderTimer ??= setTimeout(() => {
        this.renderTimer = undefined;
        if (!this.progress.empty) this.render();
      }, 1_000);
    });
    this.disposables.push(sub, { dispose: () => clearTimeout(this.renderTimer) });
  }

  /** The runner of the loaded run, for commands beside the steps (Roll back). */
  get runbookRunner(): Runner | undefined {
    return this.runner;
  }

  /** The run session of the loaded cluster file, for commands that record beside the steps (the pre-flight). */
  get runSession(): RunSession | undefined {
    return this.session;
  }

  /**
   * A host key or certificate a person accepted, in the run's journal with who and when. Outside a
   * run (no valid cluster file) or in a read-only window it can only be logged, and says so.
   */
  recordDecision(d: Decision): void {
    try {
      if (!this.session) throw new Error('no run is open (the cluster file is missing or has problems)');
      this.session.decided(d);
    } catch (e) {
      this.log.warn(`a ${d.kind} decision was not recorded in the run journal: ${(e as Error).message}`);
    }
  }

  registerCommands(): vscode.Disposable[] {
    const reg = (id: string, fn: (...args: never[]) => unknown) => vscode.commands.registerCommand(id, fn as (...a: unknown[]) => unknown);
    return [
      reg('ucdUpgrade.createClusterFile', () => this.createClusterFile()),
      reg('ucdUpgrade.openClusterFile', () => vscode.window.showTextDocument(this.clusterFile.uri)),
      reg('ucdUpgrade.refresh', () => this.clusterFile.reload()),
      reg('ucdUpgrade.showLog', (item?: RunbookItem) => (item?.kind === 'node' ? this.showNodeLog(item.node.node) : this.log.show(true))),
      reg('ucdUpgrade.exportReport', () => this.exportReport()),
      reg('ucdUpgrade.openTerminal', (node?: string) => this.openTerminal(node)),
      reg('ucdUpgrade.showStatus', () => {
        this.statusPanel.show();
        this.render();
      }),
      reg('ucdUpgrade.showProblems', () => vscode.commands.executeCommand('workbench.actions.view.problems')),
      reg('ucdUpgrade.run', (item: RunbookItem) => this.act(item, 'run')),
      reg('ucdUpgrade.check', (item: RunbookItem) => this.act(item, 'check')),
      reg('ucdUpgrade.skip', (item: RunbookItem) => this.skip(item)),
      reg('ucdUpgrade.confirm', (item: RunbookItem) => this.confirm(item)),
      reg('ucdUpgrade.reset', (item: RunbookItem) => this.reset(item)),
      reg('ucdUpgrade.explainStep', (item?: RunbookItem) => showStepExplanation(item)),
    ];
  }

  dispose(): void {
    // Not a Cancel: what these actions were doing is cut off from view, and recorded so (cutOff.ts).
    for (const c of this.running) c.abort(new WindowClosing());
    this.sessionSub?.dispose();
    this.session?.dispose();
    for (const d of this.disposables) d.dispose();
  }

  private onClusterFile(state: ClusterFileState): void {
    if (state.kind === 'loaded' && state.result.ok) this.ensureSession(state.result.cluster);
    this.render();
  }

  /**
   * One session per run. The same run again (Refresh, an edit that keeps name and versions) keeps
   * the session and its lock; a follower re-reads and takes over if the owner is gone.
   */
  private ensureSession(cluster: Cluster): void {
    const key = JSON.stringify(cluster);
    const dir = this.clusterFile.folder.uri.fsPath;
    if (this.session && this.session.journalFile === journalPath(cluster, dir)) {
      if (key !== this.sessionKey) this.session.reload(cluster);
      this.sessionKey = key;
      this.session.refresh();
      return;
    }
    this.sessionSub?.dispose();
    // Another run: the old session keeps its lock only until its running actions end.
    this.session?.dispose();
    try {
      this.session = RunSession.open(cluster, dir, secretsInUse.mask);
    } catch (e) {
      this.session = undefined;
      this.runner = undefined;
      this.sessionKey = '';
      void vscode.window.showErrorMessage(`UCD Upgrade: cannot open the run journal: ${(e as Error).message}. Nothing was changed; fix the cause and Refresh.`);
      return;
    }
    this.sessionKey = key;
    this.sessionRole = undefined;
    this.runLog.attach(this.session.journalFile, cluster.nodes.map((n) => n.name));
    this.runner = new Runner(this.session, {
      handlers: this.handlers,
      log: this.runLog,
      gates: () => this.gateOptions(),
      progress: (t, text) => this.progress.report(t.step, t.node, text),
      ...(this.rollback ? { rollback: this.rollback } : {}),
    });
    this.sessionSub = this.session.onDidChange(() => {
      this.announceRole();
      this.render();
    });
    this.log.info(`cluster ${cluster.name}: ${cluster.nodes.length} nodes, ${cluster.currentVersion} → ${cluster.targetVersion}; journal ${this.session.journalFile}`);
    for (const issue of this.session.readIssues) {
      const what = issue.problem === 'truncated' ? 'a truncated last line (a write cut off by a crash)' : 'an unreadable line';
      this.log.warn(`journal line ${issue.line}: ${what}; kept in the file and ignored: ${issue.text}`);
      void vscode.window.showWarningMessage(`UCD Upgrade: the run journal has ${what} at line ${issue.line}. It was kept and ignored; the rest of the run is intact.`);
    }
    this.announceRole();
  }

  /** Logs who owns the run whenever that changes here: opened as owner or follower, taken over, lost. */
  private announceRole(): void {
    const session = this.session;
    if (!session || session.role.kind === this.sessionRole) return;
    const role = session.role;
    const first = this.sessionRole === undefined;
    this.sessionRole = role.kind;
    if (role.kind === 'follower') {
      this.log.warn(`this run is owned by ${describeOwner(role.owner)}: this window shows it read-only and follows it live`);
      if (!first) void vscode.window.showWarningMessage(`UCD Upgrade: ${describeOwner(role.owner)} took this run over; this window is now read-only.`);
      return;
    }
    if (role.previous) this.log.info(`took the run over from ${describeOwner(role.previous)}, which is gone`);
    else if (!first) this.log.info('the window that owned this run closed: this window owns it now');
    for (const t of session.interruptedOnOpen) {
      this.log.warn(`${describe(t)} was running when its window closed: marked interrupted, check it again`);
    }
    // Outside the journal write that told us (a takeover happens inside one).
    void Promise.resolve().then(() => this.followAgain());
  }

  /**
   * Follows again, through the runner, what an earlier window left running detached on a node (an
   * installer after a reload): the tree shows it running there until it ends with its real outcome.
   */
  private followAgain(): void {
    const runner = this.runner;
    if (!runner || !vscode.workspace.isTrusted) return;
    const abort = new AbortController();
    const followed = runner.followAgain(abort.signal);
    if (!followed.length) return;
    this.running.add(abort);
    const from = runner.session.journal.events.length;
    for (const { target, result } of followed) {
      void this.progressNotification(target, 'Following', result, abort);
      void vscode.window.withProgress({ location: { viewId: 'ucdUpgrade.runbook' }, title: `Following: ${describe(target)}` }, () => result).then((r) => {
        this.progress.clear(target);
        this.show(target, 'check', r, from);
      });
    }
    void Promise.allSettled(followed.map((f) => f.result)).then(() => this.running.delete(abort));
  }

  /** The tree's message: why nothing can be changed here, if so. */
  private readOnlyMessage(): string | undefined {
    if (!vscode.workspace.isTrusted) return 'Read-only: this workspace is not trusted, so nothing runs and no step changes.';
    const role = this.session?.role;
    if (role?.kind === 'follower') return `Read-only: this run is owned by ${describeOwner(role.owner)}. This view follows it live and takes the run over when that window closes.`;
    return undefined;
  }

  private render(): void {
    const state = this.clusterFile.state;
    this.view.message = this.readOnlyMessage();
    if (state.kind === 'none') {
      this.tree.update({ kind: 'empty' });
      this.view.description = undefined;
      return;
    }
    if (!state.result.ok) {
      this.tree.update({ kind: 'problems', problems: state.result.problems });
      this.view.description = 'cluster file has problems';
      return;
    }
    updateRollbackContext(this.session);
    if (!this.session) return;
    const c = this.session.cluster;
    const hasLog = new Set<string>();
    for (const e of this.session.journal.events) if (e.type === 'started') hasLog.add(targetKey(e.step, e.node)).add(e.step);
    const steps = liveProgress(this.session.view(this.gateOptions()), this.progress);
    this.tree.update({ kind: 'runbook', steps, hasLog });
    this.view.description = `${c.name}: ${c.currentVersion} → ${c.targetVersion}`;
    const busyNodes = steps.flatMap((s) => s.nodes.filter((n) => n.state === 'running').map((n) => n.node));
    this.statusPanel.update({ cluster: c, events: this.session.journal.events, state: this.session.state(), following: this.session.following(), views: steps, running: [...new Set(busyNodes)] });
  }

  private gateOptions(): GateOptions {
    const maxAge = vscode.workspace.getConfiguration('ucdUpgrade').get<number>('stoppedCheckMaxAgeSeconds', 300);
    return { stoppedMaxAgeMs: maxAge * 1000 };
  }

  /**
   * "Check again" from the status view: the check of the node's current phase — its first step not
   * yet done (a stopped-check while the servers go down, the version check at the end). Once the
   * installer has started, the steps before it are history and not offered again.
   */
  private nodeItem(node: string): Omit<Extract<RunbookItem, { kind: 'node' }>, 'kind'> | undefined {
    const steps = this.session?.view(this.gateOptions()) ?? [];
    const done = new Set(['passed', 'warning', 'skipped', 'confirmed', 'notNeeded']);
    const withNode = steps.filter((s) => !s.history).flatMap((step) => step.nodes.filter((n) => n.node === node).map((n) => ({ step, node: n })));
    return withNode.find((x) => !done.has(x.node.state) && this.handlers[x.step.def.id]?.check) ?? withNode.find((x) => x.step.def.id === 'verifyVersions');
  }

  /** An interactive ssh in the editor's terminal; arguments go to ssh as a list, never through a shell. */
  private async openTerminal(node?: string): Promise<void> {
    const cluster = this.session?.cluster;
    if (!cluster || !vscode.workspace.isTrusted) return;
    const name = node ?? (await vscode.window.showQuickPick(cluster.nodes.map((n) => n.name), { title: 'Open a terminal on which node?' }));
    const n = cluster.nodes.find((x) => x.name === name);
    if (!n) return;
    const terminal = vscode.window.createTerminal({ name: `UCD ${n.name}`, shellPath: 'ssh', shellArgs: terminalSshArgs(n, this.knownHostsFiles()), iconPath: new vscode.ThemeIcon('server') });
    const closed = vscode.window.onDidCloseTerminal((t) => {
      if (t !== terminal) return;
      closed.dispose();
      const message = terminalExitMessage(n, t.exitStatus?.code);
      if (message) {
        this.log.warn(message);
        void vscode.window.showWarningMessage(`UCD Upgrade: ${message}`);
      }
    });
    this.disposables.push(closed);
    terminal.show();
  }

  /** The node's transcript on disk (every window's lines about it in this run), in the main editor area. */
  private async showNodeLog(node: string): Promise<void> {
    const file = this.runLog.nodeFile(node);
    if (!file) {
      void vscode.window.showInformationMessage(`UCD Upgrade: there is no run yet, so nothing is logged about ${node}: open a valid cluster file first.`);
      return;
    }
    try {
      await showTranscript(file);
    } catch (e) {
      void vscode.window.showErrorMessage(`UCD Upgrade: cannot open the transcript of ${node} (${file}): ${(e as Error).message}. The same lines are in the UCD Upgrade output channel.`);
    }
  }


  private async createClusterFile(): Promise<void> {
    const uri = this.clusterFile.uri;
    try {
      await vscode.workspace.fs.stat(uri);
      void vscode.window.showInformationMessage('ucd-cluster.json already exists; opening it.');
    } catch {
      await vscode.workspace.fs.writeFile(uri, new TextEncoder().encode(CLUSTER_TEMPLATE));
      this.log.info(`created ${uri.fsPath} from the template`);
    }
    await vscode.window.showTextDocument(uri);
    await this.clusterFile.reload();
  }

  /** Resolves a tree item to the session and target it stands for, refusing when nothing may change. */
  private resolve(item: RunbookItem | undefined): { runner: Runner; target: Target } | undefined {
    if (!vscode.workspace.isTrusted) {
      void vscode.window.showWarningMessage('UCD Upgrade: this workspace is not trusted, so the runbook is read-only. Trust the workspace to run steps.');
      return undefined;
    }
    if (!item || item.kind === 'problems' || !this.runner) return undefined;
    const readOnly = this.readOnlyMessage();
    if (readOnly) {
      void vscode.window.showWarningMessage(`UCD Upgrade: ${readOnly}`);
      return undefined;
    }
    return { runner: this.runner, target: item.kind === 'node' ? { step: item.step.def.id, node: item.node.node } : { step: item.step.def.id } };
  }

  private async act(item: RunbookItem, kind: 'run' | 'check'): Promise<void> {
    const r = this.resolve(item);
    if (!r) return;
    const verb = kind === 'run' ? 'Run' : 'Check';
    const abort = new AbortController();
    const from = r.runner.session.journal.events.length;
    this.running.add(abort);
    try {
      // onStart may come before withProgress returns: the notification waits a tick for `work` to exist.
      let work: Thenable<Result> | undefined;
      const onStart = () => void Promise.resolve().then(() => this.progressNotification(r.target, verb, work!, abort, kind === 'check' ? CHECK_SHOWN_AFTER_MS : 0));
      work = vscode.window.withProgress(
        { location: { viewId: 'ucdUpgrade.runbook' }, title: `${verb}: ${describe(r.target)}` },
        () => r.runner.perform({ kind, target: r.target }, abort.signal, onStart),
      );
      const result = await work;
      this.progress.clear(r.target);
      this.show(r.target, kind, result, from);
    } finally {
      this.running.delete(abort);
      this.progress.clear(r.target);
    }
  }

  /**
   * The action's progress notification: where it is on each node (the core's words), and a Cancel.
   * On an installer step Cancel is the core's decision: the guard asks (what stopping a schema
   * upgrade halfway means, "Let It Run" first) and stops the installer only on "Stop the
   * Installer"; the step then records the stop, and after "Let It Run" the notification comes
   * back. Elsewhere Cancel ends the action at once (the step records where it got to). Closing the
   * window stops nothing. A Check is shown only once it takes longer than `afterMs`.
   */
  private async progressNotification(target: Target, verb: string, work: Thenable<unknown>, abort: AbortController, afterMs = 0): Promise<void> {
    let finished = false;
    const done = Promise.resolve(work).then(() => (finished = true), () => (finished = true));
    if (afterMs > 0) await Promise.race([done, new Promise((r) => setTimeout(r, afterMs))]);
    const installer = INSTALLER_STEPS.has(target.step);
    while (!finished && !abort.signal.aborted) {
      const cancelled = await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Notification, title: `${verb}: ${describe(target)}`, cancellable: true },
        (progress, token) => new Promise<boolean>((resolve) => {
          let last = '';
          const say = () => {
            const text = this.progressMessage(target, installer);
            if (text !== last) progress.report({ message: (last = text) });
          };
          say();
          const sub = this.progress.onDidChange(say);
          // A long silence of the installer is said by the guard; nothing here ends it.
          const tick = setInterval(say, 15_000);
          const settle = (v: boolean) => (sub.dispose(), clearInterval(tick), resolve(v));
          token.onCancellationRequested(() => settle(true));
          void done.then(() => settle(false));
        }),
      );
      if (!cancelled || finished) return;
      if (!installer) {
        this.log.info(`${describe(target)}: cancelled from its notification`);
        abort.abort();
        return;
      }
      const answer = this.guard ? await this.guard.cancel(target) : 'not-running';
      // Not started yet (the proof, the start gate): nothing runs on a node, so Cancel just ends the wait.
      if (answer === 'not-running' && !finished) abort.abort();
      if (answer === 'stopped') return;
    }
  }

  /** The notification's line: each node's latest progress, and the installer's long silence when there is one. */
  private progressMessage(target: Target, installer: boolean): string {
    const silence = installer && this.guard ? this.guard.progress(target).split('; ').filter((l) => l.startsWith('still running')) : [];
    return [this.progress.summary(target), ...silence].filter(Boolean).join('; ') || 'starting…';
  }

  /**
   * Says what the runner answered, in the words it gave, and what the journal gained since `from`
   * (its length when the action started): a failure naming its nodes, the upgrade's completion.
   */
  private show(target: Target, request: RequestKind, result: Result, from?: number): void {
    const verb = REQUEST_VERB[request];
    const session = this.session;
    const failed = session && from !== undefined ? failureNotice(session.journal.events, from, target) : undefined;
    const complete = session && from !== undefined ? completionNotice(session.journal.events, from, session.cluster) : undefined;
    const actions = { showLog: (node: string) => void this.showNodeLog(node), exportReport: () => void this.exportReport() };
    if (complete) void showNotice(complete, actions);
    switch (result.kind) {
      case 'done':
        if (failed) void showNotice(failed, actions);
        return;
      case 'proven':
        void vscode.window.showInformationMessage(`${describe(target)}: a fresh probe proved it (${result.evidence.join('; ')}). Your note is recorded beside the probe's result.`);
        return;
      case 'refused':
        if (session) void showNotice(refusalNotice(session.cluster, target, request, result.reasons), actions);
        else void vscode.window.showWarningMessage(`${describe(target)}: ${verb} refused: ${result.reasons.join('; ')}`);
        return;
      case 'busy':
        void vscode.window.showInformationMessage(`${describe(target)}: not started: ${result.running}.`);
        return;
      case 'unavailable':
        void vscode.window.showInformationMessage(result.reason);
        return;
      case 'error':
        if (failed) void showNotice(failed, actions);
        else void vscode.window.showErrorMessage(`${describe(target)}: ${inPlainWords(result.message, target.node)}`);
        return;
    }
  }

  /**
   * The change record: saved where the engineer chooses (by default beside the cluster file, not in
   * the hidden journal folder), shown as a rendered preview, and the path said.
   */
  private async exportReport(): Promise<void> {
    const session = this.session;
    if (!session) {
      void vscode.window.showWarningMessage('UCD Upgrade: there is no run to report (the cluster file is missing or has problems).');
      return;
    }
    const suggested = vscode.Uri.joinPath(this.clusterFile.folder.uri, reportFileName(session.journalFile));
    const file = await vscode.window.showSaveDialog({
      title: 'Save the run report (Markdown) for the change record',
      defaultUri: suggested,
      filters: { Markdown: ['md'] },
      saveLabel: 'Save Report',
    });
    if (!file) return;
    const markdown = renderReport({
      cluster: session.cluster,
      events: session.journal.events,
      views: session.view(),
      readIssues: session.readIssues,
      generatedAt: new Date(),
      operator: { user: os.userInfo().username, machine: os.hostname() },
      journalFile: path.basename(session.journalFile),
      savedTo: file.fsPath,
    });
    try {
      await vscode.workspace.fs.writeFile(file, new TextEncoder().encode(markdown));
    } catch (e) {
      void vscode.window.showErrorMessage(`UCD Upgrade: the report could not be saved to ${file.fsPath}: ${(e as Error).message}. Nothing was written; choose another place.`);
      return;
    }
    this.log.info(`report saved to ${file.fsPath}`);
    await vscode.commands.executeCommand('markdown.showPreview', file);
    void vscode.window.showInformationMessage(`UCD Upgrade: the run report is saved to ${file.fsPath}.`);
  }

  private async skip(item: RunbookItem): Promise<void> {
    const r = this.resolve(item);
    if (!r) return;
    const reason = await vscode.window.showInputBox({
      title: `Skip: ${describe(r.target)}`,
      prompt: 'Give the reason for skipping this step (it is recorded in the run journal and the report).',
      placeHolder: 'e.g. backup taken by the DBA team, ticket CHG-1234',
      ignoreFocusOut: true,
      validateInput: (v) => (v.trim() ? undefined : 'A reason is required.'),
    });
    if (reason === undefined) return;
    this.show(r.target, 'skip', await r.runner.skip(r.target, reason));
  }

  private async confirm(item: RunbookItem): Promise<void> {
    const r = this.resolve(item);
    if (!r) return;
    const note = await vscode.window.showInputBox({
      title: `Confirm manually: ${describe(r.target)}`,
      prompt: 'Note what you did or checked by hand (recorded in the run journal and the report). Where a probe can check the step, it runs first and its result is what counts.',
      placeHolder: 'e.g. checked the Dashboard: no processes running',
      ignoreFocusOut: true,
      validateInput: (v) => (v.trim() ? undefined : 'A note is required.'),
    });
    if (note === undefined) return;
    const abort = new AbortController();
    const from = r.runner.session.journal.events.length;
    this.running.add(abort);
    try {
      const result = await vscode.window.withProgress(
        { location: { viewId: 'ucdUpgrade.runbook' }, title: `Confirm: ${describe(r.target)}` },
        () => r.runner.confirm(r.target, note, abort.signal),
      );
      this.show(r.target, 'confirm', result, from);
    } finally {
      this.running.delete(abort);
    }
  }

  private async reset(item: RunbookItem): Promise<void> {
    const r = this.resolve(item);
    if (!r) return;
    const yes = await confirmDestructive(
      `Reset "${describe(r.target)}"?`,
      '',
      'Reset',
      'Keep the Result',
      {
        destructive: 'its recorded result is set aside (the journal keeps the history) and the step must be done again.',
        safe: 'the result stays as recorded; nothing changes.',
      },
    );
    if (!yes) return;
    this.show(r.target, 'reset', await r.runner.reset(r.target, 'reset from the tree'));
  }
}

const describe = describeTarget;

/** "<cluster>-<from>-to-<to>-report.md", named like the run's journal. */
function reportFileName(journalFile: string): string {
  return path.basename(journalFile).replace(/\.jsonl$/, '') + '-report.md';
}

const INSTALLER_STEPS: ReadonlySet<string> = new Set(['installFirst', 'installOthers']);

/** A Check is one round trip per node: its notification appears only when it takes longer than this. */
const CHECK_SHOWN_AFTER_MS = 3_000;


