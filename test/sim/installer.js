'use strict';
// The Java part of the simulated server installer (what install-server.sh hands over to Ant and
// the Groovy installer in the product). It runs inside a test node from the extracted package:
//   ibm-ucd-install/lib/sim/installer.js   (started by ibm-ucd-install/install-server.sh)
// Its words come from lib/sim/texts.json, generated at package build time from
// src/core/ucd/installer/texts.ts, so it prints exactly what the product prints. It behaves as
// /work/shared/ucd-facts.md ("The installer") says:
//  - guided: the install directory, the upgrade question (Y,n) and the NOTICE, each read from
//    standard input; with nonInteractive=true in install.properties none of them is asked;
//  - refusals, each ending in BUILD FAILED: pid file, a running server of this install, a
//    connection to the configured web host and HTTPS port, a version mismatch with the shared
//    appdata, an upgrade question answered with anything but yes;
//  - the first node upgrades the database schema (a row in ds_db_version), later nodes do not;
//    it takes conf/sim/schema-upgrade-seconds (or UCD_SIM_SCHEMA_SECONDS) and is not atomic:
//    var/sim/upgrade-in-progress in the install (and, during the schema part,
//    var/sim/schema-upgrade-in-progress in the appdata) stays behind when the installer is killed;
//  - the new version is laid into the install, installed.version written there and in appdata.
// The exit status is Ant's, but install-server.sh ends with an export and returns 0 anyway.
const fs = require('fs');
const net = require('net');
const os = require('os');
const path = require('path');
const { execFileSync } = require('child_process');
const { readProperties } = require('./properties');
const { layInstall, TOMCAT_FILES } = require('./lay-install');
const workflow = require('./workflow');

const PKG = path.resolve(__dirname, '../..');
const BUILD_FILE = path.join(PKG, 'install.with.groovy.xml');
const TEXTS = JSON.parse(fs.readFileSync(path.join(__dirname, 'texts.json'), 'utf8'));
const PRODUCT = TEXTS.product;
const DEFAULT_DIR = '/opt/ibm-ucd/server';
const started = Date.now();

function render(template, values) {
  return template.replace(/\{(\w+)\}/g, (_, name) => {
    if (values[name] === undefined) throw new Error(`no value for {${name}} in installer text`);
    return values[name];
  });
}

function writeOut(text) {
  const buf = Buffer.from(text, 'utf8');
  let off = 0;
  while (off < buf.length) {
    try {
      off += fs.writeSync(1, buf, off, buf.length - off);
    } catch (e) {
      if (e.code !== 'EAGAIN') throw e;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10);
    }
  }
}

/** A Java-part message as Ant's default logger prints it. */
function echo(text) {
  writeOut(`${text.split('\n').map((l) => TEXTS.ant.echoPrefix + l).join('\n')}\n`);
}

/**
 * One line from standard input, read a byte at a time so nothing after it is consumed (a pty
 * delivers a line; a pipe may hold more answers). null at end of input.
 */
function readLine() {
  const one = Buffer.alloc(1);
  const bytes = [];
  for (;;) {
    let n;
    try {
      n = fs.readSync(0, one, 0, 1, null);
    } catch (e) {
      if (e.code === 'EAGAIN') {
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
        continue;
      }
      if (e.code === 'EOF') n = 0;
      else throw e;
    }
    if (n === 0) return bytes.length ? Buffer.from(bytes).toString('utf8') : null;
    if (one[0] === 0x0a) return Buffer.from(bytes).toString('utf8').replace(/\r$/, '');
    bytes.push(one[0]);
  }
}

function totalTime() {
  return `Total time: ${Math.max(1, Math.round((Date.now() - started) / 1000))} seconds`;
}

/** Ant's failure: the build file and line, then the message; the run ends here. */
function fail(line, message) {
  writeOut(`\n${TEXTS.ant.buildFailed}\n${BUILD_FILE}:${line}: ${message}\n\n${totalTime()}\n`);
  process.exit(1);
}

function versionOf(file) {
  return readProperties(file)['installed.version'];
}

