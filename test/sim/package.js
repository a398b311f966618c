'use strict';
// Builds a simulated UCD server installation package, as the product ships it:
//   ibm-ucd-<version>.zip            (.tar.gz when /usr/bin/zip is missing)
//     ibm-ucd-install/install-server.sh      the shell part: directory prompt, JRE prompt, then Ant
//     ibm-ucd-install/install.properties     silent installs: nonInteractive, install.server.dir, ...
//     ibm-ucd-install/install.with.groovy.xml
//     ibm-ucd-install/conf/installed.version installed.version=<version>
//     ibm-ucd-install/lib/sim/*.js           the Java part (installer.js) and the new server code
//     ibm-ucd-install/lib/sim/texts.json     the product's words, from src/core/ucd/installer/texts.ts
// The texts are passed in by the caller (the harness imports them from texts.ts), so the simulator
// prints exactly the wording the runbook's driver matches. Run the installer from the extracted
// ibm-ucd-install folder: `cd ibm-ucd-install && ./install-server.sh [-fips]`.
const fs = require('fs');
const path = require('path');
const { execFileSync } = require('child_process');
const { sq, SERVER_FILES } = require('./lay-install');

const FOLDER = 'ibm-ucd-install';
const PACKAGE_FILES = [...SERVER_FILES, 'lay-install.js', 'installer.js'];

/** The texts the simulator prints, picked from texts.ts' tables; a missing one is an error here. */
function pickTexts(texts, product) {
  const need = {
    prompts: ['upgradeDirectory', 'javaHome', 'installDirectory', 'upgradeConfirm', 'notice'],
    refusals: ['pidFile', 'connection', 'stillRunning', 'versionMismatch', 'upgradeCanceled', 'upgradeAborted', 'downgrade', 'installDirMissing', 'javaHomeMissing'],
    infos: ['databaseUpgrades', 'noDatabaseUpgrades'],
    ant: ['echoPrefix', 'buildSuccessful', 'buildFailed'],
  };
  const tables = { prompts: texts.PROMPT_TEXTS, refusals: texts.REFUSAL_TEXTS, infos: texts.INFO_TEXTS, ant: texts.ANT_TEXTS };
  const out = { product };
  for (const [group, ids] of Object.entries(need)) {
    out[group] = {};
    for (const id of ids) {
      const t = tables[group] && tables[group][id];
      if (!t || typeof t.text !== 'string') throw new Error(`buildPackage: texts.${group}.${id} is missing`);
      out[group][id] = t.text;
    }
  }
  return out;
}

/** printf arguments that print `template` with {name} placeholders taken from shell variables. */
function shellRender(template, vars) {
  const parts = template.split(/(\{\w+\})/);
  const args = parts.map((p) => {
    const m = /^\{(\w+)\}$/.exec(p);
    if (!m) return sq(p);
    if (!vars[m[1]]) throw new Error(`buildPackage: no shell value for {${m[1]}}`);
    return `"${vars[m[1]]}"`;
  });
  return `printf '${'%s'.repeat(args.length)}\\n' ${args.join(' ')}`;
}

function installServerSh(texts) {
  return `#!/bin/sh
# install-server.sh of the SIMULATED IBM UrbanCode Deploy server package (test/sim/package.js).
# Like the product's: the shell asks for the directory of the server to upgrade (plain \`read\`,
# also in non-interactive mode: the 7.0.4.2 defect), sources its bin/set_env or asks for the
# JRE, then runs the Java part. The last command is an export, so the exit status is 0 whatever
# the Java part did: success is "BUILD SUCCESSFUL" in the output.
SRC_DIR=$(cd "$(dirname "$0")" && pwd)
cd "$SRC_DIR" || exit 1
ANT_OPTS=
for arg in "$@"; do
  case "$arg" in
    -fips) ANT_OPTS="-Dinstall.fips=true" ;;
  esac
done

JAVA_FOUND=
while [ -z "$JAVA_FOUND" ]; do
  printf '%s\\n' ${sq(texts.prompts.upgradeDirectory)}
  eof=
  read UPGRADE_DIR || eof=1
  if [ -n "$UPGRADE_DIR" ] && [ -f "$UPGRADE_DIR/bin/set_env" ]; then
    . "$UPGRADE_DIR/bin/set_env"
  else
    ${shellRender(texts.prompts.javaHome, { javaHome: '$JAVA_HOME' })}
    read ANSWER || eof=1
    if [ -n "$ANSWER" ]; then JAVA_HOME=$ANSWER; fi
  fi
  if [ -n "$JAVA_HOME" ]; then
    JAVA_FOUND=1
  else
    printf '%s\\n' ${sq(texts.refusals.javaHomeMissing)}
    # The product asks again for ever; at the end of input that would spin, so stop here.
    if [ -n "$eof" ]; then exit 0; fi
  fi
done
export JAVA_HOME

if [ -x "$JAVA_HOME/bin/java" ]; then
  # The simulated JRE is the host's Node.js (test nodes share /usr/bin).
  /usr/bin/node "$SRC_DIR/lib/sim/installer.js" $ANT_OPTS
else
  echo "$JAVA_HOME/bin/java: not found"
fi
ANT_HOME="$SRC_DIR/opt/apache-ant"
export ANT_HOME
`;
}

