// The installer driver's public surface; see each module for the why.
export { InstallerDriver, DEFAULT_QUIET_MS, systemClock } from './driver';
export type { DriverState, InstallerClock, InstallerDriverOptions, InstallerEvent, RefusalKind } from './driver';
export { PROMPTS, matchPrompt } from './prompts';
export { gatedInstallerScript, ReadyWatcher, READY_MARKER, NOT_STARTED_MARKER, NOT_STARTED_EXIT, GO_LINE, STOP_LINE } from './startGate';
export type { DeclineKind, KnownPrompt, KnownPromptId, NoticeDecision, PromptContext, PromptDecision } from './prompts';
export { REFUSALS, INFOS } from './refusals';
export type { ProductRefusalKind } from './refusals';
export { silentInstallProperties, setProperties, readProperties, escapePropertyValue } from './properties';
export { installerCommand, installPropertiesPath, silentInputLines, InstallerInputError } from './command';
export type { InstallerCommand, InstallerCommandInput } from './command';
export { summarizeEvents, summarizeTranscript } from './summary';
export type { InstallerOutcome } from './summary';
export * from './texts';
export { LineInput, asksForSecret } from './lineInput';
export type { LineFeed } from './lineInput';
