// What sudo said when it did not run the command, read from its own words (Debian's sudo 1.9
// prints these; test/unit/privilege-sudo.test.ts holds the captured texts). Each kind has its
// own message naming the node and the command, and the next thing to do.

export type SudoFailureKind =
  /** sudo asked again after the password we gave: wrong. Never given twice (lockout). */
  | 'wrong-password'
  /** A password is needed and none could be given (the file says NOPASSWD, or none was entered). */
  | 'password-required'
  /** `Defaults requiretty`, or sudo wanted a terminal to read the password. */
  | 'needs-tty'
  /** No sudo on the node's PATH. */
  | 'missing'
  /** The sudoers rules do not allow this command as this user. */
  | 'forbidden'
  /** The SSH user may not use sudo at all. */
  | 'not-in-sudoers'
  /** The user sudo should switch to does not exist on the node. */
  | 'unknown-user'
  | 'other';

export interface SudoOutcome {
  /** The stderr sudo printed before the command started (our markers removed). */
  readonly stderr: string;
  readonly code: number | null;
  /** How many times sudo showed our prompt marker. */
  readonly prompts: number;
}

export function classifySudoFailure(o: SudoOutcome): SudoFailureKind {
  const t = o.stderr;
  if (o.prompts > 1 || /Sorry, try again\.|incorrect password attempt/.test(t)) return 'wrong-password';
  if (o.code === 127 || /sudo: (?:command )?not found|sudo: No such file or directory/.test(t)) return 'missing';
  if (/you must have a tty to run sudo|a terminal is required to read the password/.test(t)) return 'needs-tty';
  if (/is not in the sudoers file|is not allowed to run sudo on/.test(t)) return 'not-in-sudoers';
  if (/is not allowed to execute/.test(t)) return 'forbidden';
  if (/unknown user/i.test(t)) return 'unknown-user';
  if (/a password is required|no password was provided/.test(t)) return 'password-required';
  return 'other';
}

export interface SudoFailureContext {
  readonly node: string;
  /** The sudo target user. */
  readonly user: string;
  /** The SSH user that ran sudo, when known. */
  readonly sshUser?: string;
  /** What was to run, in words or as the command (never a secret: the password is never part of it). */
  readonly what: string;
}

export function sudoFailureText(kind: SudoFailureKind, c: SudoFailureContext, stderr: string): { readonly message: string; readonly hint: string } {
  const who = c.sshUser ?? 'the SSH user';
  const said = stderr.trim() ? ` sudo said: ${stderr.trim().split('\n').slice(-2).join(' ')}` : '';
  switch (kind) {
    case 'wrong-password':
      return {
        message: `sudo on node ${c.node} refused the password of ${who} (to run ${c.what} as ${c.user}); it was tried once and not again, so the account is not locked out.${said}`,
        hint: `Check ${who}'s password on ${c.node} (the stored one was forgotten), then run the step again: it asks for the password once more.`,
      };
    case 'password-required':
      return {
        message: `sudo on node ${c.node} wants a password to run ${c.what} as ${c.user}, and none was given.${said}`,
        hint: 'If the sudoers rule asks for a password, set "privilege": { "password": true } in the cluster file and enter it when asked; otherwise add NOPASSWD to the rule.',
      };
    case 'needs-tty':
      return {
        message: `sudo on node ${c.node} insists on a terminal (Defaults requiretty) to run ${c.what} as ${c.user}.${said}`,
        hint: `Ask the node's administrator to drop requiretty for ${who} (Defaults:${who} !requiretty in a sudoers drop-in); the runbook feeds the password on standard input, never on a terminal.`,
      };
    case 'missing':
      return {
        message: `sudo is not installed (or not on the PATH) on node ${c.node}, so ${c.what} cannot run as ${c.user}.${said}`,
        hint: `Install sudo on ${c.node} (apt-get install sudo) and give ${who} a rule for ${c.user}, or set "privilege": { "method": "none" } when ${who} owns the install.`,
      };
    case 'forbidden':
      return {
        message: `The sudoers rules on node ${c.node} do not let ${who} run ${c.what} as ${c.user}.${said}`,
        hint: `Ask the node's administrator for a rule that lets ${who} run /bin/sh as ${c.user} (sudo -l -U ${who} shows what it may do now).`,
      };
    case 'not-in-sudoers':
      return {
        message: `${who} may not use sudo on node ${c.node} (needed to run ${c.what} as ${c.user}).${said}`,
        hint: `Ask the node's administrator to give ${who} a sudoers rule for ${c.user}, or connect as a user that has one.`,
      };
    case 'unknown-user':
      return {
        message: `There is no user ${c.user} on node ${c.node} to run ${c.what} as.${said}`,
        hint: 'Fix "installOwner" in the cluster file: it must be the OS user that owns the install on that node.',
      };
    case 'other':
      return {
        message: `sudo on node ${c.node} did not run ${c.what} as ${c.user}.${said}`,
        hint: `Run sudo -u ${c.user} true on ${c.node} as ${who} to see why.`,
      };
  }
}
