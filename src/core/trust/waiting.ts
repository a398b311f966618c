// A host key or certificate dismissed when met mid-step is not a refusal for good: the step ends
// "waiting for trust", names what was not accepted, and its next Run asks again.
import { RemoteError } from '../remote/transport';
import { UcdRestError } from '../ucd/rest/errors';

export const WAITING_FOR_TRUST = 'waiting for trust';

export const ASKED_AGAIN = 'The next Run asks again; or accept it beforehand with UCD Upgrade: Review Host Keys and Certificates… (ucd-upgrade trust on the command line).';

/** The step's evidence and hint when `e` is a dismissed trust question; undefined for any other error. */
export function trustWait(e: unknown): { readonly evidence: string[]; readonly hint: string } | undefined {
  const declined = (e instanceof UcdRestError && e.kind === 'tls-declined') || (e instanceof RemoteError && e.kind === 'hostkey-unknown-declined');
  if (!declined) return undefined;
  return { evidence: [`${WAITING_FOR_TRUST}: ${(e as Error).message}`], hint: `${(e as UcdRestError | RemoteError).hint} ${ASKED_AGAIN}` };
}
