// A command that ends at once: its exit status can arrive in the same read as the server's reply
// to the exec, and ssh2 emits 'exit' while it parses that read. Seen under load on the real
// cluster as "backup command exited undefined". An in-process SSH server sends the reply, the
// status and the close in one write, so the client always parses them together.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import type { AddressInfo, Socket } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { Server } from 'ssh2';
import { HostKeyPolicy } from '../../src/core/remote/hostKeys';
import { SshPool } from '../../src/core/remote/ssh';

let server: Server;
let port = 0;
let dir = '';
let pool: SshPool;

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ucd-ssh-exit-'));
  // OpenSSH's ssh-keygen, not ssh2's generateKeyPairSync: about one ed25519 pair in 256 from the
  // latter cannot be parsed back (mscdex/ssh2#1513), which made this test fail now and then.
  const keygen = (name: string) => {
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', name, '-f', path.join(dir, name)]);
    return { private: fs.readFileSync(path.join(dir, name), 'utf8'), public: fs.readFileSync(path.join(dir, `${name}.pub`), 'utf8').trim().split(' ').slice(0, 2).join(' ') };
  };
  const hostKey = keygen('host');
  keygen('id');
  server = new Server({ hostKeys: [hostKey.private] }, (client) => {
    client.on('authentication', (ctx) => ctx.accept());
    client.on('session', (accept) => {
      accept().on('exec', (acceptExec, _reject, info) => {
        // The reply to the exec, the exit status, EOF and close in one write: one read on the client.
        const sock = (client as unknown as { _sock: Socket })._sock;
        sock.cork();
        const stream = acceptExec();
        stream.exit(Number(/exit-with (\d+)/.exec(info.command)?.[1] ?? 0));
        stream.end();
        setImmediate(() => sock.uncork());
      });
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as AddressInfo).port;
  fs.writeFileSync(path.join(dir, 'known_hosts'), `[127.0.0.1]:${port} ${hostKey.public}\n`);
  pool = new SshPool({
    hostKeys: new HostKeyPolicy({ knownHostsFiles: [path.join(dir, 'known_hosts')], storeFile: path.join(dir, 'store'), prompt: async () => 'reject' as never }),
    sshConfigFile: null,
    agentSocket: null,
    defaultIdentityFiles: [],
  });
});

after(async () => {
  await pool?.closeAll();
  await new Promise<void>((r) => server.close(() => r()));
  fs.rmSync(dir, { recursive: true, force: true });
});

test('the exit status of a command that ends at once is kept (not "exited undefined")', async () => {
  const t = pool.transport({ name: 'fast', host: '127.0.0.1', port, user: 'u', identityFile: path.join(dir, 'id'), shell: 'posix' });
  for (const code of [0, 3, 0, 42]) {
    const r = await t.exec(`exit-with ${code}`);
    assert.equal(r.code, code, `exit-with ${code} came back as ${r.code}`);
  }
});