function installProperties(version) {
  return `# Installation properties of the IBM UrbanCode Deploy server ${version} (simulated package).
# For a silent upgrade set nonInteractive=true and install.server.dir to the existing server.
nonInteractive=false
install.server.dir=/opt/ibm-ucd/server
install.java.home=
server.appdata.dir=
install.server.web.https.port=8443
`;
}

/**
 * Builds the package into `outDir`. Returns { file, version, format, folder }.
 *   opts.version  the version it installs (also in its file name)
 *   opts.texts    { PROMPT_TEXTS, REFUSAL_TEXTS, INFO_TEXTS, ANT_TEXTS } from texts.ts
 *   opts.product  the brand name it prints; default "IBM UrbanCode Deploy"
 *   opts.format   'zip' | 'tar.gz'; default zip when /usr/bin/zip exists
 *   opts.failAfterSchema  the installer fails after the schema upgrade, halfway through the files
 */
function buildPackage(opts) {
  const version = opts.version;
  if (!/^\d+(\.\d+){3,4}$/.test(version || '')) throw new Error(`buildPackage: bad version "${version}"`);
  const format = opts.format || (fs.existsSync('/usr/bin/zip') ? 'zip' : 'tar.gz');
  const texts = pickTexts(opts.texts || {}, opts.product || 'IBM UrbanCode Deploy');
  const outDir = path.resolve(opts.outDir);
  const stage = path.join(outDir, `.stage-${version}-${process.pid}`);
  const root = path.join(stage, FOLDER);
  fs.rmSync(stage, { recursive: true, force: true });
  fs.mkdirSync(path.join(root, 'conf'), { recursive: true });
  fs.mkdirSync(path.join(root, 'lib/sim'), { recursive: true });
  fs.writeFileSync(path.join(root, 'install-server.sh'), installServerSh(texts), { mode: 0o755 });
  fs.chmodSync(path.join(root, 'install-server.sh'), 0o755);
  fs.writeFileSync(path.join(root, 'install.properties'), installProperties(version));
  fs.writeFileSync(path.join(root, 'install.with.groovy.xml'), `<project name="install" default="install"><!-- simulated; the logic is lib/sim/installer.js --></project>\n`);
  fs.writeFileSync(path.join(root, 'conf/installed.version'), `installed.version=${version}\n`);
  // A question the runbook does not know (see installer.js): shipped in the package itself.
  if (opts.extraPrompt) {
    fs.mkdirSync(path.join(root, 'conf/sim'), { recursive: true });
    fs.writeFileSync(path.join(root, 'conf/sim/extra-prompt'), `${opts.extraPrompt}\n`);
  }
  // How long the schema upgrade takes (seconds), as a real one takes minutes to an hour.
  if (opts.schemaUpgradeSeconds !== undefined) {
    fs.mkdirSync(path.join(root, 'conf/sim'), { recursive: true });
    fs.writeFileSync(path.join(root, 'conf/sim/schema-upgrade-seconds'), `${Number(opts.schemaUpgradeSeconds)}\n`);
  }
  // A package that breaks after the schema upgrade (installer.js): the failed upgrade a rollback undoes.
  if (opts.failAfterSchema) {
    fs.mkdirSync(path.join(root, 'conf/sim'), { recursive: true });
    fs.writeFileSync(path.join(root, 'conf/sim/fail-after-schema'), 'java.io.IOException: No space left on device\n');
  }
  // How long the installer checks the install before it touches anything (seconds): the window
  // in which a guard can still stop it with nothing changed.
  if (opts.preSchemaSeconds !== undefined) {
    fs.mkdirSync(path.join(root, 'conf/sim'), { recursive: true });
    fs.writeFileSync(path.join(root, 'conf/sim/pre-schema-seconds'), `${Number(opts.preSchemaSeconds)}\n`);
  }
  for (const f of PACKAGE_FILES) fs.copyFileSync(path.join(__dirname, f), path.join(root, 'lib/sim', f));
  fs.writeFileSync(path.join(root, 'lib/sim/texts.json'), `${JSON.stringify(texts, null, 2)}\n`);

  const file = path.join(outDir, `ibm-ucd-${version}.${format}`);
  fs.rmSync(file, { force: true });
  if (format === 'zip') execFileSync('/usr/bin/zip', ['-q', '-r', '-X', file, FOLDER], { cwd: stage, stdio: ['ignore', 'ignore', 'pipe'] });
  else execFileSync('tar', ['-czf', file, FOLDER], { cwd: stage, stdio: ['ignore', 'ignore', 'pipe'] });
  fs.rmSync(stage, { recursive: true, force: true });
  return { file, version, format, folder: FOLDER };
}

module.exports = { buildPackage, FOLDER, PACKAGE_FILES };
