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
const crypto = require('crypto');
const os = require('os');
const { spawn } = require('child_process');
const { readProperties } = require('./properties');
const workflow = require('./workflow');

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
const appdata = props['server.appdata.dir'] || path.join(install, 'appdata');
const dbOptionFile = path.join(install, 'conf/sim/db.cnf');

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

// The cluster's servers (GET /rest/server): each running server registers itself in the shared
// appdata, as real ones register in the shared database, and deregisters on a clean stop. A
// server killed -9 stays listed (as in the product, until someone removes it).
const serversDir = path.join(appdata, 'var/sim/servers');
const serverName = os.hostname();
const serverRecord = path.join(serversDir, `${serverName.replace(/[^A-Za-z0-9._-]/g, '_')}.json`);

function registerServer() {
  fs.mkdirSync(serversDir, { recursive: true });
  const record = { id: crypto.createHash('sha256').update(serverName).digest('hex').slice(0, 32), name: serverName, hostName: props['install.server.web.host'] || serverName, port: httpsPort, jmsPort, version, active: true };
  fs.writeFileSync(`${serverRecord}.tmp`, `${JSON.stringify(record)}\n`);
  fs.renameSync(`${serverRecord}.tmp`, serverRecord);
}

function deregisterServer() {
  try {
    fs.unlinkSync(serverRecord);
  } catch {
    /* already gone */
  }
}

function listServers() {
  let files = [];
  try {
    files = fs.readdirSync(serversDir).filter((f) => f.endsWith('.json'));
  } catch {
    /* none registered */
  }
  const out = [];
  for (const f of files.sort()) {
    try {
      out.push(JSON.parse(fs.readFileSync(path.join(serversDir, f), 'utf8')));
    } catch {
      /* being written */
    }
  }
  return out;
}

// System settings (GET /cli/systemConfiguration, PUT /rest/system/configuration): one map for the
// cluster, in the shared appdata as the real one is in the shared database. The write takes the
// whole map (ucd-facts.md): a map missing any setting is refused and nothing changes; 204 when
// written. maintenanceModeEnabled exists from 7.0.3 on.
const systemConfigFile = path.join(appdata, 'var/sim/system-configuration.json');

