// Turns what ssh2 and the socket layer throw into RemoteErrors a user can act on. Messages are
// built only from the node, host, port, user and the error code: never from a secret.
import { libraryError } from './errorWords';
import { RemoteError } from './transport';

export interface ConnectContext {
  readonly node: string;
  readonly host: string;
  readonly port: number;
  readonly user: string;
  /** "via jump1, jump2" when the connection hops; empty for direct. */
  readonly via: string;
}

const UNREACHABLE = new Set(['EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTDOWN', 'ENONET']);

export function connectTimeoutError(ctx: ConnectContext, ms: number, phase: string): RemoteError {
  return new RemoteError(
    'timeout',
    ctx.node,
    `Connecting to node ${ctx.node} (${ctx.host}:${ctx.port}${ctx.via}) timed out after ${Math.round(ms / 1000)} s while ${phase}.`,
    `Check that ${ctx.host} is up and that a firewall lets port ${ctx.port} through (try: ssh -p ${ctx.port} ${ctx.user}@${ctx.host} true).`,
  );
}

export function authFailedError(ctx: ConnectContext, tried: readonly string[]): RemoteError {
  const list = tried.length > 0 ? tried.join(', ') : 'nothing (no agent, no key file, no prompt available)';
  return new RemoteError(
    'auth',
    ctx.node,
    `Authentication as ${ctx.user} on node ${ctx.node} (${ctx.host}:${ctx.port}) failed; tried: ${list}.`,
    `Check the user name, that your public key is in ~${ctx.user}/.ssh/authorized_keys on the node (or load it into ssh-agent), or set identityFile for this node.`,
  );
}

/** Maps an error from ssh2 or the socket during connect. */
export function connectError(err: unknown, ctx: ConnectContext): RemoteError {
  if (err instanceof RemoteError) return err;
  const e = err as NodeJS.ErrnoException & { level?: string };
  const code = e?.code;
  const where = `${ctx.host}:${ctx.port}${ctx.via}`;
  if (code === 'ECONNREFUSED') {
    return new RemoteError(
      'refused',
      ctx.node,
      `Node ${ctx.node} refused the SSH connection on ${where}: nothing listens on port ${ctx.port}.`,
      `Check that sshd runs on ${ctx.host} (systemctl status ssh) and that sshPort in the cluster file is right.`,
    );
  }
  if (code && UNREACHABLE.has(code)) {
    return new RemoteError(
      'unreachable',
      ctx.node,
      code === 'ENOTFOUND' || code === 'EAI_AGAIN'
        ? `Node ${ctx.node}: the host name ${ctx.host} does not resolve (${code}).`
        : `Node ${ctx.node} (${where}) is unreachable (${code}).`,
      code === 'ENOTFOUND' || code === 'EAI_AGAIN'
        ? `Check the host name in the cluster file or ~/.ssh/config, and your DNS or /etc/hosts.`
        : `Check the network path to ${ctx.host} (VPN, routing) and that the machine is up.`,
    );
  }
  if (code === 'ETIMEDOUT') return connectTimeoutError(ctx, 0, 'opening the TCP connection');
  if (code === 'ECONNRESET' || code === 'EPIPE') {
    return new RemoteError(
      'unreachable',
      ctx.node,
      `Node ${ctx.node} (${where}) closed the connection during the SSH handshake (${code}).`,
      `The server may limit connections (MaxStartups) or block this address; check its sshd log (journalctl -u ssh).`,
    );
  }
  const plain = libraryError(err, ctx.node);
  if (plain) return plain;
  const message = e instanceof Error ? e.message : String(err);
  return new RemoteError(
    'protocol',
    ctx.node,
    `SSH connection to node ${ctx.node} (${where}) failed: ${message}.`,
    `Try "ssh -v -p ${ctx.port} ${ctx.user}@${ctx.host}" from this machine to see where it stops.`,
  );
}

export function connectionLostError(node: string, detail: string): RemoteError {
  return new RemoteError(
    'unreachable',
    node,
    `The SSH connection to node ${node} was lost (${detail}).`,
    'Check the network and the node, then run the step again; a new connection is made automatically.',
  );
}