function compareVersions(a, b) {
  const pa = String(a).split('.').map(Number);
  const pb = String(b).split('.').map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] || 0) - (pb[i] || 0);
    if (d !== 0) return d < 0 ? -1 : 1;
  }
  return 0;
}

/** A server process of THIS install: its main class and its own launcher.jar on the command line. */
function runningServer(dir) {
  const jar = path.join(dir, 'bin/launcher.jar');
  for (const pid of fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    if (Number(pid) === process.pid) continue;
    let argv;
    try {
      argv = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    } catch {
      continue;
    }
    if (argv.includes('com.urbancode.ds.UDeployServer') && argv.includes(jar)) return Number(pid);
  }
  return undefined;
}

function canConnect(host, port) {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    const done = (ok) => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(2000, () => done(false));
    s.on('connect', () => done(true));
    s.on('error', () => done(false));
  });
}

/** SQL through the real MariaDB client with the node's option file (which holds the password). */
function sql(dir, settings, statement) {
  const jdbc = /^jdbc:(?:mysql|mariadb):\/\/([^/:]+)(?::(\d+))?\/([^?;]+)/.exec(settings['hibernate.connection.url'] || '');
  if (!jdbc) fail(212, `java.sql.SQLException: no usable hibernate.connection.url in ${dir}/conf/server/installed.properties`);
  const optionFile = path.join(dir, 'conf/sim/db.cnf');
  const args = [`--defaults-extra-file=${optionFile}`];
  if (settings['hibernate.connection.username']) args.push(`--user=${settings['hibernate.connection.username']}`);
  args.push(`--host=${jdbc[1]}`, `--port=${jdbc[2] || '3306'}`, '--connect-timeout=5', '-N', '-B', jdbc[3], '-e', statement);
  try {
    return execFileSync('/usr/bin/mariadb', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 30000 });
  } catch (e) {
    const why = `${(e.stderr || '').trim() || e.message}`;
    return fail(212, `java.sql.SQLException: ${why}${fs.existsSync(optionFile) ? '' : ` (no ${optionFile})`}`);
  }
}

/**
 * Seconds the simulated schema upgrade takes: UCD_SIM_SCHEMA_SECONDS, else the package's
 * conf/sim/schema-upgrade-seconds, else none.
 */
function schemaUpgradeSeconds() {
  const file = path.join(PKG, 'conf/sim/schema-upgrade-seconds');
  const raw = process.env.UCD_SIM_SCHEMA_SECONDS ?? (fs.existsSync(file) ? fs.readFileSync(file, 'utf8').trim() : '0');
  const n = Number(raw);
  if (!Number.isFinite(n) || n < 0) fail(70, `bad schema upgrade time ${raw}`);
  return n;
}

// What an upgrade changes besides the version (ucd-facts.md, "What an upgrade changes"), each in
// its own function and each said in the output as the product's copy and delete tasks would.

/** From 7.0.3 the shared appdata's patches are renamed to *.off (once: the first node finds them, the others find them done). */
function renamePatches(appdata, newVersion) {
  if (compareVersions(newVersion, '7.0.3') < 0) return;
  const dir = path.join(appdata, 'patches');
  let names = [];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return;
  }
  for (const name of names.filter((n) => !n.endsWith('.off')).sort()) {
    const to = path.join(dir, `${name}.off`);
    if (fs.existsSync(to)) continue; // never over an earlier one
    fs.renameSync(path.join(dir, name), to);
    writeOut(`     [move] Moving ${path.join(dir, name)} to ${to}\n`);
  }
}

