// The simulated installer package on a real 3-node cluster with a real MariaDB: a guided upgrade
// of the first node (schema upgraded once), a second node without database upgrades, every refusal
// of ucd-facts.md, and silent mode's 7.0.4.2 defect (it still blocks at the shell's prompt). The
// installer is driven over the OpenSSH client with plain pipes, answers written to its stdin when
// each prompt appears. Expected wording comes from texts.ts; the core's own transcript summary
// must read every run the same way.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  ANT_TEXTS, INFO_TEXTS, PROMPT_TEXTS, REFUSAL_TEXTS, frameAntEcho, renderProductText,
} from '../../src/core/ucd/installer/texts';
import { summarizeTranscript } from '../../src/core/ucd/installer/summary';
import { loadCluster } from '../../src/core/cluster/load';
import { setProperties } from '../../src/core/ucd/installer/properties';
import { InstallerDriver, type InstallerEvent } from '../../src/core/ucd/installer/driver';
import { clusterPrerequisites, sshArgs, startCluster, type InstallerPackage, type TestCluster } from './harness';
import { databasePrerequisites } from './mariadb';

const skip = clusterPrerequisites() ?? databasePrerequisites() ?? (fs.existsSync('/usr/bin/unzip') ? undefined : '/usr/bin/unzip is missing (Debian package unzip)');
if (skip) test('simulated installer', { skip }, () => undefined);

const PRODUCT = 'IBM UrbanCode Deploy';
const FROM = '7.0.5.0';
const TO = '7.1.0.0';
const OTHER = '7.1.0.1';
const INSTALL = '/opt/ucd/server';
const PID_FILE = `${INSTALL}/var/server.pid`;

const DIR_PROMPT = `${PROMPT_TEXTS.upgradeDirectory.text}\n`;
const INSTALL_DIR_PROMPT = `${frameAntEcho(renderProductText(PROMPT_TEXTS.installDirectory.text, { product: PRODUCT, defaultDir: '/opt/ibm-ucd/server' }))}\n`;
const UPGRADE_PROMPT = `${frameAntEcho(renderProductText(PROMPT_TEXTS.upgradeConfirm.text, { version: FROM }))}\n`;
const NOTICE = `${frameAntEcho(PROMPT_TEXTS.notice.text)}\n`;
const echoLine = (text: string): string => `${frameAntEcho(text)}\n`;

let c: TestCluster;
let good: InstallerPackage;
let other: InstallerPackage;
const pkgDir = (p: InstallerPackage): string => `/home/ucdtest/pkg-${p.version}/${p.folder}`;

/** The installer over ssh with piped stdio; the test writes answers as prompts appear. */
class Run {
  readonly child: ChildProcessWithoutNullStreams;
  out = '';
  code: number | null | undefined;
  private readonly closed: Promise<number | null>;

  constructor(node: string, dir: string) {
    this.child = spawn('/usr/bin/ssh', sshArgs(c, node, `cd '${dir}' && ./install-server.sh`));
    this.child.stdout.on('data', (d: Buffer) => (this.out += d.toString()));
    this.child.stderr.on('data', (d: Buffer) => (this.out += d.toString()));
    this.closed = new Promise((resolve) => this.child.on('close', (code) => resolve((this.code = code))));
  }

  /** Waits until the output ends with `tail` (the installer then waits on stdin), proves it stays there, then answers. */
  async answerAt(tail: string, answer: string, holdMs = 200): Promise<void> {
    const deadline = Date.now() + 15000;
    while (!this.out.endsWith(tail)) {
      if (this.code !== undefined || Date.now() > deadline) assert.fail(`no prompt ${JSON.stringify(tail.slice(-60))}; output so far:\n${this.out}`);
      await sleep(20);
    }
    const before = this.out;
    await sleep(holdMs);
    assert.equal(this.out, before, 'the installer printed more without an answer: it did not wait at the prompt');
    assert.equal(this.code, undefined, 'the installer ended at a prompt instead of waiting');
    this.child.stdin.write(`${answer}\n`);
  }

