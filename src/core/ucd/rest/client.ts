// The few UCD REST calls the runbook needs: what is running, cancel one, wait until none.
// Calls (see ucd-facts.md, "REST API", and activity.ts for where the shapes were read):
//   GET /rest/workflow/currentActivity?orderField=startDate&sortType=desc
//   PUT /rest/workflow/{traceId}/cancel
//   GET /rest/server (servers.ts), GET /cli/systemConfiguration + PUT /rest/system/configuration
//   (systemConfig.ts; the settings map is held in memory only: it may carry settings nobody should log)
// Credentials stay in memory: they are read from the injected source after the server's TLS
// identity is accepted, sent only in the Authorization header, and masked out of every message.
// A credential is bound to the origins it was given for; sending it anywhere else is asked first.
import { ClientRequest, type IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { blockingProcesses, describeProcess, parseCurrentActivity, type RunningProcess } from './activity';
import { maskSecrets, UcdRestError } from './errors';
import { parseServerList, SERVERS_PATH, type ListedServer } from './servers';
import { parseSystemConfiguration, SYSTEM_CONFIG_READ_PATH, SYSTEM_CONFIG_WRITE_PATH, withMaintenance, type SystemConfiguration } from './systemConfig';
import { connectTrusted, type CertPrompt, type TlsPinStore, type TlsTarget, type TlsTrust } from './tls';

export type UcdCredentials =
  | { readonly kind: 'basic'; readonly user: string; readonly password: string }
  /** UCD's convention for tokens: user "PasswordIsAuthToken", the token as password. */
  | { readonly kind: 'token'; readonly token: string };

/** A credential and the origins (see credentialOrigin) it may be sent to. */
export interface BoundCredentials {
  readonly credentials: UcdCredentials;
  /** Where the engineer gave or allowed it; empty for one stored before origins were kept. */
  readonly origins: readonly string[];
}

export interface CredentialOriginQuestion {
  /** The credential's name in secret storage, when it has one. */
  readonly credentialName?: string;
  /** Where ucd.url would send it now. */
  readonly origin: string;
  /** Where it was given or allowed (empty: not known). */
  readonly boundTo: readonly string[];
}

/** 'once': this client only; 'always': bind the credential to this origin too; 'cancel': send nothing. */
export type CredentialOriginAnswer = 'once' | 'always' | 'cancel';

/** Where UCD credentials come from: the editor's secret storage, or memory for one origin. */
export interface CredentialSource {
  /** The stored credential; when none is, asks for one given for `origin` and binds it there. undefined: declined. */
  get(origin: string): Promise<BoundCredentials | undefined>;
  /** Remember that the credential may go to `origin` as well (the engineer said so). */
  allow(origin: string): Promise<void>;
  /** Asks the engineer before the credential goes to an origin it is not bound to; dismissed is 'cancel'. */
  confirmOrigin(question: CredentialOriginQuestion): Promise<CredentialOriginAnswer>;
}

/** `https://host:port` with the port always written, the host as the URL parser normalises it. */
export function credentialOrigin(url: string | URL): string {
  const u = typeof url === 'string' ? new URL(url) : url;
  const port = u.port || (u.protocol === 'http:' ? '80' : '443');
  return `${u.protocol}//${u.hostname}:${port}`;
}

/** Credentials held for one URL's origin only (a headless runner, tests): any other origin is refused. */
export function credentialsFor(url: string, credentials: UcdCredentials): CredentialSource {
  const origins = [credentialOrigin(url)];
  return {
    get: async () => ({ credentials, origins }),
    allow: async () => undefined,
    confirmOrigin: async () => 'cancel',
  };
}

export interface UcdRestOptions {
  /** The UCD web URL (https://host[:port][/context]); the load balancer's URL is fine. */
  readonly baseUrl: string;
  readonly credentials: CredentialSource;
  readonly pins: TlsPinStore;
  readonly prompt: CertPrompt;
  /** A certificate a person accepted: for the run's journal (TlsTrust.onAccepted). */
  readonly onAccepted?: TlsTrust['onAccepted'];
  /** Extra CA (PEM) to trust, for servers with a company CA. */
  readonly ca?: string;
  /** Per request, connection included. Default 30 s. */
  readonly requestTimeoutMs?: number;
  /** Name of the credential in the editor's secret storage, for hints only. */
  readonly credentialName?: string;
}

export interface WaitOptions {
  readonly signal?: AbortSignal;
  /** Between polls. Default 5 s. */
  readonly intervalMs?: number;
  /** Give up after this long. Default 30 min. */
  readonly timeoutMs?: number;
  /** Called with what still blocks after each poll. */
  readonly onPoll?: (blocking: readonly RunningProcess[]) => void;
}

interface HttpResult {
  readonly status: number;
  readonly body: string;
  readonly location?: string;
}

const MAX_BODY = 8 * 1024 * 1024;
export const ACTIVITY_PATH = '/rest/workflow/currentActivity?orderField=startDate&sortType=desc';

export function cancelPath(traceId: string): string {
  return `/rest/workflow/${encodeURIComponent(traceId)}/cancel`;
}

export class UcdRestClient {
  private readonly target: TlsTarget;
  private readonly basePath: string;
  private readonly sessionPins = new Map<string, string>();
  private readonly credentialOrigin: string;
  private cachedCredentials: UcdCredentials | undefined;
  /** The engineer allowed the credential here for this client ('once'). */
  private allowedOnce = false;

  constructor(private readonly opts: UcdRestOptions) {
    let url: URL;
    try {
      url = new URL(opts.baseUrl);
    } catch {
      throw new UcdRestError('protocol', opts.baseUrl, `The UCD URL "${opts.baseUrl}" is not a URL.`, 'Fix ucd.url in the cluster file (e.g. https://ucd.example.com:8443).');
    }
    if (url.protocol !== 'https:') {
      throw new UcdRestError('protocol', url.origin, `The UCD URL ${url.origin} is not https; credentials are never sent in clear text.`, 'Use the https URL of the server or load balancer in ucd.url.');
    }
    const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
    const port = url.port ? Number(url.port) : 443;
    this.target = { host, port, origin: `https://${url.host}` };
    this.credentialOrigin = credentialOrigin(url);
    this.basePath = url.pathname.replace(/\/+$/, '');
  }

  get origin(): string {
    return this.target.origin;
  }

  /** Everything the Dashboard lists as running, newest first. */
  async currentActivity(signal?: AbortSignal): Promise<RunningProcess[]> {
    const res = await this.request('GET', ACTIVITY_PATH, signal);
    const parsed = parseCurrentActivity(res.body);
    if (!parsed.ok) {
      throw new UcdRestError('protocol', this.origin, `${this.origin}${this.basePath}/rest/workflow/currentActivity answered, but ${parsed.problem}.`, 'This server version may shape its UI API differently; check the Dashboard by hand and confirm the step manually with a note.');
    }
    return [...parsed.items];
  }

  /** The application and generic processes the doc says must not run during the upgrade. */
  async blocking(signal?: AbortSignal): Promise<RunningProcess[]> {
    return blockingProcesses(await this.currentActivity(signal));
  }

  /** The servers UCD lists for its cluster (GET /rest/server). */
  async servers(signal?: AbortSignal): Promise<ListedServer[]> {
    const res = await this.request('GET', SERVERS_PATH, signal);
    const parsed = parseServerList(res.body);
    if (!parsed.ok) {
      throw new UcdRestError('protocol', this.origin, `${this.origin}${this.basePath}${SERVERS_PATH} answered, but ${parsed.problem}.`, 'This server version may shape its UI API differently; compare the servers under Settings > System > Server in the UCD web UI with the cluster file by hand.');
    }
    return [...parsed.servers];
  }

  /** The system settings (GET /cli/systemConfiguration), as sent. */
  async systemConfiguration(signal?: AbortSignal): Promise<SystemConfiguration> {
    const res = await this.request('GET', SYSTEM_CONFIG_READ_PATH, signal);
    const parsed = parseSystemConfiguration(res.body);
    if (!parsed.ok) {
      throw new UcdRestError('protocol', this.origin, `${this.origin}${this.basePath}${SYSTEM_CONFIG_READ_PATH} answered, but ${parsed.problem}.`, 'Check Settings > System Settings in the UCD web UI by hand.');
    }
    return parsed.config;
  }

  /**
   * Sets maintenance mode: the map just read, with the flag changed, written whole (the server
   * refuses a partial map). Returns the map that was written.
   */
  async setMaintenanceMode(current: SystemConfiguration, on: boolean, signal?: AbortSignal): Promise<SystemConfiguration> {
    const next = withMaintenance(current, on);
    await this.request('PUT', SYSTEM_CONFIG_WRITE_PATH, signal, JSON.stringify(next));
    return next;
  }

  /** The Dashboard's Cancel button for one process. */
  async cancel(process: RunningProcess | string, signal?: AbortSignal): Promise<void> {
    const id = typeof process === 'string' ? process : process.cancelId;
    if (!id) {
      const what = typeof process === 'string' ? process : describeProcess(process);
      throw new UcdRestError('protocol', this.origin, `The server listed "${what}" without a trace id, so it cannot be cancelled from here.`, 'Cancel it on the Dashboard, then check again.');
    }
    await this.request('PUT', cancelPath(id), signal);
  }

  /** Polls until no application or generic process runs; throws with what remains on timeout. */
  async waitUntilNone(options: WaitOptions = {}): Promise<void> {
    const interval = options.intervalMs ?? 5_000;
    const deadline = Date.now() + (options.timeoutMs ?? 30 * 60_000);
    for (;;) {
      const left = await this.blocking(options.signal);
      options.onPoll?.(left);
      if (left.length === 0) return;
      if (Date.now() + interval > deadline) {
        throw new UcdRestError('timeout', this.origin, `Still running after waiting: ${left.map(describeProcess).join('; ')}.`, 'Wait longer, or cancel these processes (after agreeing with their owners).');
      }
      await sleep(interval, options.signal, this.origin);
    }
  }

  private async credentials(): Promise<UcdCredentials> {
    if (this.cachedCredentials) return this.cachedCredentials;
    const origin = this.credentialOrigin;
    const bound = await this.opts.credentials.get(origin);
    if (!bound) {
      throw new UcdRestError('no-credentials', this.origin, `No UCD credentials were given for ${this.origin}; nothing was sent.`, 'Run the step again and enter the user and password, or a token.');
    }
    if (!bound.origins.includes(origin) && !this.allowedOnce) {
      // ucd.url is text anyone may have edited: the credential goes where it was given, or where the engineer says.
      const name = this.opts.credentialName ? ` "${this.opts.credentialName}"` : '';
      const answer = await this.opts.credentials.confirmOrigin({ ...(this.opts.credentialName ? { credentialName: this.opts.credentialName } : {}), origin, boundTo: bound.origins });
      if (answer === 'cancel') {
        const given = bound.origins.length ? `was given for ${bound.origins.join(', ')}` : 'was stored without the server it belongs to';
        throw new UcdRestError(
          'no-credentials',
          this.origin,
          `The UCD credential${name} ${given}, not for ${origin} (ucd.url), so it was not sent and no request was made.`,
          `If ${origin} is your UCD server, run the step again and allow the credential for it; otherwise correct ucd.url in the cluster file.`,
        );
      }
      if (answer === 'always') await this.opts.credentials.allow(origin);
      this.allowedOnce = true;
    }
    this.cachedCredentials = bound.credentials;
    return bound.credentials;
  }

  private async request(method: 'GET' | 'PUT', path: string, signal: AbortSignal | undefined, body?: string): Promise<HttpResult> {
    const timeoutMs = this.opts.requestTimeoutMs ?? 30_000;
    const trust = { pins: this.opts.pins, prompt: this.opts.prompt, sessionPins: this.sessionPins, ...(this.opts.ca ? { ca: this.opts.ca } : {}), ...(this.opts.onAccepted ? { onAccepted: this.opts.onAccepted } : {}) };
    let socket = await connectTrusted(this.target, trust, signal, timeoutMs);
    let creds: UcdCredentials;
    if (this.cachedCredentials) creds = this.cachedCredentials;
    else {
      // Ask for credentials only once the server is accepted, and not while holding a connection
      // open (a person may take a while); the second connection is judged the same way, silently.
      socket.destroy();
      creds = await this.credentials();
      socket = await connectTrusted(this.target, trust, signal, timeoutMs);
    }
    const [user, pass] = creds.kind === 'basic' ? [creds.user, creds.password] : ['PasswordIsAuthToken', creds.token];
    const encoded = Buffer.from(`${user}:${pass}`, 'utf8').toString('base64');
    const secrets = [pass, encoded, `Basic ${encoded}`];
    const fullPath = this.basePath + path;
    const what = `${method} ${this.origin}${fullPath.replace(/\?.*$/, '')}`;
    let res: HttpResult;
    try {
      res = await send(socket, this.target, method, fullPath, encoded, signal, timeoutMs, body);
    } catch (e) {
      if (e instanceof UcdRestError) throw e;
      const msg = maskSecrets(`${what} failed: ${(e as Error).message}`, secrets);
      throw new UcdRestError((e as Error).name === 'AbortError' ? 'cancelled' : 'unreachable', this.origin, msg, 'Check that the server is up, then try again.');
    }
    if (res.status >= 200 && res.status < 300) return res;
    const name = this.opts.credentialName ? ` "${this.opts.credentialName}"` : '';
    if (res.status === 401) {
      this.cachedCredentials = undefined;
      throw new UcdRestError('auth', this.origin, `${what}: the server refused the credentials (HTTP 401).`, `Check the user and password (or token) stored as credential${name}, replace them, and try again.`);
    }
    if (res.status === 403) {
      throw new UcdRestError('forbidden', this.origin, `${what}: signed in, but not allowed (HTTP 403).`, 'Use a UCD user allowed to view and cancel processes (e.g. an administrator).');
    }
    if (res.status >= 300 && res.status < 400) {
      // Not followed: the credentials go to this origin only.
      throw new UcdRestError('protocol', this.origin, maskSecrets(`${what}: redirected (HTTP ${res.status}) to ${res.location ?? 'nowhere'}; not followed.`, secrets), 'Set ucd.url to the server\'s final https address (including any context path).');
    }
    const snippet = maskSecrets(res.body.replace(/\s+/g, ' ').trim().slice(0, 200), secrets);
    if (res.status === 404) {
      throw new UcdRestError('not-found', this.origin, `${what}: not found (HTTP 404)${snippet ? `: ${snippet}` : ''}.`, 'This UCD version may not have this UI API call, or the process already ended; check the Dashboard by hand.');
    }
    throw new UcdRestError('http', this.origin, `${what}: HTTP ${res.status}${snippet ? `: ${snippet}` : ''}.`, 'Look at the server log (var/log/deployserver.out) and try again.');
  }
}

function send(socket: TLSSocket, target: TlsTarget, method: string, path: string, basic: string, signal: AbortSignal | undefined, timeoutMs: number, json?: string): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const body = method === 'PUT' ? (json ?? '') : undefined;
    // The already-verified socket: the request is written only now, after the trust decision.
    // Not https.request: VS Code's extension host patches http(s).request to add its proxy agent,
    // which ignores createConnection and opens a second, CA-verified connection (so a pinned
    // self-signed UCD server fails). A ClientRequest with createConnection uses no agent.
    const req = new ClientRequest({
      createConnection: () => socket,
      host: target.host,
      port: target.port,
      method,
      path,
      ...(signal ? { signal } : {}),
      headers: {
        Host: target.port === 443 ? target.host : `${target.host.includes(':') ? `[${target.host}]` : target.host}:${target.port}`,
        Authorization: `Basic ${basic}`,
        Accept: 'application/json',
        Connection: 'close',
        ...(body !== undefined ? { 'Content-Type': 'application/json', 'Content-Length': String(Buffer.byteLength(body, 'utf8')) } : {}),
      },
    });
    const timer = setTimeout(() => req.destroy(new UcdRestError('timeout', target.origin, `${method} ${target.origin}${path.replace(/\?.*$/, '')}: no answer within ${Math.round(timeoutMs / 1000)} s.`, 'Check the server\'s load and log, then try again.')), timeoutMs);
    req.on('error', (e) => {
      clearTimeout(timer);
      socket.destroy();
      reject(e);
    });
    req.on('response', (res: IncomingMessage) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size > MAX_BODY) req.destroy(new Error(`answer larger than ${MAX_BODY} bytes`));
        else chunks.push(c);
      });
      res.on('end', () => {
        clearTimeout(timer);
        socket.destroy();
        const location = typeof res.headers.location === 'string' ? res.headers.location : undefined;
        resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), ...(location ? { location } : {}) });
      });
      res.on('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
    });
    req.end(body);
  });
}

function sleep(ms: number, signal: AbortSignal | undefined, origin: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const cancelled = () => new UcdRestError('cancelled', origin, 'Waiting for running processes was cancelled.', 'Run Check again when ready.');
    if (signal?.aborted) return reject(cancelled());
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(cancelled());
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