function filesUnder(root) {
  const out = [];
  const walk = (d) => {
    let entries = [];
    try {
      entries = fs.readdirSync(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else out.push(p);
    }
  };
  walk(root);
  return out.sort();
}

/** Custom files under <install>/opt/tomcat are removed: only the product's own are laid again. */
function removeCustomTomcatFiles(dir) {
  const own = new Set(TOMCAT_FILES.map((f) => path.join(dir, f)));
  for (const f of filesUnder(path.join(dir, 'opt/tomcat'))) {
    if (own.has(f)) continue;
    fs.rmSync(f, { force: true });
    writeOut(`   [delete] Deleting ${f}\n`);
  }
}

/** Custom keystores in the install's conf are removed (the shared appdata's own keystores stay). */
function removeCustomKeystores(dir) {
  for (const f of filesUnder(path.join(dir, 'conf'))) {
    if (!/\.(keystore|jks|p12|pfx)$/i.test(f)) continue;
    fs.rmSync(f, { force: true });
    writeOut(`   [delete] Deleting ${f}\n`);
  }
}

/** Seconds the installer spends checking the install before it changes anything: conf/sim/pre-schema-seconds, else none. */
function preSchemaSeconds() {
  const file = path.join(PKG, 'conf/sim/pre-schema-seconds');
  const raw = fs.existsSync(file) ? fs.readFileSync(file, 'utf8').trim() : '0';
  const n = Number(raw);
  if (!Number.isFinite(n) || n < 0) fail(70, `bad pre-schema time ${raw}`);
  return n;
}

async function main() {
  writeOut(`Buildfile: ${BUILD_FILE}\n\ninstall:\n`);
  const newVersion = versionOf(path.join(PKG, 'conf/installed.version'));
  const installProps = readProperties(path.join(PKG, 'install.properties'));
  const interactive = installProps.nonInteractive !== 'true';

  let dir;
  if (interactive) {
    echo(render(TEXTS.prompts.installDirectory, { product: PRODUCT, defaultDir: DEFAULT_DIR }));
    dir = (readLine() || '').trim() || DEFAULT_DIR;
  } else {
    dir = (installProps['install.server.dir'] || '').trim();
    if (!dir) fail(48, `install.server.dir must be set in ${path.join(PKG, 'install.properties')} for a non-interactive installation.`);
  }
  dir = path.resolve(dir);

  if (!fs.existsSync(dir)) {
    if (interactive) {
      echo(TEXTS.refusals.installDirMissing);
      readLine();
    }
    fail(52, `${dir} holds no server to upgrade; the simulated installer only upgrades existing installations.`);
  }
  const previous = versionOf(path.join(dir, 'conf/installed.version'));
  if (!previous) fail(52, `${dir} holds no server to upgrade (no conf/installed.version); the simulated installer only upgrades existing installations.`);
  const settings = readProperties(path.join(dir, 'conf/server/installed.properties'));

  const pidFile = path.join(dir, 'var/server.pid');
  if (fs.existsSync(pidFile)) fail(54, render(TEXTS.refusals.pidFile, { pidFile, product: PRODUCT }));

  if (runningServer(dir) !== undefined) {
    echo(render(TEXTS.refusals.stillRunning, { product: PRODUCT }));
    fail(56, 'The upgrade is not possible while the server is running.');
  }

  const webHost = settings['install.server.web.host'] || 'localhost';
  const httpsPort = Number(settings['install.server.web.https.port'] || 8443);
  if (await canConnect(webHost, httpsPort)) {
    echo(TEXTS.refusals.connection);
    // The product waits for Enter here; the run still ends (ucd-facts.md: the refusal ends it).
    if (interactive) readLine();
    fail(58, `A connection was made to ${webHost}:${httpsPort}; all servers must be stopped for the upgrade.`);
  }

  const appdata = settings['server.appdata.dir'] || path.join(dir, 'appdata');
  const appdataVersionFile = path.join(appdata, 'conf/installed.version');
  const shared = versionOf(appdataVersionFile);
  // The shared appdata already upgraded by another node (shared != this node's version) must be
  // at exactly this package's version.
  if (shared && shared !== previous && shared !== newVersion) {
    echo(render(TEXTS.refusals.versionMismatch, { existing: shared, target: newVersion }));
    echo(TEXTS.refusals.upgradeCanceled);
    fail(62, TEXTS.refusals.upgradeCanceled);
  }

  if (interactive) {
    echo(render(TEXTS.prompts.upgradeConfirm, { version: previous }));
    const answer = (readLine() || '').trim();
    if (answer !== '' && !/^(y|yes)$/i.test(answer)) {
      echo(TEXTS.refusals.upgradeAborted);
      fail(66, TEXTS.refusals.upgradeAborted);
    }
    if (compareVersions(newVersion, previous) < 0) {
      echo(render(TEXTS.refusals.downgrade, { from: previous, to: newVersion }));
      if ((readLine() || '').trim() !== 'yes') {
        echo(TEXTS.refusals.upgradeAborted);
        fail(68, TEXTS.refusals.upgradeAborted);
      }
    }
    echo(TEXTS.prompts.notice);
    readLine();
    // A newer product may ask something the runbook has never seen: the tests put the question
    // in conf/sim/extra-prompt of the extracted package, and the runbook must hand it to a person.
    const extra = path.join(PKG, 'conf/sim/extra-prompt');
    if (fs.existsSync(extra)) {
      echo(fs.readFileSync(extra, 'utf8').trim());
      readLine();
    }
  }

  // Still nothing changed: a killed installer leaves the install and the database as they were.
  const checking = preSchemaSeconds();
  if (checking > 0) await new Promise((r) => setTimeout(r, checking * 1000));
  writeOut(`    [mkdir] Created dir: ${dir}/var/temp\n`);
  // Not atomic, as in the product: from here a killed installer leaves a half-upgraded node. The
  // markers say so (Check and the tests can see them); only a finished run removes them.
  const inProgress = path.join(dir, 'var/sim/upgrade-in-progress');
  fs.mkdirSync(path.dirname(inProgress), { recursive: true });
  fs.writeFileSync(inProgress, `from=${previous}\nto=${newVersion}\npid=${process.pid}\n`);
  const top = sql(dir, settings, 'SELECT release_name, ver FROM ds_db_version ORDER BY ver DESC LIMIT 1').trim().split('\t');
  const schemaVersion = top[0] || '0';
  const schemaVer = Number(top[1] || 0);
  if (compareVersions(schemaVersion, newVersion) < 0) {
    echo(TEXTS.infos.databaseUpgrades);
    await workflow.cancelAll(appdata);
    if (!/^[\d.]+$/.test(newVersion)) fail(70, `bad package version ${newVersion}`);
    const schemaMarker = path.join(appdata, 'var/sim/schema-upgrade-in-progress');
    fs.mkdirSync(path.dirname(schemaMarker), { recursive: true });
    fs.writeFileSync(schemaMarker, `from=${schemaVersion}\nto=${newVersion}\nnode=${os.hostname()}\npid=${process.pid}\n`);
    const seconds = schemaUpgradeSeconds();
    if (seconds > 0) {
      writeOut(`     [echo] Upgrading the database schema from ${schemaVersion} to ${newVersion} (this takes a while).\n`);
      await new Promise((r) => setTimeout(r, seconds * 1000));
    }
    sql(dir, settings, `INSERT INTO ds_db_version (release_name, ver) VALUES ('${newVersion}', ${schemaVer + 1})`);
    fs.rmSync(schemaMarker, { force: true });
    writeOut(`     [echo] Upgraded the database schema from ${schemaVersion} to ${newVersion}.\n`);
  } else {
    echo(TEXTS.infos.noDatabaseUpgrades);
  }

  renamePatches(appdata, newVersion);
  removeCustomTomcatFiles(dir);
  removeCustomKeystores(dir);
  writeOut(`     [copy] Copying the ${PRODUCT} ${newVersion} files to ${dir}\n`);
  layInstall({
    dir,
    version: newVersion,
    installPath: dir,
    appdataPath: appdata,
    webHost,
    user: os.userInfo().username,
    keepConfig: true,
  });
  // The package's fault switch: the new files are laid but the run dies before the appdata is
  // updated, after the schema upgrade: the database, the install and the appdata disagree.
  const failAfterSchema = path.join(PKG, 'conf/sim/fail-after-schema');
  if (fs.existsSync(failAfterSchema)) fail(72, fs.readFileSync(failAfterSchema, 'utf8').trim());
  fs.mkdirSync(path.dirname(appdataVersionFile), { recursive: true });
  fs.writeFileSync(appdataVersionFile, `installed.version=${newVersion}\n`);
  fs.rmSync(inProgress, { force: true });
  writeOut(`\n${TEXTS.ant.buildSuccessful}\n${totalTime()}\n`);
}

main().then(
  () => process.exit(0),
  (e) => fail(99, String(e && e.stack ? e.stack : e)),
);
