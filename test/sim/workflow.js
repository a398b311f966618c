'use strict';
// Running processes of the simulated UCD cluster (what the Dashboard's Current Activity shows).
// The state lives in the shared appdata folder, so every node's REST API sees the same list, as the
// product's nodes do through their shared database:
//   <appdata>/var/sim/workflow/<requestId>.json   one request: its runner and its activity items
//   <appdata>/var/sim/workflow/cancel/<traceId>   a cancel asked for by any node
// Each request is a real process tree on the node it was started on: a runner (this file, `run`)
// with one `sleep` per item. A cancel is carried out by the runner, on its own node: it kills the
// sleeps and removes the record, so a cancelled process really stops.
//   node workflow.js run <appdata> <spec-json>   prints "started <cancelId> <requestId> <pid>"
const fs = require('fs');
const path = require('path');
const crypto = require('crypto');
const { spawn } = require('child_process');

const POLL_MS = 100;
const HEARTBEAT_MS = 500;
/** A record not touched for this long belongs to a runner that died (its node was killed). */
const STALE_MS = 3000;

const storeDir = (appdata) => path.join(appdata, 'var/sim/workflow');
const cancelDir = (appdata) => path.join(storeDir(appdata), 'cancel');

function writeAtomic(file, text) {
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, text);
  fs.renameSync(tmp, file);
}

/** Every request record, skipping files being written. */
function readRecords(appdata) {
  let names = [];
  try {
    names = fs.readdirSync(storeDir(appdata)).filter((n) => n.endsWith('.json'));
  } catch {
    return [];
  }
  const out = [];
  for (const name of names) {
    const file = path.join(storeDir(appdata), name);
    try {
      const rec = JSON.parse(fs.readFileSync(file, 'utf8'));
      rec.file = file;
      rec.mtimeMs = fs.statSync(file).mtimeMs;
      out.push(rec);
    } catch {
      /* removed or replaced meanwhile */
    }
  }
  return out;
}

/** The id PUT /rest/workflow/{id}/cancel takes for an item (as UCADF reads the product). */
function cancelIdOf(item) {
  return item.processRequestType === 'generic' ? item.workflowTraceId : item.traceId;
}

/** The Current Activity list, newest first; with parentRequestId only that request's children. */
function listItems(appdata, opts = {}) {
  const items = readRecords(appdata).flatMap((r) => r.items);
  const filtered = opts.parentRequestId ? items.filter((i) => i.parentRequestId === opts.parentRequestId) : items;
  return filtered.sort((a, b) => (b.startTime - a.startTime) || String(a.id).localeCompare(String(b.id)));
}

function findItem(appdata, id) {
  for (const rec of readRecords(appdata)) {
    const item = rec.items.find((i) => cancelIdOf(i) === id || i.traceId === id || i.id === id);
    if (item) return { rec, item };
  }
  return undefined;
}

/**
 * Asks for a cancel and waits until the runner has stopped the item. 'unknown' when no running
 * item has that id; 'stopped' when it is gone; 'timeout' when its runner did not act.
 */
