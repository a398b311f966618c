// Failures of the UCD REST API a user can act on. Messages never carry a credential: every message
// built after credentials were read goes through maskSecrets.

export type UcdRestErrorKind =
  | 'tls-declined'
  | 'tls-changed'
  | 'unreachable'
  | 'timeout'
  | 'cancelled'
  | 'no-credentials'
  | 'auth'
  | 'forbidden'
  | 'not-found'
  | 'http'
  | 'protocol';

export class UcdRestError extends Error {
  constructor(
    readonly kind: UcdRestErrorKind,
    /** scheme://host:port of the server, never a path with a query or a user part. */
    readonly origin: string,
    message: string,
    /** What to try next, in one sentence. */
    readonly hint: string,
    /** For tls-changed: the pinned and the presented SHA-256 fingerprints. */
    readonly fingerprints?: { readonly pinned: string; readonly presented: string },
  ) {
    super(message);
    this.name = 'UcdRestError';
  }
}

export function maskSecrets(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const s of secrets) if (s.length >= 3) out = out.split(s).join('***');
  return out;
}
