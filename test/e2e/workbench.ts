// Every VS Code workbench selector the end-to-end tests use, in one place: when a VS Code
// release moves the DOM, this is the only file to change.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Browser, BrowserContext, FrameLocator, Locator, Page } from 'playwright-core';
import type { CodeServer } from './harness';

const SEL = {
  workbench: '.monaco-workbench',
  activityItem: (title: string) => `.part.activitybar .action-item a.action-label[aria-label^="${title}"]`,
  viewlet: (containerId: string) => `[id="workbench.view.extension.${containerId}"]`,
  treeRow: '.customview-tree .monaco-list-row[role="treeitem"]',
  viewMessage: '.tree-explorer-viewlet-tree-view > .message',
  rowLabel: '.label-name',
  rowDescription: '.label-description',
  // The box a row's label and description share; what does not fit is cut at its right edge.
  rowLabelContainer: '.monaco-icon-label-container',
  rowTwistie: '.monaco-tl-twistie',
  inlineAction: (label: string) => `.actions .action-label[aria-label="${label}"]`,
  welcome: '.welcome-view',
  welcomeButton: '.welcome-view .monaco-button',
  quickInput: '.quick-input-widget',
  quickInputBox: '.quick-input-widget .quick-input-box input',
  quickInputMessage: '.quick-input-widget .quick-input-message',
  markersPanel: '.markers-panel',
  markerRow: '.markers-panel .monaco-list-row',
  notificationToast: '.notifications-toasts .notification-toast',
  notificationExpand: '.action-label.codicon-notifications-expand',
  editorTab: (name: string) => `.tabs-container .tab[aria-label^="${name}"]`,
  activeEditor: '.editor-group-container.active .monaco-editor',
  sidebar: '#workbench\\.parts\\.sidebar',
  sidebarSash: '.monaco-sash.vertical',
  dialog: '.monaco-dialog-box',
  dialogMessage: '.monaco-dialog-box .dialog-message-text',
  dialogDetail: '.monaco-dialog-box .dialog-message-detail',
  dialogButton: '.monaco-dialog-box .dialog-buttons .monaco-button',
  quickInputTitle: '.quick-input-widget .quick-input-title',
  quickInputList: '.quick-input-widget .quick-input-list',
  quickPickRow: '.quick-input-widget .quick-input-list .monaco-list-row',
  quickPickRowLabel: '.label-name',
  quickInputOk: '.quick-input-widget .quick-input-action .monaco-button',
  webview: 'iframe.webview.ready',
  webviewContent: '#active-frame',
  contextMenu: '.context-view .monaco-menu-container',
  viewProgress: (containerId: string) => `[id="workbench.view.extension.${containerId}"] .monaco-progress-container.active`,
  outputPanel: '.part.panel .output-view',
  outputLines: '.part.panel .output-view .monaco-editor .view-lines',
  // The panel keeps a filter box per view (Problems has one too): the Output view's, as shown.
  outputFilter: '.part.panel .viewpane-filter input[placeholder*="text1,text2"]:visible',
  viewTitleAction: (label: string) => `.part.sidebar .title-actions .action-label[aria-label="${label}"]`,
} as const;

/**
 * The button of `d` labelled exactly `label`, if it shows one. Destructive dialogs have exactly
 * two buttons with the labels of the dialog wording agreed in issue 8 ("Cancel Them in UCD" /
 * "Keep Them Running", "Kill Them" / "Leave Them Running", "Move Storage" / "Do Not Move", …).
 */
export function dialogButton(d: Dialog, label: string): string | undefined {
  return d.buttons.includes(label) ? label : undefined;
}

/** A modal dialog of the workbench (showWarningMessage with modal: true), as the user reads it. */
export interface Dialog {
  readonly message: string;
  readonly detail: string;
  readonly buttons: readonly string[];
}

/** What the quick input shows now: an input box (showInputBox) or a list (showQuickPick). */
export type QuickInput =
  | { readonly kind: 'input'; readonly title: string; readonly prompt: string; readonly password: boolean }
  | { readonly kind: 'pick'; readonly title: string; readonly items: readonly string[] };

/** One warning of the status webview's list. */
export interface StatusWarningRow {
  readonly code: string;
  readonly node?: string;
  readonly text: string;
}

