// What an e2e suite stands on, built and torn down in one place: a real test cluster (or the demo),
// a code-server whose user knows the nodes' host keys, a workspace holding the cluster file, a
// Chromium, and the workbenches the suite opened (closed first, then the rest in reverse order).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Browser } from 'playwright-core';
import type { JournalEvent } from '../../src/core/journal/events';
import { parseJournal } from '../../src/core/journal/journal';
import { startCluster, type StartOptions, type TestCluster } from '../cluster/harness';
import { startDemo, type Demo } from '../demo/demo';
import { CodeServer, launchChromium, type Prerequisites } from './harness';
import { Workbench } from './workbench';

export interface ClusterRig {
  readonly tc: TestCluster;
  readonly server: CodeServer;
  readonly browser: Browser;
  /** The workspace folder holding ucd-cluster.json. */
  readonly ws: string;
  /** Opens the workspace in a new workbench, closed by stop(). */
  open(): Promise<Workbench>;
  stop(): Promise<void>;
}

/** `running`: the nodes whose servers are started before the editor opens. */
export async function clusterRig(paths: Prerequisites, opts: StartOptions & { readonly folder: string; readonly running?: readonly string[] }): Promise<ClusterRig> {
  const { folder, running = [], ...clusterOptions } = opts;
  const undo: (() => Promise<unknown>)[] = [];
  const opened: Workbench[] = [];
  const stop = async (): Promise<void> => {
    for (const wb of opened.splice(0)) await wb.close().catch(() => undefined);
    for (const u of undo.splice(0).reverse()) await u().catch(() => undefined);
  };
  try {
    const tc = await startCluster(clusterOptions);
    undo.push(() => tc.stop());
    for (const n of running) await tc.startServer(n);
    const server = await CodeServer.start(paths);
    undo.push(() => server.stop());
    // code-server's HOME is its temp dir: the user's known_hosts there holds the nodes' keys.
    fs.mkdirSync(path.join(server.dir, '.ssh'), { recursive: true, mode: 0o700 });
    fs.copyFileSync(tc.knownHostsFile, path.join(server.dir, '.ssh', 'known_hosts'));
    const ws = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'ucd-ws-')), folder);
    undo.push(async () => fs.rmSync(path.dirname(ws), { recursive: true, force: true }));
    fs.mkdirSync(ws);
    fs.writeFileSync(path.join(ws, 'ucd-cluster.json'), tc.clusterFile());
    const browser = await launchChromium(paths);
    undo.push(() => browser.close());
    const open = async (): Promise<Workbench> => {
      const wb = await Workbench.open(browser, server, ws);
      opened.push(wb);
      return wb;
    };
    return { tc, server, browser, ws, open, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}

export interface DemoRig {
  readonly demo: Demo;
  readonly browser: Browser;
  /** The demo's workspace, opened once everything was in place. */
  readonly wb: Workbench;
  stop(): Promise<void>;
}

/** `prepare`: what the suite changes on the demo cluster before the editor opens. */
export async function demoRig(paths: Prerequisites, opts: Parameters<typeof startDemo>[0] = {}, prepare?: (demo: Demo) => void): Promise<DemoRig> {
  const undo: (() => Promise<unknown>)[] = [];
  const stop = async (): Promise<void> => {
    for (const u of undo.splice(0).reverse()) await u().catch(() => undefined);
  };
  try {
    const demo = await startDemo(opts);
    undo.push(() => demo.stop());
    prepare?.(demo);
    const browser = await launchChromium(paths);
    undo.push(() => browser.close());
    const wb = await Workbench.open(browser, demo.server, demo.workspace);
    undo.push(() => wb.close());
    return { demo, browser, wb, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}

/** Every event of the run journals in a workspace, in file order (what the extension recorded). */
export function journalEvents(workspace: string): JournalEvent[] {
  const dir = path.join(workspace, '.ucd-upgrade');
  const files = fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => f.endsWith('.jsonl')).sort() : [];
  if (!files.length) throw new Error(`no run journal in ${dir}`);
  return files.flatMap((f) => parseJournal(fs.readFileSync(path.join(dir, f), 'utf8')).events);
}
