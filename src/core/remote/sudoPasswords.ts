// Where the sudo password of a node comes from. Asked once per node and SSH user (parallel nodes
// share one question per key), kept by name in the editor's secret storage, or read from the
// environment variable the cluster file names (the command line). Refused once: forgotten, and
// the next Run asks again; nothing here ever tries a password twice.
import type { ClusterNode } from '../cluster/types';
import type { SecretSource } from './interaction';
import { sudoPasswordKey, type SudoPasswords } from './privilege';

/** From a SecretSource (wrap it with maskingSecretSource so the journal masks what it hands out). */
export function sudoPasswordsFrom(source: SecretSource): SudoPasswords {
  const pending = new Map<string, Promise<string | undefined>>();
  // One question at a time: the editor's input box closes an open one when another opens.
  let queue: Promise<unknown> = Promise.resolve();
  const askInTurn = (prompt: string): Promise<string | undefined> => {
    const p = queue.then(() => source.ask(prompt));
    queue = p.catch(() => undefined);
    return p;
  };
  return {
    get: (node, sshUser) => {
      const key = sudoPasswordKey(node, sshUser);
      let p = pending.get(key);
      if (!p) {
        p = (async () => {
          const stored = await source.get(key);
          if (stored) return stored;
          const asked = await askInTurn(`sudo password of ${sshUser} on node ${node.name} (${node.host}), asked once and kept in the editor's secret storage`);
          if (asked) await source.store(key, asked);
          return asked || undefined;
        })();
        pending.set(key, p);
        // A dismissed question is asked again on the next Run, not remembered as "none".
        void p.then((v) => v === undefined && pending.delete(key), () => pending.delete(key));
      }
      return p;
    },
    rejected: async (node, sshUser) => {
      const key = sudoPasswordKey(node, sshUser);
      pending.delete(key);
      await source.delete(key);
    },
  };
}

/** The command line: each node's password from the variable its privilege.passwordEnv names, or one from a descriptor. */
export function sudoPasswordsFromEnv(env: NodeJS.ProcessEnv, onSecret: (value: string) => void, fromFd?: () => string): SudoPasswords {
  let fd: string | undefined;
  return {
    get: async (node: ClusterNode) => {
      const p = node.rights?.privilege;
      const name = p?.method === 'sudo' ? p.passwordEnv : undefined;
      const v = name !== undefined ? env[name] : fromFd ? (fd ??= fromFd()) : undefined;
      if (v) onSecret(v);
      return v || undefined;
    },
    rejected: async () => undefined,
  };
}