/** One node row of the status webview's table, cell by cell as shown. */
export interface StatusNodeRow {
  readonly node: string;
  readonly reachable: string;
  /** The version alone, and when and by what it was read ("status probe, just now"). */
  readonly version: string;
  readonly versionSeen: string;
  readonly server: string;
  readonly installer: string;
  readonly lastCheck: string;
  /** The last check's time (ISO), from the page's own record of it. */
  readonly lastCheckAt?: string;
  /** The view's own probe of the node: probing, probed, failed or left (none before it looked). */
  readonly look?: string;
}

/** A row's text on screen, in page pixels (rowLayout). */
export interface RowLayout {
  readonly sidebarLeft: number;
  readonly sidebarRight: number;
  readonly label: string;
  readonly description: string;
  /** The description's first word: the row's state. */
  readonly word: string;
  readonly container?: { readonly left: number; readonly right: number };
  readonly name?: { readonly left: number; readonly right: number };
  readonly firstWord?: { readonly left: number; readonly right: number };
}

export interface Marker {
  readonly text: string;
  readonly line: number;
  readonly column: number;
}

export class Workbench {
  /** Errors the workbench logged (extension activation failures show up here first). */
  readonly consoleErrors: string[] = [];

  private constructor(
    readonly page: Page,
    private readonly context: BrowserContext,
    readonly folder: string,
  ) {
    page.on('console', (m) => {
      if (m.type() === 'error') this.consoleErrors.push(m.text());
    });
    page.on('pageerror', (e) => this.consoleErrors.push(e.message));
  }

  /** A fresh browser profile (no state from other tests) with `folder` open as the workspace. */
  static async open(browser: Browser, server: CodeServer, folder: string): Promise<Workbench> {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const page = await context.newPage();
    page.setDefaultTimeout(20_000);
    const wb = new Workbench(page, context, folder);
    await page.goto(server.folderUrl(folder));
    await wb.waitForWorkbench();
    return wb;
  }

  async close(): Promise<void> {
    await this.context.close();
  }

  /** The extension's activation failures, to put in an assertion message. */
  activationErrors(): string[] {
    return this.consoleErrors.filter((e) => /Activating extension .*ucd-ha-upgrade.* failed|ucd-ha-upgrade/i.test(e));
  }

  // ---- views

  /**
   * Shows the runbook's view container. Not by its activity-bar item: a click there closes the
   * sidebar when the container is already showing, and a window restores its sidebar on its own a
   * moment after it loads, so whether a click opens or closes it depends on timing. The view's
   * Focus command only ever opens it. For a new window: its activity-bar item appears once the
   * extension's contributions (that command among them) are registered.
   */
  async openView(title: string): Promise<void> {
    await this.page.locator(SEL.activityItem(title)).waitFor({ state: 'visible', timeout: 30_000 });
    await this.runCommand(`${title}: Focus on Runbook View`);
    await this.page.locator(SEL.viewlet('ucdUpgrade')).waitFor({ state: 'visible', timeout: 30_000 }).catch(() => {
      throw new Error(`the "${title}" view did not open within 30 s${this.diagnosis()}`);
    });
  }

  // ---- waiting on what the user sees

  /**
   * Reads `read` until `ok` holds, with one deadline. The error names `what` did not appear and
   * what was shown last, so a failure says where the run stood.
   */
  async waitUntil<T>(read: () => Promise<T>, ok: (v: T) => boolean, what: string, timeoutMs = 30_000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    let last: T | undefined;
    let error = '';
    for (;;) {
      try {
        last = await read();
        error = '';
        if (ok(last)) return last;
      } catch (e) {
        // The tree and the panels re-render while they are read: a read of a row that went away is no answer yet.
        error = (e as Error).message.split('\n')[0];
      }
      if (Date.now() >= deadline) break;
      await this.page.waitForTimeout(200);
    }
    throw new Error(`${what} did not appear within ${timeoutMs} ms; shown last: ${error ? `(unreadable: ${error})` : JSON.stringify(last)}${this.diagnosis()}`);
  }

