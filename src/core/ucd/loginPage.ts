// The one unauthenticated thing a UCD server shows: its login page, with `v. <version>` in the
// element of class productVersion (ucd-facts.md). Read through the same pinned TLS as the REST
// calls, so a node or the load balancer is trusted the way the user decided, and no credential
// is ever involved.
import { ClientRequest, type IncomingMessage } from 'node:http';
import { UcdRestError } from './rest/errors';
import { connectTrusted, type TlsTrust } from './rest/tls';

export type LoginPage =
  | { readonly ok: true; readonly status: number; readonly version?: string }
  | { readonly ok: false; readonly error: string; readonly hint: string; readonly kind: UcdRestError['kind'] | 'other' };

/** `<span class="productVersion">v. 7.1.2.0</span>` → 7.1.2.0; tolerant of attribute order and spacing. */
export function parseLoginVersion(html: string): string | undefined {
  return LOGIN_VERSION.exec(html)?.[1];
}

// Case-insensitive; also valid as a Python `re` pattern, so the Ansible export waits on the same text.
const LOGIN_VERSION = /class\s*=\s*["'][^"']*\bproductVersion\b[^"']*["'][^>]*>\s*v\.?\s*([0-9]+(?:\.[0-9]+){2,4})/i;
export const LOGIN_VERSION_PATTERN = LOGIN_VERSION.source;

export async function fetchLoginPage(url: string, trust: TlsTrust, opts: { signal?: AbortSignal; timeoutMs?: number } = {}): Promise<LoginPage> {
  const u = new URL(url);
  const host = u.hostname.replace(/^\[(.*)\]$/, '$1');
  const port = u.port ? Number(u.port) : 443;
  const target = { host, port, origin: `https://${u.host}` };
  const timeoutMs = opts.timeoutMs ?? 10_000;
  try {
    const socket = await connectTrusted(target, trust, opts.signal, timeoutMs);
    const body = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      // Over the verified socket itself; see send() in rest/client.ts for why not https.request.
      const req = new ClientRequest({ createConnection: () => socket, host, port, method: 'GET', path: u.pathname || '/', headers: { Host: u.host, Connection: 'close' } });
      const timer = setTimeout(() => req.destroy(new Error(`no answer within ${Math.round(timeoutMs / 1000)} s`)), timeoutMs);
      req.on('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
      req.on('response', (res: IncomingMessage) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => {
          if (text.length < 1_000_000) text += c;
        });
        res.on('end', () => {
          clearTimeout(timer);
          socket.destroy();
          resolve({ status: res.statusCode ?? 0, body: text });
        });
      });
      req.end();
    });
    const version = parseLoginVersion(body.body);
    return { ok: true, status: body.status, ...(version ? { version } : {}) };
  } catch (e) {
    if (e instanceof UcdRestError) return { ok: false, error: e.message, hint: e.hint, kind: e.kind };
    return { ok: false, error: `${target.origin}: ${(e as Error).message}`, hint: 'Check the server log and try again.', kind: 'other' };
  }
}
