// The installer's start gate run by a real /bin/sh: the wrapper reports ready and the installer
// does not start until the client sends "go"; any other line or end of input ends it with the
// installer never started. Paths stay data (the `sh` template), whatever they contain.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { ExecStdin } from '../../src/core/remote/transport';
import { installerCommand } from '../../src/core/ucd/installer/command';
import { GO_LINE, gatedInstallerScript, NOT_STARTED_EXIT, NOT_STARTED_MARKER, READY_MARKER, ReadyWatcher, STOP_LINE } from '../../src/core/ucd/installer/startGate';
import { LocalShell } from '../support/localShell';

const NODE = { name: 'ucd1', installDir: '/opt/ucd/server', os: 'linux' as const };

/** A package folder with a hostile name whose install-server.sh leaves a trace and echoes its input. */
function fakePackage(): { dir: string; trace: string; injected: string } {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'ucd-gate-'));
  const injected = path.join(root, 'injected');
  const dir = path.join(root, `pkg '$(touch ${injected})' ; touch ${injected}`, 'ibm-ucd-install');
  fs.mkdirSync(dir, { recursive: true });
  const trace = path.join(root, 'installer-started');
  fs.writeFileSync(path.join(dir, 'install-server.sh'), `#!/bin/sh\necho started > '${trace}'\necho "INSTALLER RAN $*"\nwhile IFS= read -r l; do echo "read: [$l]"; done\necho "INPUT ENDED"\n`, { mode: 0o755 });
  return { dir, trace, injected };
}

/** Runs the gated silent command; `answer` decides what the client sends once the wrapper is ready. */
async function runGated(pkg: ReturnType<typeof fakePackage>, answer: (ready: { traceExists: boolean }) => string | undefined) {
  const cmd = installerCommand({ node: NODE, packageDir: pkg.dir, fips: true, mode: 'silent' });
  const script = gatedInstallerScript(cmd).text;
  const watcher = new ReadyWatcher();
  let stdin: ExecStdin | undefined;
  let after = '';
  let answered = false;
  let seenAtReady: { traceExists: boolean } | undefined;
  const r = await new LocalShell().exec(script, {
    timeoutMs: 20_000,
    input: (s) => (stdin = s),
    onStdout: (c) => {
      const out = watcher.ready ? c : watcher.feed(c);
      after += out;
      if (watcher.ready && !answered) {
        answered = true;
        seenAtReady = { traceExists: fs.existsSync(pkg.trace) };
        const line = answer(seenAtReady);
        if (line === undefined) stdin?.end();
        else stdin?.end(`${line}\n`);
      }
    },
  });
  return { r, after, seenAtReady, before: watcher.before };
}

test('start gate: nothing of the installer runs until "go"; then it starts with its own input fed and closed', async () => {
  const pkg = fakePackage();
  const { r, after, seenAtReady } = await runGated(pkg, () => GO_LINE);
  assert.deepEqual(seenAtReady, { traceExists: false }, 'the wrapper was ready and the installer had not started');
  assert.equal(r.code, 0, r.stderr);
  assert.ok(fs.existsSync(pkg.trace), 'the installer started after go');
  assert.match(after, /^INSTALLER RAN -fips\n/, 'the installer\'s output follows the ready line');
  // The silent input lines (install dir, then blanks), then end of input: as without the gate.
  assert.match(after, /read: \[\/opt\/ucd\/server\]\nread: \[\]\nread: \[\]\nINPUT ENDED\n$/);
  assert.ok(!fs.existsSync(pkg.injected), 'the package path was data, not code');
});

test('start gate: "stop" or end of input ends the wrapper; the installer never starts', async () => {
  for (const answer of [STOP_LINE, undefined, 'go now', '']) {
    const pkg = fakePackage();
    const { r, after } = await runGated(pkg, () => answer);
    assert.equal(r.code, NOT_STARTED_EXIT, `answer ${JSON.stringify(answer)}: ${r.stderr}`);
    assert.equal(after, `${NOT_STARTED_MARKER}\n`, `answer ${JSON.stringify(answer)}`);
    assert.ok(!fs.existsSync(pkg.trace), `answer ${JSON.stringify(answer)}: the installer never started`);
    assert.ok(!fs.existsSync(pkg.injected));
  }
});

test('ready watcher: a login banner before the ready line is kept apart; a marker split across chunks is found', () => {
  const w = new ReadyWatcher();
  assert.equal(w.feed('Welcome to ucd1\nucd-runbook: installer wr'), '');
  assert.equal(w.ready, false);
  assert.equal(w.feed('apper ready'), '', 'not ready until the line ends');
  assert.equal(w.feed('\r\nfirst installer line\n'), 'first installer line\n');
  assert.equal(w.ready, true);
  assert.equal(w.before, 'Welcome to ucd1\n');
  assert.equal(w.feed('next\n'), 'next\n');
  assert.ok(READY_MARKER.length > 10);
});