  /**
   * Brings the window to a known state: closes what an earlier test (or a failure in it) left
   * open — a context menu, a dialog (Escape picks its safe answer), a quick input, notifications —
   * and checks that none is open. Returns what it closed, so the test can say so.
   */
  async closeLeftovers(): Promise<string[]> {
    const closed: string[] = [];
    if (await this.page.locator(SEL.contextMenu).isVisible().catch(() => false)) {
      closed.push('a context menu');
      await this.page.keyboard.press('Escape');
      await this.page.locator(SEL.contextMenu).waitFor({ state: 'hidden' });
    }
    const d = await this.dialog();
    if (d) {
      closed.push(`the dialog "${d.message}" [${d.buttons.join(' | ')}]`);
      await this.page.keyboard.press('Escape');
      await this.page.locator(SEL.dialog).waitFor({ state: 'hidden' });
    }
    const q = await this.quickInput();
    if (q) {
      closed.push(`the ${q.kind === 'pick' ? 'quick pick' : 'input box'} "${q.title}"`);
      await this.page.keyboard.press('Escape');
      await this.waitUntil(async () => (await this.quickInput()) === undefined, (gone) => gone, `the ${q.kind} "${q.title}" closing after Escape`, 10_000);
    }
    const toasts = await this.notifications();
    if (toasts.length) {
      closed.push(...toasts.map((t) => `the notification "${t}"`));
      await this.runCommand('Notifications: Clear All Notifications');
    }
    await this.waitUntil(
      async () => ({ menu: await this.page.locator(SEL.contextMenu).isVisible(), dialog: await this.dialog(), input: await this.quickInput(), notifications: await this.notifications() }),
      (s) => !s.menu && !s.dialog && !s.input && s.notifications.length === 0,
      'a window with no menu, dialog, quick input or notification open',
      10_000,
    );
    return closed;
  }

  /** The runbook view's rows that are rendered now, in order, as shown. */
  treeRows(): Locator {
    return this.page.locator(`${SEL.viewlet('ucdUpgrade')} ${SEL.treeRow}`);
  }

  row(label: string | RegExp): Locator {
    return this.treeRows().filter({ has: this.page.locator(SEL.rowLabel, { hasText: label }) });
  }

  async rowLabels(): Promise<{ label: string; level: number }[]> {
    const rows = await this.treeRows().all();
    const out: { label: string; level: number }[] = [];
    for (const r of rows) {
      out.push({ label: (await r.locator(SEL.rowLabel).innerText()).trim(), level: Number(await r.getAttribute('aria-level')) });
    }
    return out;
  }

  /** The runbook view's message above the tree (TreeView.message), '' when none is shown. */
  async viewMessage(): Promise<string> {
    const m = this.page.locator(`${SEL.viewlet('ucdUpgrade')} ${SEL.viewMessage}`).first();
    if (!(await m.count()) || (await m.getAttribute('class'))?.split(/\s+/).includes('hide')) return '';
    return (await m.innerText()).trim();
  }

  async rowDescription(label: string | RegExp): Promise<string> {
    const d = this.row(label).first().locator(SEL.rowDescription);
    return (await d.count()) ? (await d.innerText()).trim() : '';
  }

  /** Waits until the tree shows exactly `count` top-level rows, and returns their labels. */
  async waitForTopLevelRows(count: number, timeoutMs = 30_000): Promise<string[]> {
    const deadline = Date.now() + timeoutMs;
    let last: string[] = [];
    while (Date.now() < deadline) {
      last = (await this.rowLabels().catch(() => [])).filter((r) => r.level === 1).map((r) => r.label);
      if (last.length === count) return last;
      if (this.activationErrors().length) break;
      await this.page.waitForTimeout(250);
    }
    throw new Error(`the runbook tree showed ${last.length} top-level rows, not ${count}: ${JSON.stringify(last)}${this.diagnosis()}`);
  }

  async expand(label: string | RegExp): Promise<void> {
    const row = this.row(label).first();
    if ((await row.getAttribute('aria-expanded')) !== 'true') await row.locator(SEL.rowTwistie).click();
    await this.page.waitForFunction(
      (el) => el?.getAttribute('aria-expanded') === 'true',
      await row.elementHandle(),
    );
  }

  /** Labels of the rows right under `label` (one level deeper, until the next row at its level). */
  async childLabels(label: string): Promise<string[]> {
    const rows = await this.rowLabels();
    const i = rows.findIndex((r) => r.label === label);
    if (i < 0) throw new Error(`no row "${label}" in ${JSON.stringify(rows.map((r) => r.label))}`);
    const out: string[] = [];
    for (let j = i + 1; j < rows.length && rows[j].level > rows[i].level; j++) if (rows[j].level === rows[i].level + 1) out.push(rows[j].label);
    return out;
  }

