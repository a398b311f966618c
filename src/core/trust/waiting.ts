// A host key or certificate dismissed when met mid-step is not a refusal for good: the step ends
// "waiting for trust", names what was not accepted, and its next Run asks again.
import { RemoteError } from '../remote/transport';
import { UcdRestError } from '../ucd/rest/errors';
import { ASKED_AGAIN, WAITING_FOR_TRUST } from './words';

export { ASKED_AGAIN, WAITING_FOR_TRUST };

/** The step's evidence and hint when `e` is a dismissed trust question; undefined for any other error. */
export function trustWait(e: unknown): { readonly evidence: string[]; readonly hint: string } | undefined {
  // The transport's own words already say so (hostKeys.ts), as every step that shows them needs.
  if (e instanceof RemoteError && e.kind === 'hostkey-unknown-declined') return { evidence: [e.message], hint: e.hint };
  if (!(e instanceof UcdRestError && e.kind === 'tls-declined')) return undefined;
  return { evidence: [`${WAITING_FOR_TRUST}: ${e.message}`], hint: `${e.hint} ${ASKED_AGAIN}` };
}
