// The remote layer's public surface, for the editor glue and the step handlers.
export { RemoteError, type ExecOptions, type ExecResult, type RemoteErrorKind, type Transport } from './transport';
export type { AuthPrompt, HostKeyAnswer, HostKeyPrompt, HostKeyQuestion, KeyboardInteractiveQuestion, RemoteLog, SecretSource } from './interaction';
export { HostKeyChangedError, HostKeyPolicy, type HostKeyPolicyOptions, type HostKeyVerdict } from './hostKeys';
export { SshPool, SshTransport, targetFromNode, type PtyOptions, type PtySession, type SshExecOptions, type SshPoolOptions, type SshTarget, type UploadOptions } from './ssh';
export { ps, psQuote, sh, shLines, shQuote, trustedShell, PowerShellScript, ShellScript } from './quote';
export { passphraseSecretKey } from './sshAuth';