  /** Whether the row offers the inline action now (the tree renders a row's actions with it, shown on hover). */
  async offers(rowLabel: string | RegExp, action: string): Promise<boolean> {
    return (await this.row(rowLabel).first().locator(SEL.inlineAction(action)).count()) > 0;
  }

  /**
   * Clicks an inline action of a row. The tree re-renders its rows whenever the run changes (and
   * on a 30-s tick), and a mouse click whose press and release straddle a re-render reaches no
   * button at all. So: wait until the row offers the action, hover the row so the button shows
   * as it does for a user, and send the click to the button in one event.
   */
  async inlineAction(rowLabel: string | RegExp, action: string): Promise<void> {
    const row = this.row(rowLabel).first();
    await this.waitUntil(() => this.offers(rowLabel, action), (y) => y, `the ${action} button on "${rowLabel}"`);
    await row.hover();
    const button = row.locator(SEL.inlineAction(action));
    await button.waitFor({ state: 'visible' });
    await button.dispatchEvent('click');
  }

  /** Whether the runbook view shows its progress bar (a Run or Check in flight). */
  async viewBusy(): Promise<boolean> {
    return this.page.locator(SEL.viewProgress('ucdUpgrade')).isVisible();
  }

  /** The row of `child` under the step `parent` (node names repeat under every node-scoped step). */
  async childRow(parent: string, child: string): Promise<Locator> {
    const rows = await this.rowLabels();
    const i = rows.findIndex((r) => r.label === parent);
    for (let j = i + 1; i >= 0 && j < rows.length && rows[j].level > rows[i].level; j++) {
      if (rows[j].label === child && rows[j].level === rows[i].level + 1) return this.treeRows().nth(j);
    }
    throw new Error(`no row "${child}" under "${parent}" in ${JSON.stringify(rows)}`);
  }

  async childDescription(parent: string, child: string): Promise<string> {
    const d = (await this.childRow(parent, child)).locator(SEL.rowDescription);
    return (await d.count()) ? (await d.innerText()).trim() : '';
  }

  async contextMenu(target: string | RegExp | Locator, item: string): Promise<void> {
    const row = typeof target === 'string' || target instanceof RegExp ? this.row(target).first() : target;
    await row.click({ button: 'right' });
    const entry = this.page.getByRole('menuitem', { name: item, exact: true });
    // A click that lands right after the menu opens is ignored by VS Code (it guards against the
    // opening right-click's own mouseup), so select the entry by hover and Enter instead — once
    // the menu shows the entry focused.
    await entry.hover();
    await this.waitUntil(() => entry.evaluate((el) => el.classList.contains('focused') || !!el.parentElement?.classList.contains('focused')), (f) => f, `the menu entry "${item}" focused under the mouse`, 10_000);
    await this.page.keyboard.press('Enter');
    await entry.waitFor({ state: 'hidden' });
  }

  welcomeButton(text: string): Locator {
    return this.page.locator(`${SEL.viewlet('ucdUpgrade')} ${SEL.welcomeButton}`, { hasText: text });
  }

  // ---- quick input, command palette

  /** Answers the open input box; returns its title so the test can check what was asked. */
  async answerInputBox(text: string): Promise<string> {
    const box = this.page.locator(SEL.quickInputBox);
    await box.waitFor({ state: 'visible' });
    const title = (await this.page.locator(`${SEL.quickInput} .quick-input-title`).innerText().catch(() => '')).trim();
    await box.fill(text);
    await box.press('Enter');
    await this.page.locator(SEL.quickInput).waitFor({ state: 'hidden' });
    return title;
  }

