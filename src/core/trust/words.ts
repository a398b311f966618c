// The words of a trust question dismissed mid-step, shared by the SSH transport (a host key) and
// the REST client and login page (a certificate), so every step says the same thing whichever met it.
export const WAITING_FOR_TRUST = 'waiting for trust';

export const ASKED_AGAIN = 'The next Run asks again; or accept it beforehand with UCD Upgrade: Review Host Keys and Certificates… (ucd-upgrade trust on the command line).';
