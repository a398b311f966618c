import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as https from 'node:https';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { loadBalancerPrerequisites, startLoadBalancer } from './loadbalancer';

test('nginx balances HTTPS to the nodes and skips a node that is down', { skip: loadBalancerPrerequisites() }, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ucd-lb-'));
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=node', '-keyout', `${dir}/k`, '-out', `${dir}/c`], { stdio: 'ignore' });
  const up = https.createServer({ key: fs.readFileSync(`${dir}/k`), cert: fs.readFileSync(`${dir}/c`) }, (_q, r) => r.end('<span class="productVersion">v. 7.1.2.0</span>'));
  await new Promise<void>((r) => up.listen(0, '127.0.0.1', r));
  const upPort = (up.address() as { port: number }).port;
  // A second upstream that is down: the balancer must still answer from the live one.
  const lb = await startLoadBalancer({ dir: path.join(dir, 'lb'), listen: '127.0.0.1:18443', upstreams: [`127.0.0.1:${upPort}`, '127.0.0.1:1'] });
  try {
    for (let i = 0; i < 3; i++) {
      const r = await lb.get('/');
      assert.equal(r.status, 200);
      assert.match(r.body, /v\. 7\.1\.2\.0/);
    }
  } finally {
    await lb.stop();
    up.close();
  }
});