  /** Runs a command from the palette: the row labelled exactly `title` is clicked, not whichever row is first. */
  async runCommand(title: string, opts: { readonly reloadsWindow?: boolean } = {}): Promise<void> {
    await this.page.locator(SEL.workbench).first().focus();
    await this.page.keyboard.press('F1');
    const box = this.page.locator(SEL.quickInputBox);
    await box.waitFor({ state: 'visible' });
    await box.fill(`>${title}`);
    const exact = new RegExp(`^${title.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`);
    const pick = this.page.locator(SEL.quickPickRow).filter({ has: this.page.locator(SEL.quickPickRowLabel, { hasText: exact }) }).first();
    await pick.waitFor({ state: 'visible' }).catch(() => {
      throw new Error(`the command palette shows no command "${title}"`);
    });
    await pick.click();
    // A reload takes the palette with the page; the caller waits for the new page instead.
    if (opts.reloadsWindow) return;
    // Gone when the palette closed or a command opened its own quick input in its place.
    await this.waitUntil(async () => (await box.isVisible()) && (await box.inputValue({ timeout: 2_000 })) === `>${title}`, (open) => !open, `the command palette closing after "${title}"`, 10_000);
  }

  /**
   * "Developer: Reload Window": the page reloads and a new extension host starts. The window
   * shows again the view container it showed; wait for that view's content, not openView.
   */
  async reloadWindow(): Promise<void> {
    const reloaded = this.page.waitForEvent('load', { timeout: 60_000 });
    await this.runCommand('Developer: Reload Window', { reloadsWindow: true });
    await reloaded;
    await this.waitForWorkbench();
  }

  /** Opens a workspace file in the editor through Quick Open. */
  async openFile(name: string): Promise<void> {
    await this.page.locator(SEL.workbench).first().focus();
    await this.page.keyboard.press('Control+P');
    const box = this.page.locator(SEL.quickInputBox);
    await box.waitFor({ state: 'visible' });
    await box.fill(name);
    await this.page.locator(`${SEL.quickInput} .monaco-list-row`, { hasText: name }).first().waitFor();
    await box.press('Enter');
    await this.page.locator(SEL.editorTab(name)).waitFor();
    await this.page.locator(`${SEL.activeEditor} .view-lines`).waitFor();
  }

  /** Types into the active editor: select the first `find` and replace it with `replace`. */
  async replaceInEditor(find: string, replace: string): Promise<void> {
    await this.page.locator(`${SEL.activeEditor} .view-lines`).click();
    await this.page.keyboard.press('Control+H');
    const findBox = this.page.locator('.editor-widget.find-widget textarea[aria-label="Find"], .find-widget .input[aria-label="Find"]').first();
    await findBox.waitFor({ state: 'visible' });
    await findBox.fill(find);
    const replaceBox = this.page.locator('.editor-widget.find-widget textarea[aria-label="Replace"], .find-widget .input[aria-label="Replace"]').first();
    await replaceBox.fill(replace);
    await this.page.locator('.find-widget .codicon-find-replace').first().click();
    await this.page.keyboard.press('Escape');
  }

  // ---- modal dialogs

  /** The modal dialog showing now, if any. */
  async dialog(): Promise<Dialog | undefined> {
    const box = this.page.locator(SEL.dialog);
    if (!(await box.isVisible().catch(() => false))) return undefined;
    const text = async (sel: string) => ((await this.page.locator(sel).first().innerText().catch(() => '')) ?? '').trim();
    const buttons = (await this.page.locator(SEL.dialogButton).allInnerTexts()).map((b) => b.trim()).filter(Boolean);
    return { message: await text(SEL.dialogMessage), detail: await text(SEL.dialogDetail), buttons };
  }

  /**
   * Clicks the button labelled exactly `label` in the modal dialog showing, and waits until that
   * dialog is gone. The next one may open at once (a trust offer, then the first certificate) and
   * VS Code builds a new box for each, so the wait is on this box, not on "no dialog at all".
   */
  async answerDialog(label: string): Promise<void> {
    const d = await this.dialog();
    if (!d) throw new Error(`no dialog is showing to answer "${label}"`);
    const button = dialogButton(d, label);
    if (!button) throw new Error(`the dialog "${d.message}" has no button "${label}": [${d.buttons.join(' | ')}]`);
    const mark = `e2e-${Date.now()}-${Math.random().toString(36).slice(2)}`;
    const marked = await this.page.locator(SEL.dialog).evaluate((el, m) => { el.setAttribute('data-e2e-answer', m); return true; }, mark).catch(() => false);
    if (!marked) throw new Error(`the dialog "${d.message}" closed before "${label}" was clicked`);
    const box = this.page.locator(`${SEL.dialog}[data-e2e-answer="${mark}"]`);
    await box.getByRole('button', { name: button, exact: true }).click();
    await box.waitFor({ state: 'hidden', timeout: 20_000 }).catch((e: Error) => {
      throw new Error(`the dialog "${d.message}" was still showing 20 s after "${button}" was clicked: ${e.message}`);
    });
  }

