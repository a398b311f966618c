// A real nginx (Debian's) as the cluster's load balancer: HTTPS in front of the nodes' HTTPS
// ports, HTTP(S) only (never JMS), with session affinity as UCD's HA docs require.
import { execFile, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as https from 'node:https';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { skipOutsideCi } from '../support/tier';

const run = promisify(execFile);

export interface TestLoadBalancer {
  readonly url: string;
  /** GET the login page through the balancer; the status code and body. */
  get(pathname?: string): Promise<{ status: number; body: string }>;
  stop(): Promise<void>;
}

/**
 * Waits until the balancer reaches a node again: nginx marks nodes down while they start
 * (fail_timeout 2 s). One deadline, then it says what never answered.
 */
export async function untilBalancerAnswers(lb: Pick<TestLoadBalancer, 'get'>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while ((await lb.get('/')).status !== 200) {
    if (Date.now() > deadline) throw new Error(`the load balancer never reached a node within ${timeoutMs / 1000} s`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

export function loadBalancerPrerequisites(): string | undefined {
  if (!fs.existsSync('/usr/sbin/nginx')) return skipOutsideCi('/usr/sbin/nginx is missing (Debian package nginx-light)');
  if (!fs.existsSync('/usr/bin/openssl')) return skipOutsideCi('/usr/bin/openssl is missing (Debian package openssl)');
  return undefined;
}

/** GET over HTTPS trusting exactly the balancer's own certificate file (pinned, not unchecked). */
export function pinnedGet(url: string, certFile: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = https.get(url, { ca: fs.readFileSync(certFile), checkServerIdentity: () => undefined, timeout: 5_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('timeout')));
  });
}

export async function startLoadBalancer(opts: { dir: string; listen: string; upstreams: readonly string[] }): Promise<TestLoadBalancer> {
  const dir = path.resolve(opts.dir);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  const [host] = opts.listen.split(':');
  // The address in subjectAltName too: clients that verify it (Python's ssl, for Ansible) look only there.
  const san = /^[\d.]+$/.test(host) ? `IP:${host}` : `DNS:${host}`;
  await run('/usr/bin/openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', `/CN=${host}`, '-addext', `subjectAltName=${san}`,
    '-keyout', path.join(dir, 'lb.key'), '-out', path.join(dir, 'lb.crt')]);
  const conf = `
daemon off;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log info;
events { worker_connections 256; }
http {
  access_log ${dir}/access.log;
  client_body_temp_path ${dir}/tmp-body;
  proxy_temp_path ${dir}/tmp-proxy;
  fastcgi_temp_path ${dir}/tmp-fcgi;
  uwsgi_temp_path ${dir}/tmp-uwsgi;
  scgi_temp_path ${dir}/tmp-scgi;
  upstream ucd {
    ip_hash;  # session affinity
${opts.upstreams.map((u) => `    server ${u} max_fails=0;  # never mark a node down: a node just restarted must get traffic at once`).join('\n')}
  }
  server {
    listen ${opts.listen} ssl;
    ssl_certificate ${dir}/lb.crt;
    ssl_certificate_key ${dir}/lb.key;
    location / {
      proxy_pass https://ucd;
      proxy_ssl_verify off;  # the nodes' self-signed certificates; test cluster only
      proxy_next_upstream error timeout http_502 http_503;
      proxy_connect_timeout 2s;
      proxy_set_header Host $host;
    }
  }
}
`;
  fs.writeFileSync(path.join(dir, 'nginx.conf'), conf);
  const log = fs.openSync(path.join(dir, 'nginx.out'), 'a');
  const child = spawn('/usr/sbin/nginx', ['-c', path.join(dir, 'nginx.conf'), '-p', dir], { stdio: ['ignore', log, log], detached: true });
  child.unref();
  const url = `https://${opts.listen}`;
  const get = (pathname = '/') => pinnedGet(`${url}${pathname}`, path.join(dir, 'lb.crt'));
  const end = Date.now() + 10_000;
  for (;;) {
    try {
      await get('/');
      break;
    } catch (e) {
      if (child.exitCode !== null || Date.now() > end) {
        throw new Error(`nginx did not start: ${(e as Error).message}\n${fs.readFileSync(path.join(dir, 'error.log'), 'utf8').slice(-2000)}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return {
    url,
    get,
    stop: async () => {
      try {
        process.kill(child.pid as number, 'SIGQUIT');
      } catch {
        // already gone
      }
      fs.closeSync(log);
    },
  };
}
