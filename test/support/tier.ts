// A whole tier (the cluster, the sshd, the end-to-end VS Code) that cannot run on this machine
// skips itself with the reason. In CI (CI=true) that is a failure instead: a green CI that never
// started a node proves nothing. Throwing at the test file's top level makes node:test report
// that file as failed, with this message.
export function skipOutsideCi(reason: string | undefined): string | undefined {
  if (reason && process.env.CI === 'true') {
    throw new Error(`This test tier cannot run here: ${reason}. In CI (CI=true) that fails the run instead of skipping; run npm test as root on Debian (it installs what it needs).`);
  }
  return reason;
}