  // ---- quick input: what is asked now

  /** The input box or quick pick that is open now, if any. */
  async quickInput(): Promise<QuickInput | undefined> {
    // Between two input boxes the old widget lingers, closing and inert: that one asks nothing.
    const widget = this.page.locator(`${SEL.quickInput}:not(.quick-input-widget-closing):not([inert])`);
    if (!(await widget.isVisible().catch(() => false))) return undefined;
    const title = (await this.page.locator(SEL.quickInputTitle).innerText().catch(() => '')).trim();
    if (await this.page.locator(SEL.quickInputList).first().isVisible().catch(() => false)) {
      // A row's first label is the item's label; a second one, if any, is its detail line.
      const items = await this.page.locator(SEL.quickPickRow).evaluateAll((rows, label) => rows.map((r) => (r.querySelector(label)?.textContent ?? '').trim()), SEL.quickPickRowLabel);
      if (items.length) return { kind: 'pick', title, items };
    }
    const box = this.page.locator(SEL.quickInputBox);
    const password = (await box.getAttribute('type').catch(() => null)) === 'password';
    const prompt = (await this.page.locator(SEL.quickInputMessage).innerText().catch(() => '')).trim();
    return { kind: 'input', title, prompt, password };
  }

  /**
   * Answers the open input box when another may follow at once (user name, then password): waits
   * until this one is gone, i.e. the widget closed or it asks something else now.
   */
  async submitInputBox(text: string): Promise<void> {
    const box = this.page.locator(SEL.quickInputBox);
    await box.waitFor({ state: 'visible' });
    const asked = async () => `${await this.page.locator(SEL.quickInputTitle).innerText().catch(() => '')}\n${await this.page.locator(SEL.quickInputMessage).innerText().catch(() => '')}\n${await box.getAttribute('type').catch(() => '')}`;
    const before = await asked();
    await box.fill(text);
    await box.press('Enter');
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline) {
      const open = await this.page.locator(`${SEL.quickInput}:not(.quick-input-widget-closing):not([inert])`).isVisible().catch(() => false);
      if (!open || (await asked()) !== before) return;
      await this.page.waitForTimeout(100);
    }
    throw new Error(`the input box "${before.replace(/\n/g, ' ')}" did not close after Enter`);
  }

  /** In a multi-select quick pick: checks exactly the rows whose label is in `labels`, then accepts. */
  async pickMany(labels: readonly string[]): Promise<void> {
    const rows = this.page.locator(SEL.quickPickRow);
    await rows.first().waitFor({ state: 'visible' });
    for (const label of labels) {
      const row = rows.filter({ has: this.page.locator(SEL.quickPickRowLabel, { hasText: label }) }).first();
      const checkbox = row.getByRole('checkbox');
      if ((await checkbox.count()) && (await checkbox.first().isChecked())) continue;
      await row.click();
      await this.waitUntil(() => checkbox.first().isChecked(), (c) => c, `the quick pick row "${label}" checked`, 10_000);
    }
    await this.page.locator(SEL.quickInputOk, { hasText: 'OK' }).first().click();
    await this.page.locator(SEL.quickInput).waitFor({ state: 'hidden' });
  }

  // ---- the cluster status webview (the extension's own DOM inside the webview frames)

  statusFrame(): FrameLocator {
    return this.page.frameLocator(SEL.webview).frameLocator(SEL.webviewContent);
  }

  async statusWarnings(): Promise<StatusWarningRow[]> {
    return this.statusFrame().locator('#warnings li[data-code]').evaluateAll((lis) =>
      lis.map((li) => ({ code: li.getAttribute('data-code') ?? '', ...(li.getAttribute('data-node') ? { node: li.getAttribute('data-node')! } : {}), text: (li.textContent ?? '').trim() })));
  }

  async statusNodes(): Promise<StatusNodeRow[]> {
    return this.statusFrame().locator('#nodes tbody tr[data-node]').evaluateAll((trs) =>
      trs.map((tr) => {
        // By the cells' classes, not their places: the narrow layout stacks them.
        const cell = (sel: string) => (tr.querySelector(`td.${sel}`)?.textContent ?? '').replace(/\s+/g, ' ').trim();
        const look = tr.getAttribute('data-look');
        const lastAt = tr.querySelector('td.last-check .age')?.getAttribute('data-at');
        return { node: tr.getAttribute('data-node') ?? '', reachable: cell('reachable'), version: cell('version .value'), versionSeen: cell('version .seen'), server: cell('server'), installer: cell('installer'), lastCheck: cell('last-check'), ...(lastAt ? { lastCheckAt: lastAt } : {}), ...(look ? { look } : {}) };
      }));
  }

  /** The status view's progress lines by name: step, elapsed, outage. */
  async statusProgress(): Promise<Record<string, string>> {
    return this.statusFrame().locator('#progress [data-fact]').evaluateAll((fs) =>
      Object.fromEntries(fs.map((f) => [f.getAttribute('data-fact') ?? '', (f.querySelector('dd')?.textContent ?? '').trim()])));
  }

  /** How wide the status page is against its panel: wider means it scrolls sideways. */
  async statusWidth(): Promise<{ scroll: number; client: number }> {
    return this.statusFrame().locator('html').evaluate((h) => ({ scroll: h.scrollWidth, client: h.clientWidth }));
  }

  // ---- the Output panel

  /** Opens the extension's log channel with its own Show Log button in the view's title bar. */
  async showExtensionLog(): Promise<void> {
    await this.page.locator(SEL.viewTitleAction('Show Log')).click();
    await this.page.locator(SEL.outputPanel).waitFor({ state: 'visible' });
  }

  /** Types `text` into the Output panel's filter, so only the lines holding it are shown. */
  async filterOutput(text: string): Promise<void> {
    const filter = this.page.locator(SEL.outputFilter);
    await filter.fill(text);
    await this.waitUntil(() => filter.inputValue(), (v) => v === text, `the Output filter holding "${text}"`, 10_000);
  }

  /** The Output panel's lines as rendered now (Monaco shows only what fits: filter first). */
  async outputLines(): Promise<string[]> {
    const text = await this.page.locator(SEL.outputLines).first().innerText();
    return text.replace(/\u00a0/g, ' ').split('\n').map((l) => l.trimEnd()).filter(Boolean);
  }

  // ---- Problems panel, notifications

  async openProblems(): Promise<void> {
    await this.runCommand('View: Focus Problems');
    await this.page.locator(SEL.markersPanel).waitFor({ state: 'visible' });
  }

  /** The Problems panel's markers (rows that carry a line and column). */
  async markers(): Promise<Marker[]> {
    const rows = await this.page.locator(SEL.markerRow).all();
    const out: Marker[] = [];
    for (const r of rows) {
      const text = (await r.innerText()).replace(/\s+/g, ' ').trim();
      const m = /\[Ln (\d+), Col (\d+)\]/.exec(text);
      if (m) out.push({ text, line: Number(m[1]), column: Number(m[2]) });
    }
    return out;
  }

  /** An action in the sidebar view's title bar, by its label (shown only while its when-clause holds). */
  viewTitleAction(label: string): Locator {
    return this.page.locator(SEL.viewTitleAction(label));
  }

  /** Opens each toast's full text (a long message shows one line until expanded), for a screenshot that reads it. */
  async expandNotifications(): Promise<void> {
    for (const toast of await this.page.locator(SEL.notificationToast).all()) {
      await toast.hover();
      const expand = toast.locator(SEL.notificationExpand);
      if (await expand.count()) await expand.first().click();
    }
    await this.page.locator(`${SEL.notificationToast} ${SEL.notificationExpand}`).waitFor({ state: 'detached', timeout: 5_000 });
  }

  /** Clicks `button` on the notification whose text matches `match`, once it shows. */
  async notificationAction(match: RegExp, button: string, timeoutMs = 30_000): Promise<void> {
    const toast = this.page.locator(SEL.notificationToast).filter({ hasText: match }).first();
    await toast.waitFor({ timeout: timeoutMs }).catch(async () => {
      throw new Error(`no notification matching ${match} within ${timeoutMs} ms; showing: ${(await this.notifications()).join(' | ') || 'none'}`);
    });
    await toast.getByRole('button', { name: button, exact: true }).click();
  }

  async notifications(): Promise<string[]> {
    return (await this.page.locator(SEL.notificationToast).allInnerTexts()).map((t) => t.replace(/\s+/g, ' ').trim());
  }

  // ---- layout, screenshots

  /**
   * Where a row's text lands on screen: the sidebar's right edge, the right edge of the row's
   * label box (it clips what does not fit), the label's own right edge, and the first word of
   * its description (the state), measured on the rendered glyphs.
   */
  async rowLayout(row: Locator): Promise<RowLayout> {
    const sidebar = await this.page.locator(SEL.sidebar).boundingBox();
    if (!sidebar) throw new Error('the sidebar is not visible');
    const inRow = await row.evaluate((el, sel) => {
      // Runs in the page; the tests compile without the DOM's types.
      type Box = { getBoundingClientRect(): { left: number; right: number }; textContent: string | null };
      const page = globalThis as unknown as { document: { createTreeWalker(root: unknown, what: number): { nextNode(): Box | null }; createRange(): { setStart(n: unknown, o: number): void; setEnd(n: unknown, o: number): void; getBoundingClientRect(): { left: number; right: number } } } };
      const SHOW_TEXT = 4;
      const container = el.querySelector(sel.container) as Box | null;
      const name = el.querySelector(sel.name) as Box | null;
      const desc = el.querySelector(sel.description) as Box | null;
      // The first text node inside: a description may be split into spans (highlights).
      const text = desc ? page.document.createTreeWalker(desc, SHOW_TEXT).nextNode() : null;
      const word = /[A-Za-z]+/.exec(text?.textContent ?? '')?.[0] ?? '';
      let firstWord: { left: number; right: number } | undefined;
      if (text && word) {
        const range = page.document.createRange();
        const at = (text.textContent ?? '').indexOf(word);
        range.setStart(text, at);
        range.setEnd(text, at + word.length);
        const r = range.getBoundingClientRect();
        firstWord = { left: r.left, right: r.right };
      }
      const box = (e: Box | null) => (e ? { left: e.getBoundingClientRect().left, right: e.getBoundingClientRect().right } : undefined);
      return { label: (name?.textContent ?? '').trim(), description: (desc?.textContent ?? '').trim(), word, container: box(container), name: box(name), firstWord };
    }, { container: SEL.rowLabelContainer, name: SEL.rowLabel, description: SEL.rowDescription });
    return { sidebarLeft: sidebar.x, sidebarRight: sidebar.x + sidebar.width, ...inRow };
  }

  /** Drags the sash at the sidebar's edge so the tree's descriptions are readable in screenshots. */
  async setSidebarWidth(px: number): Promise<void> {
    const side = await this.page.locator(SEL.sidebar).boundingBox();
    if (!side) throw new Error('the sidebar is not visible');
    const edge = side.x + side.width;
    let best: { x: number; y: number; d: number } | undefined;
    for (const sash of await this.page.locator(SEL.sidebarSash).all()) {
      const b = await sash.boundingBox();
      if (!b || b.height < side.height / 2) continue;
      const d = Math.abs(b.x + b.width / 2 - edge);
      if (!best || d < best.d) best = { x: b.x + b.width / 2, y: b.y + b.height / 2, d };
    }
    if (!best || best.d > 10) throw new Error(`no sash at the sidebar's edge (x=${edge})`);
    await this.page.mouse.move(best.x, best.y);
    await this.page.mouse.down();
    await this.page.mouse.move(side.x + px, best.y, { steps: 8 });
    await this.page.mouse.up();
  }

  async screenshot(file: string): Promise<void> {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    // Park the mouse off the parts so no hover highlight or tooltip lands in the picture.
    await this.page.mouse.move(1, 1);
    await this.page.waitForTimeout(400);
    await this.page.screenshot({ path: file });
  }

  private async waitForWorkbench(): Promise<void> {
    await this.page.locator(SEL.workbench).first().waitFor({ state: 'visible', timeout: 60_000 });
    await this.page.locator('.part.activitybar').first().waitFor({ state: 'visible', timeout: 60_000 });
  }

  private diagnosis(): string {
    const act = this.activationErrors();
    return act.length ? `\nextension errors in the workbench:\n${act.join('\n')}` : '';
  }
}