  async finish(timeoutMs = 30000): Promise<number | null> {
    this.child.stdin.end();
    const timer = setTimeout(() => this.child.kill('SIGKILL'), timeoutMs);
    const code = await this.closed;
    clearTimeout(timer);
    return code;
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Runs with all answers given up front (a refusal must stop at the right place regardless). */
async function runWith(node: string, p: InstallerPackage, answers: readonly string[]): Promise<{ out: string; code: number | null }> {
  const r = new Run(node, pkgDir(p));
  r.child.stdin.write(answers.map((a) => `${a}\n`).join(''));
  const code = await r.finish();
  return { out: r.out, code };
}

const GUIDED = [INSTALL, INSTALL, 'Y', ''];

async function inNodeOk(node: string, command: string, user?: string): Promise<string> {
  const r = await c.inNode(node, command, user ? { user } : {});
  assert.equal(r.code, 0, `${node}: ${command}: ${r.stderr}`);
  return r.stdout;
}

async function versions(node: string): Promise<[string, string]> {
  const install = await inNodeOk(node, `cat ${INSTALL}/conf/installed.version`);
  const appdata = await inNodeOk(node, 'cat /opt/ucd/appdata/conf/installed.version');
  return [install.trim(), appdata.trim()];
}

function outcome(out: string, node: string, mode: 'guided' | 'silent' = 'guided') {
  return summarizeTranscript(out, { cluster: { currentVersion: FROM, targetVersion: TO }, node: { name: node, installDir: INSTALL, os: 'linux' }, mode }, 0);
}

/** A refused run: BUILD FAILED, exit status 0 anyway, nothing upgraded, the schema untouched. */
async function assertRefusedUnchanged(node: string, r: { out: string; code: number | null }, rows: string[]): Promise<void> {
  assert.equal(r.code, 0, 'install-server.sh exits 0 even when Ant failed (its last command is an export)');
  assert.match(r.out, new RegExp(`\\n${ANT_TEXTS.buildFailed.text}\\n`));
  assert.doesNotMatch(r.out, new RegExp(ANT_TEXTS.buildSuccessful.text));
  assert.deepEqual(await versions(node), [`installed.version=${FROM}`, `installed.version=${FROM}`]);
  assert.deepEqual(await c.database!.schemaVersions(), rows);
}

if (!skip) {
  before(async () => {
    c = await startCluster({ nodes: 4, version: FROM, database: true });
    good = c.buildPackage({ version: TO });
    other = c.buildPackage({ version: OTHER });
    for (const n of c.nodes) {
      for (const p of [good, other]) {
        const name = path.basename(p.file);
        fs.copyFileSync(p.file, path.join(c.hostHomeDir(n.name), name));
        // Extracted on the node by the test user with the node's own unzip, as the runbook does.
        await inNodeOk(n.name, `mkdir -p ~/pkg-${p.version} && cd ~/pkg-${p.version} && unzip -q ~/${name}`, c.user);
      }
    }
  });
  after(async () => {
    await c?.stop();
  });

  test('the package: ibm-ucd-<version>.zip with install-server.sh, install.properties and conf/installed.version; texts equal to texts.ts', async () => {
    assert.equal(path.basename(good.file), `ibm-ucd-${TO}.zip`);
    const listing = await inNodeOk('ucd1', `cd ${pkgDir(good)} && ls -l install-server.sh && cat conf/installed.version install.properties lib/sim/texts.json`, c.user);
    assert.match(listing, /^-rwx/, 'install-server.sh is executable after unzip');
    assert.match(listing, new RegExp(`^installed\\.version=${TO.replace(/\./g, '\\.')}$`, 'm'));
    assert.match(listing, /^nonInteractive=false$/m);
    const texts = JSON.parse(listing.slice(listing.indexOf('{'))) as Record<string, Record<string, string>>;
    for (const [group, table] of [['prompts', PROMPT_TEXTS], ['refusals', REFUSAL_TEXTS], ['infos', INFO_TEXTS], ['ant', ANT_TEXTS]] as const) {
      for (const [id, t] of Object.entries(table)) assert.equal(texts[group][id], t.text, `${group}.${id}`);
    }
  });

  test('refusal: a pid file ends the installer with Found pid file (BUILD FAILED, exit 0)', async () => {
    const rows = await c.database!.schemaVersions();
    await c.setFault('ucd1', 'stalePid', true);
    try {
      const r = await runWith('ucd1', good, GUIDED);
      const text = renderProductText(REFUSAL_TEXTS.pidFile.text, { pidFile: PID_FILE, product: PRODUCT });
      assert.ok(r.out.includes(`${ANT_TEXTS.buildFailed.text}\n${pkgDir(good)}/install.with.groovy.xml:54: ${text}\n`), r.out);
      assert.ok(!r.out.includes(UPGRADE_PROMPT), 'refused before the upgrade question');
      await assertRefusedUnchanged('ucd1', r, rows);
      assert.deepEqual([outcome(r.out, 'ucd1').kind, (outcome(r.out, 'ucd1') as { refusal?: string }).refusal], ['refused', 'pidFile']);
    } finally {
      await c.setFault('ucd1', 'stalePid', false);
    }
  });

  test('refusal: a running server of this install (no pid file left) is "still running"', async () => {
    const rows = await c.database!.schemaVersions();
    await c.startServer('ucd1');
    const pid = (await inNodeOk('ucd1', `cat ${PID_FILE}`)).trim();
    await inNodeOk('ucd1', `rm ${PID_FILE}`);
    try {
      const r = await runWith('ucd1', good, GUIDED);
      assert.ok(r.out.includes(echoLine(renderProductText(REFUSAL_TEXTS.stillRunning.text, { product: PRODUCT }))), r.out);
      assert.ok(!r.out.includes(UPGRADE_PROMPT));
      await assertRefusedUnchanged('ucd1', r, rows);
      assert.equal((outcome(r.out, 'ucd1') as { refusal?: string }).refusal, 'stillRunning');
    } finally {
      await inNodeOk('ucd1', `echo ${pid} > ${PID_FILE} && chown ucdtest: ${PID_FILE}`);
      await c.stopServer('ucd1');
    }
  });

  test('refusal: a port answering on the web host and HTTPS port: the connection message waits for Enter, then fails', async () => {
    const rows = await c.database!.schemaVersions();
    await c.setFault('ucd1', 'portHeld', true);
    try {
      const r = new Run('ucd1', pkgDir(good));
      await r.answerAt(DIR_PROMPT, INSTALL);
      await r.answerAt(INSTALL_DIR_PROMPT, INSTALL);
      await r.answerAt(echoLine(REFUSAL_TEXTS.connection.text), '', 300);
      const code = await r.finish();
      await assertRefusedUnchanged('ucd1', { out: r.out, code }, rows);
      assert.equal((outcome(r.out, 'ucd1') as { refusal?: string }).refusal, 'connection');
    } finally {
      await c.setFault('ucd1', 'portHeld', false);
    }
  });

  test('refusal: the configured web host is another node whose server runs (as through a load balancer)', async () => {
    const rows = await c.database!.schemaVersions();
    const props = path.join(c.hostInstallDir('ucd2'), 'conf/server/installed.properties');
    const original = fs.readFileSync(props, 'utf8');
    fs.writeFileSync(props, original.replace(/^install\.server\.web\.host=.*$/m, `install.server.web.host=${c.nodes[0].host}`));
    await c.startServer('ucd1');
    try {
      const r = await runWith('ucd2', good, GUIDED);
      assert.ok(r.out.includes(echoLine(REFUSAL_TEXTS.connection.text)), r.out);
      await assertRefusedUnchanged('ucd2', r, rows);
      // With the server stopped the same node gets past that check (to the upgrade question, answered n).
      await c.stopServer('ucd1');
      const again = await runWith('ucd2', good, [INSTALL, INSTALL, 'n']);
      assert.ok(!again.out.includes(REFUSAL_TEXTS.connection.text) && again.out.includes(UPGRADE_PROMPT), again.out);
    } finally {
      fs.writeFileSync(props, original);
      await c.stopServer('ucd1');
    }
  });

  test('refusal: answering n to the upgrade question prints Upgrade aborted.', async () => {
    const rows = await c.database!.schemaVersions();
    const r = await runWith('ucd1', good, [INSTALL, INSTALL, 'n', '']);
    assert.ok(r.out.includes(UPGRADE_PROMPT + echoLine(REFUSAL_TEXTS.upgradeAborted.text)), r.out);
    assert.ok(!r.out.includes(NOTICE));
    await assertRefusedUnchanged('ucd1', r, rows);
    assert.equal(outcome(r.out, 'ucd1').kind, 'aborted');
  });

  test('guided upgrade of the first node: the prompts in order, the schema upgraded once, running processes cancelled', async () => {
    assert.deepEqual(await c.database!.schemaVersions(), [`${FROM} 1`]);
    const running = await c.startProcess('ucd3', { type: 'generic', name: 'Nightly cleanup' });
    const runner = c.processes().find((p) => p.items.some((i) => i.workflowTraceId === running));
    assert.ok(runner, 'the process runs before the upgrade');

    const r = new Run('ucd1', pkgDir(good));
    await r.answerAt(DIR_PROMPT, INSTALL);
    await r.answerAt(INSTALL_DIR_PROMPT, INSTALL);
    await r.answerAt(UPGRADE_PROMPT, 'Y');
    await r.answerAt(NOTICE, '');
    const code = await r.finish();
    assert.equal(code, 0);
    // The whole conversation, in the facts' order; the JRE is not asked (bin/set_env exists).
    const order = [DIR_PROMPT, INSTALL_DIR_PROMPT, UPGRADE_PROMPT, NOTICE, echoLine(INFO_TEXTS.databaseUpgrades.text), `\n${ANT_TEXTS.buildSuccessful.text}\n`];
    let at = 0;
    for (const piece of order) {
      const i = r.out.indexOf(piece, at);
      assert.ok(i >= at, `missing or out of order: ${JSON.stringify(piece.slice(0, 70))}\n${r.out}`);
      at = i + piece.length;
    }
    assert.ok(!r.out.includes(PROMPT_TEXTS.javaHome.text.slice(0, 40)));
    assert.deepEqual(await versions('ucd1'), [`installed.version=${TO}`, `installed.version=${TO}`]);
    assert.deepEqual(await c.database!.schemaVersions(), [`${FROM} 1`, `${TO} 2`]);
    const o = outcome(r.out, 'ucd1');
    assert.equal(o.kind, 'upgraded');
    assert.equal(o.kind === 'upgraded' && o.schemaUpgraded, true);
    // "cancelling currently running processes": the request is gone and its process ended.
    assert.equal(c.processes().length, 0);
    const alive = await c.inNode('ucd3', `kill -0 ${runner!.runnerPid} 2>/dev/null && echo alive || echo gone`);
    assert.equal(alive.stdout.trim(), 'gone');
    // The laid version runs: the first node starts on the new version.
    await c.startServer('ucd1');
    const log = await inNodeOk('ucd1', `tail -n 1 ${INSTALL}/var/log/deployserver.out`);
    assert.match(log, new RegExp(`server version ${TO.replace(/\./g, '\\.')} started\\.`));
  });

  test('refusal: a second node given another version\'s package: Version mismatch, The upgrade is canceled.', async () => {
    const rows = await c.database!.schemaVersions();
    const r = await runWith('ucd2', other, GUIDED);
    const mismatch = echoLine(renderProductText(REFUSAL_TEXTS.versionMismatch.text, { existing: TO, target: OTHER }));
    assert.ok(r.out.includes(mismatch + echoLine(REFUSAL_TEXTS.upgradeCanceled.text)), r.out);
    assert.ok(!r.out.includes(UPGRADE_PROMPT));
    assert.equal(r.code, 0);
    assert.match(r.out, /\nBUILD FAILED\n/);
    assert.equal((await versions('ucd2'))[0], `installed.version=${FROM}`);
    assert.deepEqual(await c.database!.schemaVersions(), rows);
    assert.equal((outcome(r.out, 'ucd2') as { refusal?: string }).refusal, 'versionMismatch');
  });

  test('guided upgrade of a second node: no database upgrade, the schema untouched', async () => {
    const r = new Run('ucd2', pkgDir(good));
    await r.answerAt(DIR_PROMPT, INSTALL);
    await r.answerAt(INSTALL_DIR_PROMPT, INSTALL);
    await r.answerAt(UPGRADE_PROMPT, 'Y');
    await r.answerAt(NOTICE, '');
    assert.equal(await r.finish(), 0);
    assert.ok(r.out.includes(echoLine(INFO_TEXTS.noDatabaseUpgrades.text)), r.out);
    assert.ok(!r.out.includes(INFO_TEXTS.databaseUpgrades.text));
    assert.match(r.out, /\nBUILD SUCCESSFUL\n/);
    assert.deepEqual(await c.database!.schemaVersions(), [`${FROM} 1`, `${TO} 2`]);
    assert.deepEqual(await versions('ucd2'), [`installed.version=${TO}`, `installed.version=${TO}`]);
    const o = outcome(r.out, 'ucd2');
    assert.equal(o.kind === 'upgraded' && o.schemaUpgraded, false);
  });

  test('silent mode (nonInteractive=true) still blocks at the shell\'s directory prompt until a line comes', async () => {
    // Edited the way the runbook edits it (the core's setProperties), read back by the simulator as Java would.
    const props = path.join(c.hostHomeDir('ucd3'), path.relative(c.homeDir, `${pkgDir(good)}/install.properties`));
    const edited = setProperties(fs.readFileSync(props, 'latin1'), [['nonInteractive', 'true'], ['install.server.dir', INSTALL]], 'silent upgrade (test)');
    assert.match(edited, /^nonInteractive=true$/m);
    fs.writeFileSync(props, edited, 'latin1');
    const r = new Run('ucd3', pkgDir(good));
    // Stdin held open: after the prompt nothing more comes, for as long as we wait.
    const deadline = Date.now() + 10000;
    while (!r.out.includes(DIR_PROMPT) && Date.now() < deadline) await sleep(20);
    await sleep(1500);
    assert.equal(r.out, DIR_PROMPT, 'only the directory prompt, then it waits');
    assert.equal(r.code, undefined, 'still running with stdin open');
    // Fed a line (and end of input), it runs through without a single Java-part prompt.
    r.child.stdin.write(`${INSTALL}\n`);
    assert.equal(await r.finish(), 0);
    assert.match(r.out, /\nBUILD SUCCESSFUL\n/);
    for (const p of [INSTALL_DIR_PROMPT, UPGRADE_PROMPT, NOTICE]) assert.ok(!r.out.includes(p), `silent mode asked: ${p}`);
    assert.ok(r.out.includes(echoLine(INFO_TEXTS.noDatabaseUpgrades.text)));
    assert.deepEqual(await versions('ucd3'), [`installed.version=${TO}`, `installed.version=${TO}`]);
    assert.deepEqual(await c.database!.schemaVersions(), [`${FROM} 1`, `${TO} 2`]);
    assert.equal(outcome(r.out, 'ucd3', 'silent').kind, 'upgraded');
  });

  test('the core\'s InstallerDriver drives the simulated installer over a real pty (ssh -tt) to BUILD SUCCESSFUL', async () => {
    const child = spawn('/usr/bin/ssh', sshArgs(c, 'ucd4', `cd '${pkgDir(good)}' && ./install-server.sh`, { tty: true }));
    const events: InstallerEvent[] = [];
    const driver = new InstallerDriver({
      cluster: { currentVersion: FROM, targetVersion: TO }, node: { name: 'ucd4', installDir: INSTALL, os: 'linux' }, mode: 'guided', quietMs: 300, notice: { kind: 'answer', note: 'NOTICE: this test proved backup and processes' },
      onEvent: (e) => {
        events.push(e);
        if (e.type === 'answer') child.stdin.write(e.text);
      },
    });
    child.stdout.on('data', (d: Buffer) => driver.feed(d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30000);
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    clearTimeout(timer);
    driver.end(code);
    assert.deepEqual(events.filter((e) => e.type === 'answer').map((e) => e.type === 'answer' && e.prompt), ['upgradeDirectory', 'installDirectory', 'upgradeConfirm', 'notice']);
    assert.deepEqual(events.filter((e) => e.type === 'info').map((e) => e.type === 'info' && e.kind), ['noDatabaseUpgrades']);
    assert.equal(events.some((e) => e.type === 'refusal' || e.type === 'unknownPrompt'), false, JSON.stringify(events.filter((e) => e.type !== 'progress')));
    const done = events.find((e) => e.type === 'done');
    assert.equal(done?.type === 'done' && done.success, true);
    assert.deepEqual(await versions('ucd4'), [`installed.version=${TO}`, `installed.version=${TO}`]);
  });

  test('the cluster file\'s backup command dumps the real database over SSH on the first node, and the dump restores', async () => {
    const file = JSON.parse(c.clusterFile()) as { database: { backup: { node: string; command: string; artifact: string } } };
    assert.equal(file.database.backup.node, 'ucd1');
    const loaded = loadCluster(c.clusterFile());
    assert.ok(loaded.ok, JSON.stringify(loaded.problems));
    assert.deepEqual(loaded.cluster.database.backup.runOn, { kind: 'node', node: 'ucd1' });
    const dump = spawn('/usr/bin/ssh', sshArgs(c, 'ucd1', file.database.backup.command), { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    dump.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const code = await new Promise<number | null>((resolve) => dump.on('close', resolve));
    assert.equal(code, 0, err);
    const artifact = path.join(c.hostHomeDir('ucd1'), path.relative(c.homeDir, file.database.backup.artifact));
    assert.match(fs.readFileSync(artifact, 'utf8'), new RegExp(`INSERT INTO \`ds_db_version\` VALUES[\\s\\S]*'${TO.replace(/\./g, '\\.')}',2`));
    await c.database!.query(`INSERT INTO ds_db_version VALUES ('9.9.9.9', 3)`);
    const restore = await c.inNode('ucd1', `mariadb --defaults-extra-file=/opt/ucd/server/conf/sim/db.cnf ucd < ${file.database.backup.artifact}`, { user: c.user });
    assert.equal(restore.code, 0, restore.stderr);
    assert.deepEqual(await c.database!.schemaVersions(), [`${FROM} 1`, `${TO} 2`]);
  });

  test('what an upgrade changes besides the version: the appdata patches renamed to .off (from 7.0.3), custom opt/tomcat files and custom keystores removed, the product\'s own laid again', async () => {
    // ucd2 is on TO (upgraded above, stopped); the next package upgrades it again. Everything
    // written by the install's own user, as the people who put it there would.
    const install = c.hostInstallDir('ucd2');
    const patches = path.join(c.hostAppdataDir, 'patches');
    const custom = path.join(install, 'opt/tomcat/webapps/custom/index.html');
    const serverXml = path.join(install, 'opt/tomcat/conf/server.xml');
    const keystore = path.join(install, 'conf/company-trust.jks');
    const shared = path.join(c.hostAppdataDir, 'conf/encryption.keystore');
    assert.ok(fs.existsSync(serverXml), 'the install has the product\'s own opt/tomcat files');
    await inNodeOk('ucd2', [
      `echo 'a patch' > ${c.appdataDir}/patches/APAR-PH55555.jar`,
      `echo 'an old patch, already off' > ${c.appdataDir}/patches/APAR-PH11111.jar.off`,
      `mkdir -p ${INSTALL}/opt/tomcat/webapps/custom && echo '<p>ours</p>' > ${INSTALL}/opt/tomcat/webapps/custom/index.html`,
      `echo '<!-- a local edit -->' >> ${INSTALL}/opt/tomcat/conf/server.xml`,
      `echo 'not really a keystore' > ${INSTALL}/conf/company-trust.jks`,
      `echo "the cluster's own keystore" > ${c.appdataDir}/conf/encryption.keystore`,
    ].join(' && '), c.user);
    try {
      const r = await runWith('ucd2', other, [INSTALL, INSTALL, 'Y', '']);
      assert.match(r.out, /\nBUILD SUCCESSFUL\n/, r.out);
      assert.deepEqual(fs.readdirSync(patches).sort(), ['APAR-PH11111.jar.off', 'APAR-PH55555.jar.off']);
      assert.equal(fs.readFileSync(path.join(patches, 'APAR-PH55555.jar.off'), 'utf8'), 'a patch\n');
      assert.ok(r.out.includes(`[move] Moving ${c.appdataDir}/patches/APAR-PH55555.jar to ${c.appdataDir}/patches/APAR-PH55555.jar.off`), r.out);
      assert.equal(fs.existsSync(custom), false, 'the custom opt/tomcat file is gone');
      assert.ok(r.out.includes(`[delete] Deleting ${INSTALL}/opt/tomcat/webapps/custom/index.html`));
      assert.doesNotMatch(fs.readFileSync(serverXml, 'utf8'), /a local edit/);
      assert.match(fs.readFileSync(serverXml, 'utf8'), new RegExp(`simulated server\\.xml of IBM UrbanCode Deploy ${OTHER.replace(/\./g, '\\.')}`));
      assert.equal(fs.existsSync(keystore), false, 'the custom keystore is gone');
      assert.equal(fs.readFileSync(shared, 'utf8'), 'the cluster\'s own keystore\n', 'the shared appdata keystore stays');
      assert.equal((await versions('ucd2'))[0], `installed.version=${OTHER}`);
    } finally {
      for (const f of fs.readdirSync(patches)) fs.rmSync(path.join(patches, f), { force: true });
      fs.rmSync(shared, { force: true });
    }
  });
}
