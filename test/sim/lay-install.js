'use strict';
// Lays out a simulated UCD server install (and the shared appdata folder) on disk, with the
// files, scripts and properties ucd-facts.md lists. Used by the test cluster harness for every
// node, and later by the simulated installer for the new version.
//   node lay-install.js --dir <host dir> --version 7.0.5.0 [--install-path /opt/ucd/server]
//        [--appdata-path /opt/ucd/appdata] [--appdata-dir <host dir>] [--web-host <addr>] [--user ucdtest]
// --dir / --appdata-dir are where the files go on this machine; --install-path / --appdata-path
// are where a node sees them (the paths written into scripts and properties).
const fs = require('fs');
const path = require('path');
const { execFileSync } = require('child_process');

const SIM_DIR = __dirname;
/** What a running server needs from the simulator, copied into every install's lib/sim/. */
const SERVER_FILES = ['ucd-server.js', 'properties.js', 'workflow.js'];

/** POSIX single-quoting: the value is data for the shell, whatever it contains. */
function sq(value) {
  return `'${String(value).replace(/'/g, `'\\''`)}'`;
}

function write(file, text, mode = 0o644) {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, text, { mode });
  fs.chmodSync(file, mode);
}

function serverScript(installPath) {
  return `#!/bin/sh
# bin/server {run|start|stop} of the simulated IBM UrbanCode Deploy server (test/sim).
# Same verbs and files as the real script: start writes var/log/stdout, the server writes
# var/server.pid while it runs and removes it on a clean stop.
SERVER_HOME=${sq(installPath)}
. "$SERVER_HOME/bin/set_env"
PID_FILE="$SERVER_HOME/var/server.pid"
STOP_WAIT_SECONDS=3

pid_alive() { [ -n "$1" ] && [ -d "/proc/$1" ]; }

run_server() {
  cd "$SERVER_HOME/bin" || exit 1
  exec "$JAVA_HOME/bin/java" -server -Xms256m -Xmx1024m -Dfile.encoding=UTF-8 -Djava.awt.headless=true \\
    "-Dcom.urbancode.ds.home=$SERVER_HOME" \\
    -jar "$SERVER_HOME/bin/launcher.jar" "$SERVER_HOME/bin/classpath.conf" com.urbancode.ds.UDeployServer
}

case "$1" in
  run|_systemd)
    # _systemd: in the foreground for the unit of bin/systemd (Type=exec), as 8.1.1+ does.
    run_server
    ;;
  start)
    if [ -s "$PID_FILE" ]; then
      pid=$(cat "$PID_FILE")
      if pid_alive "$pid"; then
        echo "The server is already running (pid $pid, $PID_FILE)." >&2
        exit 1
      fi
      echo "Removing stale pid file $PID_FILE (pid $pid is not running)."
      rm -f "$PID_FILE"
    fi
    mkdir -p "$SERVER_HOME/var/log"
    nohup setsid "$0" run >>"$SERVER_HOME/var/log/stdout" 2>&1 </dev/null &
    child=$!
    i=0
    while [ $i -lt 100 ]; do
      if [ -s "$PID_FILE" ] && pid_alive "$(cat "$PID_FILE")"; then
        echo "Started the server (pid $(cat "$PID_FILE"))."
        exit 0
      fi
      if ! pid_alive "$child"; then break; fi
      sleep 0.1
      i=$((i + 1))
    done
    echo "The server did not start; the end of $SERVER_HOME/var/log/stdout:" >&2
    tail -n 20 "$SERVER_HOME/var/log/stdout" >&2
    exit 1
    ;;
  stop)
    if [ ! -e "$PID_FILE" ]; then
      echo "The server is not running (no $PID_FILE)."
      exit 0
    fi
    pid=$(cat "$PID_FILE")
    if ! pid_alive "$pid"; then
      echo "The server is not running, but $PID_FILE names pid $pid (stale pid file)."
      exit 0
    fi
    echo "Stopping the server (pid $pid)..."
    kill -TERM "$pid"
    i=0
    while pid_alive "$pid" && [ $i -lt $((STOP_WAIT_SECONDS * 10)) ]; do
      sleep 0.1
      i=$((i + 1))
    done
    if pid_alive "$pid"; then
      echo "Stop requested; pid $pid is still shutting down."
    else
      echo "Stopped the server."
    fi
    exit 0
    ;;
  *)
    echo "Usage: $0 {run|start|stop}" >&2
    exit 2
    ;;
esac
`;
}

function initScript(installPath, user) {
  return `#!/bin/sh
### BEGIN INIT INFO
# Provides:          ucdserver
# Required-Start:    $network
# Required-Stop:     $network
# Default-Start:     2 3 4 5
# Default-Stop:      0 1 6
# Short-Description: IBM UrbanCode Deploy server (simulated, test/sim)
### END INIT INFO
# Service script: runs bin/server as the install's user; on stop, kill -9 after ~10 s.
SERVER_HOME=${sq(installPath)}
SERVER_USER=${sq(user)}
NAME=ucdserver
PID_FILE="$SERVER_HOME/var/server.pid"