function defaultSystemConfiguration() {
  const config = {
    externalURL: props['server.external.web.url'] || `https://${serverName}:${httpsPort}`,
    externalUserURL: props['server.external.web.url'] || `https://${serverName}:${httpsPort}`,
    repoAutoIntegrationPeriod: 15000,
    deployMailHost: '',
    deployMailPort: 25,
    cleanupHourOfDay: 0,
    cleanupDaysToKeep: -1,
    enableInactiveLinks: false,
    requireCommentForProcessChanges: false,
    winRAgentProtocol: 'NTLM',
  };
  if (compareVersions(version, '7.0.3') >= 0) config.maintenanceModeEnabled = false;
  return config;
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

function readSystemConfiguration() {
  const base = defaultSystemConfiguration();
  try {
    const stored = JSON.parse(fs.readFileSync(systemConfigFile, 'utf8'));
    const merged = { ...base, ...stored };
    // A server older than 7.0.3 does not know the setting, whatever the map holds.
    if (!('maintenanceModeEnabled' in base)) delete merged.maintenanceModeEnabled;
    return merged;
  } catch {
    return base;
  }
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on('data', (c) => {
      size += c.length;
      if (size > 1024 * 1024) reject(new Error('request body too large'));
      else chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

async function writeSystemConfiguration(req, res) {
  let next;
  try {
    next = JSON.parse(await readBody(req));
  } catch {
    res.writeHead(400, { 'content-type': 'text/plain' });
    res.end('The request body is not JSON.\n');
    return;
  }
  if (typeof next !== 'object' || next === null || Array.isArray(next)) {
    res.writeHead(400, { 'content-type': 'text/plain' });
    res.end('The system configuration must be a JSON object.\n');
    return;
  }
  const current = readSystemConfiguration();
  const missing = Object.keys(current).filter((k) => !(k in next));
  if (missing.length) {
    res.writeHead(400, { 'content-type': 'text/plain' });
    res.end(`Missing system configuration properties: ${missing.join(', ')}\n`);
    return;
  }
  const known = Object.fromEntries(Object.keys(current).map((k) => [k, next[k]]));
  fs.mkdirSync(path.dirname(systemConfigFile), { recursive: true });
  fs.writeFileSync(`${systemConfigFile}.${process.pid}.tmp`, `${JSON.stringify(known)}\n`);
  fs.renameSync(`${systemConfigFile}.${process.pid}.tmp`, systemConfigFile);
  if (current.maintenanceModeEnabled !== known.maintenanceModeEnabled && 'maintenanceModeEnabled' in current) {
    log('INFO', `Maintenance mode ${known.maintenanceModeEnabled === true || known.maintenanceModeEnabled === 'true' ? 'enabled' : 'disabled'} by a REST request.`);
  }
  res.writeHead(204);
  res.end();
}

const sockets = new Set();
const track = (socket) => {
  sockets.add(socket);
  socket.on('close', () => sockets.delete(socket));
};

// REST users: <appdata>/conf/sim/users.json holds salted hashes (written by the test harness), so
// every node accepts the same credentials and no node's disk holds the password itself.
function credentialsOk(header) {
  const m = /^Basic\s+(\S+)$/i.exec(header || '');
  if (!m) return false;
  const decoded = Buffer.from(m[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return false;
  const user = decoded.slice(0, colon);
  const secret = decoded.slice(colon + 1);
  let db;
  try {
    db = JSON.parse(fs.readFileSync(path.join(appdata, 'conf/sim/users.json'), 'utf8'));
  } catch {
    return false;
  }
  // UCD's token convention: user "PasswordIsAuthToken", the token as password.
  const candidates = user === 'PasswordIsAuthToken' ? db.tokens || [] : (db.users || []).filter((u) => u.name === user);
  return candidates.some((c) => {
    const got = crypto.createHash('sha256').update(`${c.salt}:${secret}`).digest();
    const want = Buffer.from(c.sha256, 'hex');
    return got.length === want.length && crypto.timingSafeEqual(got, want);
  });
}

function sendJson(res, status, value) {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(value === undefined ? '' : JSON.stringify(value));
}

async function rest(req, res, url) {
  if (!credentialsOk(req.headers.authorization)) {
    req.resume();
    res.writeHead(401, { 'content-type': 'text/plain', 'www-authenticate': 'Basic realm="IBM UrbanCode Deploy"' });
    res.end('Unauthorized\n');
    return;
  }
  if (req.method === 'GET' && url.pathname === '/rest/workflow/currentActivity') {
    const parentRequestId = url.searchParams.get('parentRequestId') || undefined;
    sendJson(res, 200, workflow.listItems(appdata, { parentRequestId }));
    return;
  }
  if (req.method === 'GET' && url.pathname === '/cli/systemConfiguration') {
    sendJson(res, 200, readSystemConfiguration());
    return;
  }
  if (req.method === 'PUT' && url.pathname === '/rest/system/configuration') {
    await writeSystemConfiguration(req, res);
    return;
  }
  if (req.method === 'GET' && url.pathname === '/rest/server') {
    sendJson(res, 200, listServers());
    return;
  }
  const m = /^\/rest\/workflow\/([^/]+)\/cancel$/.exec(url.pathname);
  if (m && req.method === 'PUT') {
    const id = decodeURIComponent(m[1]);
    const outcome = await workflow.cancel(appdata, id);
    if (outcome === 'unknown') {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end(`No running workflow with id ${id}\n`);
      return;
    }
    if (outcome === 'timeout') {
      res.writeHead(500, { 'content-type': 'text/plain' });
      res.end(`Cancel of ${id} was requested but the process has not stopped yet\n`);
      return;
    }
    log('INFO', `Workflow ${id} cancelled by a REST request.`);
    sendJson(res, 200, undefined);
    return;
  }
  res.writeHead(404, { 'content-type': 'text/plain' });
  res.end('Not Found\n');
}

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
    if (url.pathname.startsWith('/rest/') || url.pathname.startsWith('/cli/')) {
      // The settings write reads its body; everything else has none worth reading.
      if (!(req.method === 'PUT' && url.pathname === '/rest/system/configuration')) req.resume();
      rest(req, res, url).catch((err) => {
        log('ERROR', `REST ${req.method} ${url.pathname}: ${err && err.stack ? err.stack : err}`);
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
        res.end('Internal Server Error\n');
      });
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

// The shared database: with a database configured (installed.properties' JDBC URL and the node's
// client option file conf/sim/db.cnf, which holds the password), the server keeps one real client
// session open for as long as it runs, as the product keeps its connection pool. Without one
// (clusters started without a database) it runs without, as before.
let db;
function connectDatabase() {
  const jdbc = /^jdbc:(?:mysql|mariadb):\/\/([^/:]+)(?::(\d+))?\/([^?;]+)/.exec(props['hibernate.connection.url'] || '');
  if (!jdbc || !fs.existsSync(dbOptionFile)) return Promise.resolve(false);
  const [, host, port = '3306', name] = jdbc;
  return new Promise((resolve, reject) => {
    const args = [`--defaults-extra-file=${dbOptionFile}`, `--host=${host}`, `--port=${port}`, '--connect-timeout=5', '-N', '-B', '--unbuffered', name];
    if (props['hibernate.connection.username']) args.splice(1, 0, `--user=${props['hibernate.connection.username']}`);
    db = spawn('/usr/bin/mariadb', args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    let ready = false;
    db.stdout.on('data', (d) => {
      out += d.toString();
      if (!ready && /ucd-sim-db-ok/.test(out)) {
        ready = true;
        resolve(true);
      }
    });
    db.stderr.on('data', (d) => (err += d.toString()));
    db.stdin.on('error', () => undefined);
    db.on('exit', (code) => {
      if (!ready) reject(new Error(`the database client exited ${code}: ${err.trim()}`));
      else if (!stopping) log('ERROR', `Lost the database connection (client exited ${code}): ${err.trim()}`);
    });
    db.stdin.write("SELECT 'ucd-sim-db-ok', COUNT(*) FROM ds_db_version;\n");
  });
}

let listening = 0;
let dbReady = false;
const onListening = () => {
  if (++listening === 2 && dbReady) {
    registerServer();
    log('INFO', `IBM UrbanCode Deploy server version ${version} started.`);
  }
};
connectDatabase().then(
  (connected) => {
    if (connected) log('INFO', `Connected to the database ${props['hibernate.connection.url']}`);
    dbReady = true;
    web.on('error', (err) => fail(`Unable to start the web server on port ${httpsPort}`, err));
    jms.on('error', (err) => fail(`Unable to start the JMS listener on port ${jmsPort}`, err));
    web.listen(httpsPort, '0.0.0.0', onListening);
    jms.listen(jmsPort, '0.0.0.0', onListening);
  },
  (err) => fail(`Unable to connect to the database ${props['hibernate.connection.url']}`, err),
);

let stopping = false;
function stop(signal) {
  if (fs.existsSync(path.join(faultDir, 'ignoresStop'))) {
    log('WARN', `Received ${signal}; ignoring it (simulated fault: server ignores stop).`);
    return;
  }
  log('INFO', `Received ${signal}; stopping IBM UrbanCode Deploy server.`);
  stopping = true;
  web.close();
  jms.close();
  if (db) {
    db.stdin.end();
    db.kill('SIGTERM');
  }
  for (const s of sockets) s.destroy();
  deregisterServer();
  removePidFile();
  log('INFO', 'IBM UrbanCode Deploy server stopped.');
  process.exit(0);
}
process.on('SIGTERM', () => stop('SIGTERM'));
process.on('SIGINT', () => stop('SIGINT'));
process.on('SIGHUP', () => undefined); // a closed login session must not stop the server
