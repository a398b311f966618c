'use strict';
// The simulated UCD server process. bin/server runs it through the install's fake JRE
// (<install>/java/bin/java), which execs /usr/bin/node under the java name, so `ps -ef` shows
//   <install>/java/bin/java <this script> <jvm options> -jar <install>/bin/launcher.jar
//       <install>/bin/classpath.conf com.urbancode.ds.UDeployServer
// It behaves as ucd-facts.md says: var/server.pid while running, HTTPS login page with the
// version, JMS port open, startup line in var/log/deployserver.out, pid file removed on a clean
// stop. Fault switches are files in the node's fault folder (written by the test harness).
// Plain JavaScript on purpose: it runs inside the nodes with the host's /usr/bin/node.
const fs = require('fs');
const path = require('path');
const https = require('https');
const net = require('net');

const MAIN_CLASS = 'com.urbancode.ds.UDeployServer';

// The kernel names the process after its executable (node); tools such as `ss -p` and
// `netstat -p` show that name, so take the JVM's.
try {
  fs.writeFileSync('/proc/self/comm', 'java');
} catch {
  /* not Linux: the name is cosmetic */
}

const args = process.argv.slice(2);
const jarAt = args.indexOf('-jar');
if (jarAt < 0 || args[jarAt + 3] !== MAIN_CLASS || !args[jarAt + 1].endsWith('/bin/launcher.jar')) {
  process.stderr.write(`usage: java [options] -jar <install>/bin/launcher.jar <install>/bin/classpath.conf ${MAIN_CLASS}\n`);
  process.exit(2);
}
// Like the real launcher, everything is found relative to the jar's install.
const install = path.dirname(path.dirname(args[jarAt + 1]));
const props = readProperties(path.join(install, 'conf/server/installed.properties'));
const version = readProperties(path.join(install, 'conf/installed.version'))['installed.version'] || 'unknown';
const httpsPort = Number(props['install.server.web.https.port'] || 8443);
const jmsPort = Number(props['server.jms.port'] || 7918);
const pidFile = path.join(install, 'var/server.pid');
const logFile = path.join(install, 'var/log/deployserver.out');
const faultDir = process.env.UCD_SIM_FAULT_DIR || '/run/ucdt/faults';

function readProperties(file) {
  const out = {};
  let text = '';
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return out;
  }
  for (const line of text.split('\n')) {
    const m = /^\s*([^#!=\s][^=]*?)\s*=\s*(.*?)\s*$/.exec(line);
    if (m) out[m[1]] = m[2];
  }
  return out;
}

function log(level, message) {
  const now = new Date().toISOString().replace('T', ' ').replace('Z', '').replace('.', ',');
  fs.mkdirSync(path.dirname(logFile), { recursive: true });
  fs.appendFileSync(logFile, `${now} ${level.padEnd(5)} main com.urbancode.ds.UDeployServer - ${message}\n`);
}

function removePidFile() {
  // Only our own pid file: a second server's file is not ours to delete.
  try {
    if (fs.readFileSync(pidFile, 'utf8').trim() === String(process.pid)) fs.unlinkSync(pidFile);
  } catch {
    /* already gone */
  }
}

function loginPage() {
  return `<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>IBM UrbanCode Deploy</title></head>
<body class="login">
<div class="loginContainer">
  <div class="productName">IBM UrbanCode Deploy</div>
  <span class="productVersion">v. ${version}</span>
  <form method="post" action="/tasks/LoginTasks/login">
    <label>User Name <input name="username" type="text"></label>
    <label>Password <input name="password" type="password"></label>
    <input type="submit" value="Log In">
  </form>
</div>
</body>
</html>
`;
}

const sockets = new Set();
const track = (socket) => {
  sockets.add(socket);
  socket.on('close', () => sockets.delete(socket));
};

const web = https.createServer(
  {
    key: fs.readFileSync(path.join(install, 'conf/sim/server.key')),
    cert: fs.readFileSync(path.join(install, 'conf/sim/server.crt')),
  },
  (req, res) => {
    const url = new URL(req.url || '/', 'https://localhost');
    if (req.method === 'GET' && (url.pathname === '/' || url.pathname === '/login')) {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end(loginPage());
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' });
    res.end('Not Found\n');
  },
);
web.on('connection', track);

// The JMS port only has to accept connections (agents and the cluster mesh connect to it).
const jms = net.createServer((socket) => {
  socket.on('error', () => undefined);
  socket.resume();
});
jms.on('connection', track);

function fail(what, err) {
  log('ERROR', `${what}: ${err && err.code === 'EADDRINUSE' ? 'Address already in use' : String(err)}`);
  process.stderr.write(`${what}: ${String(err)}\n`);
  removePidFile();
  process.exit(1);
}

log('INFO', `Starting IBM UrbanCode Deploy server ${version} in ${install} (pid ${process.pid})`);
fs.mkdirSync(path.dirname(pidFile), { recursive: true });
fs.writeFileSync(pidFile, `${process.pid}\n`);

let listening = 0;
const onListening = () => {
  if (++listening === 2) log('INFO', `IBM UrbanCode Deploy server version ${version} started.`);
};
web.on('error', (err) => fail(`Unable to start the web server on port ${httpsPort}`, err));
jms.on('error', (err) => fail(`Unable to start the JMS listener on port ${jmsPort}`, err));
web.listen(httpsPort, '0.0.0.0', onListening);
jms.listen(jmsPort, '0.0.0.0', onListening);

function stop(signal) {
  if (fs.existsSync(path.join(faultDir, 'ignoresStop'))) {
    log('WARN', `Received ${signal}; ignoring it (simulated fault: server ignores stop).`);
    return;
  }
  log('INFO', `Received ${signal}; stopping IBM UrbanCode Deploy server.`);
  web.close();
  jms.close();
  for (const s of sockets) s.destroy();
  removePidFile();
  log('INFO', 'IBM UrbanCode Deploy server stopped.');
  process.exit(0);
}
process.on('SIGTERM', () => stop('SIGTERM'));
process.on('SIGINT', () => stop('SIGINT'));
process.on('SIGHUP', () => undefined); // a closed login session must not stop the server