as_user() {
  if [ "$(id -u)" = 0 ]; then runuser -u "$SERVER_USER" -- "$@"; else "$@"; fi
}

case "$1" in
  start)
    as_user "$SERVER_HOME/bin/server" start || exit 1
    if [ "$(id -u)" = 0 ]; then cp "$PID_FILE" "/run/$NAME.pid" 2>/dev/null; fi
    ;;
  stop)
    pid=$(cat "$PID_FILE" 2>/dev/null)
    as_user "$SERVER_HOME/bin/server" stop
    i=0
    while [ -n "$pid" ] && [ -d "/proc/$pid" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
    if [ -n "$pid" ] && [ -d "/proc/$pid" ]; then
      echo "The server (pid $pid) did not stop; killing it."
      kill -9 "$pid"
    fi
    rm -f "/run/$NAME.pid" 2>/dev/null
    ;;
  restart)
    "$0" stop
    "$0" start
    ;;
  status)
    pid=$(cat "$PID_FILE" 2>/dev/null)
    if [ -n "$pid" ] && [ -d "/proc/$pid" ]; then echo "$NAME is running (pid $pid)."; exit 0; fi
    echo "$NAME is not running."
    exit 3
    ;;
  *)
    echo "Usage: $0 {start|stop|restart|status}" >&2
    exit 2
    ;;
esac
`;
}

/** bin/systemd/devops-deploy-server.service as 8.1.1+ ships it (ucd-facts.md). */
function systemdUnit(installPath) {
  return `[Unit]
Description=HCL DevOps Deploy server (simulated, test/sim)
After=network.target

[Service]
Type=exec
ExecStart=${installPath}/bin/server _systemd
SuccessExitStatus=0 9 143
Restart=on-failure
RestartForceExitStatus=9

[Install]
WantedBy=multi-user.target
`;
}

/** Whether a release ships the systemd unit: 8.1.1 and later. */
function shipsSystemdUnit(version) {
  const [a, b, c] = version.split('.').map(Number);
  return a > 8 || (a === 8 && (b > 1 || (b === 1 && c >= 1)));
}

/** The fake JRE: execs node under the java name so the process command line has the real shape. */
function javaScript(installPath) {
  return `#!/bin/bash
# Simulated JRE (test/sim): the UCD server simulator runs on the host's Node.js. -version prints
# what a JDK prints (to stderr), from JAVA_VERSION in the JRE's release file, as real JDKs carry it.
if [ "$1" = "-version" ]; then
  v=$(sed -n 's/^JAVA_VERSION="\\(.*\\)"$/\\1/p' "$(dirname "$0")/../release" 2>/dev/null)
  [ -n "$v" ] || { echo "Error: could not read the JRE's release file" >&2; exit 1; }
  echo "openjdk version \\"$v\\" 2024-01-16" >&2
  echo "OpenJDK Runtime Environment (simulated, test/sim) (build $v)" >&2
  exit 0
