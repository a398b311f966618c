export { acceptTrust, collectTrust, type TrustReviewDeps } from './review';
export { roleOf, sshEndpoints, tlsEndpoints } from './endpoints';
export { describeItem, endpointLabel, judgeCertificate, judgeSshKey, summarize, type TrustItem, type TrustStatus } from './judge';