async function cancel(appdata, id, timeoutMs = 5000) {
  const found = findItem(appdata, id);
  if (!found) return 'unknown';
  const key = cancelIdOf(found.item);
  fs.mkdirSync(cancelDir(appdata), { recursive: true });
  fs.writeFileSync(path.join(cancelDir(appdata), key), `${new Date().toISOString()}\n`);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const now = findItem(appdata, key);
    if (!now) return 'stopped';
    if (Date.now() - now.rec.mtimeMs > STALE_MS) {
      // Its runner is gone (the node died): the request cannot run any more; drop it as the
      // product marks a request whose agent vanished.
      fs.rmSync(now.rec.file, { force: true });
      fs.rmSync(path.join(cancelDir(appdata), key), { force: true });
      return 'stopped';
    }
    if (Date.now() > deadline) return 'timeout';
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Cancels every running request (the first node's schema upgrade does this). */
async function cancelAll(appdata, timeoutMs = 5000) {
  const tops = readRecords(appdata).map((r) => r.items.find((i) => !i.parentRequestId)).filter(Boolean);
  const results = await Promise.all(tops.map((i) => cancel(appdata, cancelIdOf(i), timeoutMs)));
  return { requested: tops.length, stopped: results.filter((r) => r === 'stopped').length };
}

// ---------------------------------------------------------------------------------------------
// The runner

function itemsFor(spec, now) {
  const user = spec.user || 'admin';
  const uuid = () => crypto.randomUUID();
  if (spec.type === 'generic') {
    const id = uuid();
    const processId = uuid();
    return [{
      processRequestType: 'generic', id, workflowTraceId: uuid(), userName: user, submittedTime: now, startTime: now,
      state: 'EXECUTING', result: 'NONE', paused: false, process: { id: processId, name: spec.name }, processPath: `processes/${processId}`,
    }];
  }
  if (spec.type !== 'application') throw new Error(`unknown process type ${JSON.stringify(spec.type)}`);
  const id = uuid();
  const application = { id: uuid(), name: spec.application || 'JPetStore' };
  const environment = { id: uuid(), name: spec.environment || 'PROD' };
  const app = {
    processRequestType: 'application', id, traceId: uuid(), userName: user, submittedTime: now, startTime: now,
    state: 'EXECUTING', result: 'NONE', paused: false, application, applicationProcess: { id: uuid(), name: spec.name }, environment,
  };
  const children = (spec.components || []).map((name, k) => ({
    processRequestType: 'component', id: uuid(), traceId: uuid(), parentRequestId: id, userName: user, startTime: now + k + 1,
    state: 'EXECUTING', result: 'NONE', application: { name: application.name }, environment: { name: environment.name },
    componentProcess: { id: uuid(), name: name }, component: { id: uuid(), name: name.split(' ').pop() },
  }));
  return [app, ...children];
}

/** Kills a child and resolves once it has been reaped. */
function killed(child) {
  if (!child || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });
}

function runner(appdata, spec) {
  const items = itemsFor(spec, Date.now());
  const requestId = items[0].id;
  const file = path.join(storeDir(appdata), `${requestId}.json`);
  fs.mkdirSync(cancelDir(appdata), { recursive: true });
  // One real process per item: what "running" means on this node.
  const sleeps = new Map(items.map((i) => [cancelIdOf(i), spawn('sleep', ['86400'], { stdio: 'ignore' })]));
  const save = () => writeAtomic(file, `${JSON.stringify({
    requestId, node: require('os').hostname(), runnerPid: process.pid, spec,
    pids: Object.fromEntries([...sleeps].map(([k, c]) => [k, c.pid])), items: live,
  }, null, 2)}\n`);
  let live = items;
  save();
  process.stdout.write(`started ${cancelIdOf(items[0])} ${requestId} ${process.pid}\n`);

  let finishing = false;
  const finish = async (code) => {
    if (finishing) return;
    finishing = true;
    // The processes are gone (reaped, not zombies) before the record says so: a caller that saw
    // the item leave the list can rely on it having stopped.
    await Promise.all([...sleeps.values()].map((c) => killed(c)));
    fs.rmSync(file, { force: true });
    for (const i of items) fs.rmSync(path.join(cancelDir(appdata), cancelIdOf(i)), { force: true });
    process.exit(code);
  };
  process.on('SIGTERM', () => finish(0));
  process.on('SIGINT', () => finish(0));
  process.on('SIGHUP', () => undefined);
  if (spec.seconds) setTimeout(() => finish(0), spec.seconds * 1000);

  let lastBeat = Date.now();
  let busy = false;
  setInterval(() => {
    if (finishing) return;
    const top = cancelIdOf(items[0]);
    if (fs.existsSync(path.join(cancelDir(appdata), top))) {
      finish(0);
      return;
    }
    const stopping = [];
    for (const item of live.slice(1)) {
      if (!busy && fs.existsSync(path.join(cancelDir(appdata), cancelIdOf(item)))) stopping.push(item);
    }
    if (stopping.length > 0) {
      busy = true;
      Promise.all(stopping.map((item) => killed(sleeps.get(cancelIdOf(item))))).then(() => {
        for (const item of stopping) {
          sleeps.delete(cancelIdOf(item));
          live = live.filter((i) => i !== item);
          fs.rmSync(path.join(cancelDir(appdata), cancelIdOf(item)), { force: true });
        }
        save();
        lastBeat = Date.now();
        busy = false;
      });
      return;
    }
    if (Date.now() - lastBeat >= HEARTBEAT_MS) {
      lastBeat = Date.now();
      const t = new Date();
      try {
        fs.utimesSync(file, t, t);
      } catch {
        finish(1); // the record was removed under us (its node was declared dead): this request is over
      }
    }
  }, POLL_MS);
}

module.exports = { listItems, cancel, cancelAll, cancelIdOf, readRecords, storeDir };

if (require.main === module) {
  const [verb, appdata, specJson] = process.argv.slice(2);
  if (verb !== 'run' || !appdata || !specJson) {
    process.stderr.write('usage: node workflow.js run <appdata> <spec-json>\n');
    process.exit(2);
  }
  runner(appdata, JSON.parse(specJson));
}
