// The UCD REST API as the runbook uses it; see client.ts for the calls and tls.ts for the trust model.
export { blockingProcesses, describeProcess, parseActivityItem, parseCurrentActivity, type ActivityParse, type ProcessKind, type RunningProcess } from './activity';
export { ACTIVITY_PATH, cancelPath, UcdRestClient, type CredentialSource, type UcdCredentials, type UcdRestOptions, type WaitOptions } from './client';
export { maskSecrets, UcdRestError, type UcdRestErrorKind } from './errors';
export { connectTrusted, MemoryPinStore, normalizeFingerprint, pinKey, type CertDecision, type CertPrompt, type TlsPinStore, type UnknownCertificate } from './tls';
export { maintenanceState, MAINTENANCE_KEY, parseSystemConfiguration, SYSTEM_CONFIG_READ_PATH, SYSTEM_CONFIG_WRITE_PATH, withMaintenance, type MaintenanceState, type SystemConfiguration } from './systemConfig';