fi
exec -a "$0" /usr/bin/node ${sq(path.posix.join(installPath, 'lib/sim/ucd-server.js'))} "$@"
`;
}

/** The JRE's release file (what the fake java -version prints); kept when present, like the JRE itself. */
const DEFAULT_JAVA_VERSION = '17.0.10';
function javaRelease(version) {
  if (!/^\d+(\.\d+)*(_\d+)?$/.test(version)) throw new Error(`layInstall: bad java version "${version}"`);
  return `JAVA_VERSION="${version}"\nIMPLEMENTOR="UCD simulator"\n`;
}

function properties(entries) {
  return `${entries.map(([k, v]) => `${k}=${v}`).join('\n')}\n`;
}

/** The product's own files under opt/tomcat: an upgrade lays these again and removes everything else there. */
const TOMCAT_FILES = ['opt/tomcat/conf/server.xml', 'opt/tomcat/conf/web.xml', 'opt/tomcat/lib/catalina.jar'];

function layTomcat(dir, version) {
  for (const f of TOMCAT_FILES) write(path.join(dir, f), `<!-- simulated ${path.basename(f)} of IBM UrbanCode Deploy ${version} -->\n`);
}

/**
 * Writes the install tree. Existing var/ content (logs, pid file) is kept: an upgrade replaces
 * the product, not the server's state. With `keepConfig` (the installer's upgrade) an existing
 * conf/server/installed.properties is kept too, as the product keeps the server's settings.
 * `dbUrl`/`dbUser` are the JDBC URL and user written into installed.properties.
 */
function layInstall(opts) {
  const dir = opts.dir;
  const installPath = opts.installPath || '/opt/ucd/server';
  const appdataPath = opts.appdataPath || '/opt/ucd/appdata';
  const webHost = opts.webHost || 'localhost';
  const user = opts.user || 'ucdtest';
  const version = opts.version;
  if (!/^\d+(\.\d+){3,4}$/.test(version || '')) throw new Error(`layInstall: bad version "${version}"`);

  write(path.join(dir, 'bin/server'), serverScript(installPath), 0o755);
  write(path.join(dir, 'bin/init/server'), initScript(installPath, user), 0o755);
  if (shipsSystemdUnit(version)) write(path.join(dir, 'bin/systemd/devops-deploy-server.service'), systemdUnit(installPath));
  write(path.join(dir, 'bin/set_env'), `# Sets the JRE for the server (simulated).\nJAVA_HOME=${sq(path.posix.join(installPath, 'java'))}\nexport JAVA_HOME\n`, 0o755);
  write(path.join(dir, 'bin/launcher.jar'), `simulated launcher for IBM UrbanCode Deploy ${version}\n`);
  write(path.join(dir, 'bin/classpath.conf'), `# simulated classpath\nlib/*.jar\n`);
  write(path.join(dir, 'java/bin/java'), javaScript(installPath), 0o755);
  if (opts.javaVersion || !fs.existsSync(path.join(dir, 'java/release'))) write(path.join(dir, 'java/release'), javaRelease(opts.javaVersion || DEFAULT_JAVA_VERSION));
  fs.mkdirSync(path.join(dir, 'lib/sim'), { recursive: true });
  for (const f of SERVER_FILES) fs.copyFileSync(path.join(SIM_DIR, f), path.join(dir, 'lib/sim', f));
  layTomcat(dir, version);
  write(path.join(dir, 'conf/installed.version'), properties([['installed.version', version]]));
  const settings = path.join(dir, 'conf/server/installed.properties');
  if (!(opts.keepConfig && fs.existsSync(settings))) write(
    path.join(dir, 'conf/server/installed.properties'),
    `# Installed properties of the simulated server (test/sim).\n` +
      properties([
        ['install.server.dir', installPath],
        ['install.java.home', path.posix.join(installPath, 'java')],
        ['server.appdata.dir', appdataPath],
        ['com.urbancode.ds.UDeployServer.multiserver', 'true'],
        ['install.server.web.host', webHost],
        ['install.server.web.https.port', '8443'],
        ['install.server.web.port', '8080'],
        ['install.server.web.always.secure', 'Y'],
        ['server.jms.port', '7918'],
        ['server.external.web.url', `https://${webHost}:8443`],
        ['database.type', 'mysql'],
        ['hibernate.connection.driver_class', 'com.mysql.jdbc.Driver'],
        ['hibernate.connection.url', opts.dbUrl || 'jdbc:mysql://10.231.0.1:3306/ucd'],
        ['hibernate.connection.username', opts.dbUser || 'ucd'],
      ]),
  );
  fs.mkdirSync(path.join(dir, 'var/log'), { recursive: true });
  fs.mkdirSync(path.join(dir, 'conf/sim'), { recursive: true });
  const key = path.join(dir, 'conf/sim/server.key');
  const crt = path.join(dir, 'conf/sim/server.crt');
  if (!fs.existsSync(key) || !fs.existsSync(crt)) {
    // A self-signed certificate, as a fresh UCD install has.
    const san = /^[\d.]+$/.test(webHost) ? `IP:${webHost}` : `DNS:${webHost}`;
    execFileSync('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
      '-keyout', key, '-out', crt, '-days', '3650', '-subj', `/CN=${webHost}/O=UCD simulator`,
      '-addext', `subjectAltName=${san}`,
    ], { stdio: ['ignore', 'ignore', 'pipe'] });
    fs.chmodSync(key, 0o600);
  }
}

/** The shared appdata folder in the layout of 6.1.1.5 and later. */
function layAppdata(opts) {
  const dir = opts.dir;
  for (const sub of ['var/plugins', 'var/repository', 'var/sa', 'logs', 'patches', 'conf/server/notification-templates', 'conf/collectors']) {
    fs.mkdirSync(path.join(dir, sub), { recursive: true });
  }
  write(path.join(dir, 'conf/server/log4j.properties'), '# simulated\nlog4j.rootLogger=INFO\n');
  write(path.join(dir, 'conf/installed.version'), properties([['installed.version', opts.version]]));
}

module.exports = { layInstall, layAppdata, javaRelease, sq, SERVER_FILES, DEFAULT_JAVA_VERSION, TOMCAT_FILES, shipsSystemdUnit };

if (require.main === module) {
  const argv = process.argv.slice(2);
  const get = (name) => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const version = get('version');
  const dir = get('dir');
  if (!dir || !version) {
    process.stderr.write('usage: node lay-install.js --dir DIR --version V [--install-path P] [--appdata-path P] [--appdata-dir DIR] [--web-host H] [--user U]\n');
    process.exit(2);
  }
  layInstall({ dir, version, installPath: get('install-path'), appdataPath: get('appdata-path'), webHost: get('web-host'), user: get('user') });
  const appdataDir = get('appdata-dir');
  if (appdataDir) layAppdata({ dir: appdataDir, version });
}
